import Foundation
import StreamKafka
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 server on loopback for tests: answers every request with `status` and keeps the bodies with
/// when they arrived. It serves on a thread of its own, so it never waits for Swift's cooperative threads.
final class RecordingHTTPServer: Sendable {
    struct Request: Sendable {
        var requestLine: String
        var body: String
        var at: ContinuousClock.Instant
        var date: Date

        /// The body as Alertmanager's array of alerts.
        var alerts: [[String: Any]] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [[String: Any]] ?? [] }
    }

    let port: UInt16
    private let socketDescriptor: Int32
    private let recorded = Mutex<[Request]>([])

    init(status: Int = 200) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        socketDescriptor = descriptor
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in
            while true {
                let connection = accept(descriptor, nil, nil)
                guard connection >= 0 else { return }
                handle(connection, status: status)
            }
        }
    }

    var requests: [Request] { recorded.withLock { $0 } }

    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    func stop() {
        shutdown(socketDescriptor, Int32(SHUT_RDWR))
        close(socketDescriptor)
    }

    private func handle(_ connection: Int32, status: Int) {
        defer { close(connection) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(connection, &buffer, buffer.count)
            guard count > 0 else { break }
            data.append(contentsOf: buffer[0..<count])
            let text = String(decoding: data, as: UTF8.self)
            guard let headerEnd = text.range(of: "\r\n\r\n") else { continue }
            let header = text[..<headerEnd.lowerBound]
            let lengthLine = header.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            let length = Int(lengthLine?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "0") ?? 0
            let bodyBytes = data.count - (text.utf8.distance(from: text.startIndex, to: headerEnd.upperBound))
            guard bodyBytes >= length else { continue }
            let body = String(text[headerEnd.upperBound...])
            let request = Request(requestLine: String(header.split(separator: "\r\n").first ?? ""), body: body, at: .now, date: Date())
            recorded.withLock { $0.append(request) }
            break
        }
        let response = "HTTP/1.1 \(status) OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        _ = response.withCString { write(connection, $0, strlen($0)) }
    }
}

/// A server on loopback that accepts connections and never answers.
final class SilentServer: @unchecked Sendable {
    let port: UInt16
    private let descriptor: Int32

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.descriptor = descriptor
        port = UInt16(bigEndian: address.sin_port)
        // The backlog holds the connections: nothing is ever read or written.
    }

    func stop() { close(descriptor) }
}

@Suite("Drift alerts reach their sinks")
struct AlertTests {
    static let stream: String = {
        (try? CLI.run(["generate", "fraud", "--events", "30000", "--seed", "8", "--drift-at", "15000", "--drift", "covariate"]).stdout) ?? ""
    }()

    static let options = ["--features", "amount", "--reference", "5000", "--window", "5000", "--step", "2500"]

    @Test("Alerts arrive on the embedded broker's alerts topic, one JSON object per state change, keyed by id")
    func kafkaOpsFeed() throws {
        let broker = try EmbeddedBroker(topics: [("ops-alerts", 1)])
        defer { broker.close() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("alerts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("alerts.jsonl").path
        let result = try CLI.run(
            ["drift", "--brokers", broker.bootstrapServers, "--alerts-topic", "ops-alerts", "--alerts-file", file,
             "--model-name", "fraud", "--model-version", "7"] + Self.options + ["-"],
            stdin: Self.stream)
        #expect(result.status == 0, "\(result.stderr)")

        var configuration = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "alerts-test")
        configuration.autoOffsetReset = .earliest
        let consumer = try KafkaConsumer(configuration: configuration)
        defer { try? consumer.close() }
        try consumer.assign([TopicPartitionOffset("ops-alerts", 0, offset: 0)])
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .seconds(20)
        // Read until a poll comes back empty after the first messages (the producer flushed every alert before
        // the command exited), or the deadline.
        while ContinuousClock.now < deadline {
            let batch = try consumer.poll(timeout: .milliseconds(500))
            if batch.isEmpty && !messages.isEmpty { break }
            messages += batch
        }
        #expect(!messages.isEmpty)
        let alerts = try messages.map { try JSONSerialization.jsonObject(with: Data($0.value)) as? [String: Any] ?? [:] }
        let first = try #require(alerts.first)
        for key in ["id", "kind", "severity", "state", "detector", "feature", "value", "threshold", "window", "model", "snapshot", "offsets"] {
            #expect(first[key] != nil, "missing \(key)")
        }
        #expect(first["kind"] as? String == "drift.psi")
        #expect(first["state"] as? String == "firing")
        #expect(first["feature"] as? String == "amount")
        #expect(first["snapshot"] is NSNull)
        #expect((first["model"] as? [String: String]) == ["name": "fraud", "version": "7"])
        let window = first["window"] as? [String: Int] ?? [:]
        #expect(window["end"]! - window["start"]! == 5_000)
        #expect(window["end"]! > 15_000 && window["end"]! <= 20_000)
        #expect(messages.first?.key.map { String(decoding: $0, as: UTF8.self) } == first["id"] as? String)
        // One episode: every message shares the id, and exactly one is the first firing.
        #expect(Set(alerts.map { $0["id"] as? String }).count == 1)
        // The file sink got the same alerts.
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == messages.count)
    }

