import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A real HTTP/1.1 server on loopback that records every request's body with when it arrived (Alertmanager's
/// `POST /api/v2/alerts`, say) and answers 200. It serves on a thread of its own, one connection at a time, so it
/// never waits for Swift's cooperative threads (which blocking tests may hold). Runs until ``stop()``.
final class HTTPRecorder: Sendable {
    struct Post: Sendable {
        var path: String
        var body: [UInt8]
        var at: ContinuousClock.Instant
        var date: Date

        /// The body as Alertmanager's array of alerts.
        var alerts: [[String: Any]] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]] ?? [] }
    }

    private let posts = Mutex<[Post]>([])
    private let stopped = Atomic<Bool>(false)
    private let socket: Int32
    let port: Int

    init() throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.socket = socket
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(socket, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in serve() }
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    var received: [Post] { posts.withLock { $0 } }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(socket, Int32(SHUT_RDWR))
        close(socket)
    }

    private func serve() {
        while !stopped.load(ordering: .relaxed) {
            let connection = accept(socket, nil, nil)
            guard connection >= 0 else { return }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            // Requests on a kept-alive connection, one after another.
            while true {
                guard let end = Self.headerEnd(buffer) else {
                    let count = read(connection, &chunk, chunk.count)
                    if count <= 0 { break }
                    buffer += chunk[0..<count]
                    continue
                }
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                let lines = head.split(separator: "\r\n")
                let path = lines.first?.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                let length = lines.compactMap { line -> Int? in
                    let parts = line.split(separator: ":", maxSplits: 1)
                    return parts.count == 2 && parts[0].lowercased() == "content-length"
                        ? Int(parts[1].trimmingCharacters(in: .whitespaces)) : nil
                }.first ?? 0
                while buffer.count < end + 4 + length {
                    let count = read(connection, &chunk, chunk.count)
                    if count <= 0 { break }
                    buffer += chunk[0..<count]
                }
                guard buffer.count >= end + 4 + length else { break }
                let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                buffer.removeFirst(end + 4 + length)
                posts.withLock { $0.append(Post(path: path, body: body, at: .now, date: Date())) }
                let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)
                _ = answer.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
            }
            close(connection)
        }
    }

    private static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// Blocking HTTP requests for tests (Foundation's client).
enum HTTP {
    struct Answer {
        var status: Int
        var body: String
    }

    static func request(_ url: String, method: String = "GET", body: String? = nil) -> Answer? {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
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
