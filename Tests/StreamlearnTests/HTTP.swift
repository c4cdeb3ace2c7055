import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Blocking HTTP requests for tests (Foundation's client).
enum HTTP {
    struct Answer {
        var status: Int
        var body: String
    }

    static func request(_ url: String, method: String = "GET", body: String? = nil, contentType: String? = nil) -> Answer? {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        request.httpBody = body.map { Data($0.utf8) }
        request.timeoutInterval = 10
        let answer = Mutex<Answer?>(nil)
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, _ in
            if let response = response as? HTTPURLResponse {
                answer.withLock { $0 = Answer(status: response.statusCode, body: String(decoding: data ?? Data(), as: UTF8.self)) }
            }
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 15)
        return answer.withLock { $0 }
    }
}