    @Test("A dead broker or a silent Alertmanager does not hold the stream: every alert lands in the file, exit 1")
    func stalledSinks() throws {
        let silent = try SilentServer()
        defer { silent.stop() }
        // Five features' alerts, each of which would have waited 3 × the timeout on the learning thread.
        let options = ["--features", "amount,hour,distance_km,country,device", "--reference", "5000", "--window", "5000",
                       "--step", "2500", "--alert-timeout", "2"]
        for sink in [["--brokers", "127.0.0.1:9", "--alerts-topic", "ops"], ["--alertmanager", "http://127.0.0.1:\(silent.port)"]] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("stalled-\(UUID().uuidString).jsonl").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            let result = try CLI.run(["drift", "--json", "--alerts-file", file] + sink + options + ["-"], stdin: Self.stream, timeout: .seconds(60))
            #expect(result.status == 1, "\(sink): \(result.stderr)")
            #expect(result.stderr.contains("not delivered in time"), "\(sink)")
            let filed = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
            #expect(filed.count >= 5, "\(sink)")
            #expect(Set(filed).count == filed.count, "\(sink): an alert was filed twice")
        }
        #expect(try CLI.run(["drift", "--alert-timeout", "0", "-"]).status == 64)
    }

    @Test("Alerts are posted to Alertmanager's v2 API; a sink that keeps failing is retried, then falls back to the file")
    func alertmanager() throws {
        let server = try RecordingHTTPServer()
        defer { server.stop() }
        let result = try CLI.run(
            ["drift", "--alertmanager", "http://127.0.0.1:\(server.port)", "--model-name", "fraud"] + Self.options + ["-"],
            stdin: Self.stream)
        #expect(result.status == 0, "\(result.stderr)")
        let requests = server.requests
        #expect(!requests.isEmpty)
        #expect(requests.first?.requestLine == "POST /api/v2/alerts HTTP/1.1")
        let body = try JSONSerialization.jsonObject(with: Data(requests.first!.body.utf8)) as? [[String: Any]] ?? []
        #expect(body.count == 1)
        let labels = body.first?["labels"] as? [String: String] ?? [:]
        #expect(labels["alertname"] == "drift.psi")
        #expect(labels["feature"] == "amount")
        #expect(labels["model"] == "fraud")
        #expect(["warning", "critical"].contains(labels["severity"] ?? ""))
        #expect(body.first?["startsAt"] is String)
        #expect(body.first?["annotations"] is [String: String])

        // A failing Alertmanager: 503 on every attempt. Alerts are not lost: they land in the file, exit 1.
        let failing = try RecordingHTTPServer(status: 503)
        defer { failing.stop() }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fallback-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let refused = try CLI.run(
            ["drift", "--alertmanager", "http://127.0.0.1:\(failing.port)", "--alerts-file", file] + Self.options + ["-"],
            stdin: Self.stream)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("alert deliveries failed after retries"))
        let alerts = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(!alerts.isEmpty)
        #expect(failing.requests.count == 3 * alerts.count)  // each alert: 3 attempts, and in the file once
    }
}
