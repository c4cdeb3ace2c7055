import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import StreamCore
import StreamKafka
import StreamPipeline
import KafkaRuntime
import StreamOps
import StreamJobs
import Synchronization

struct BenchScore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "POST /score under wrk on loopback, and what the HTTP load costs the stream's learning.",
        discussion: """
            A scoring job (the `run` benchmark's configuration) learns N events and their late labels from an \
            embedded broker with its ops endpoint on 127.0.0.1: (1) alone, timed as `run` times it; (2) again on \
            fresh topics while wrk posts one event per request to /score for --seconds; then (3) wrk alone against \
            the learned model. Needs wrk (Debian's package).

            Examples:
              make bench-score
              streamlearn-bench score --events 100000 --connections 32 --json
            """
    )

    @Option(help: "Events learned in each run (each has a label message too).")
    var events: Int = 200_000

    @Option(help: "Partitions of the events topic (the labels topic has half as many).")
    var partitions: Int = 16

    @Option(help: "Seconds of each wrk run.")
    var seconds: Int = 10

    @Option(help: "wrk's open connections.")
    var connections: Int = 32

    @Option(help: "wrk's threads.")
    var threads: Int = 1

    @Option(help: "The wrk executable.")
    var wrk: String = "wrk"

    @Option(help: "nginx (Debian's nginx-light), run with one worker returning a constant JSON answer to the same wrk: the HTTP baseline ('off': none; skipped when not installed).")
    var nginx: String = "/usr/sbin/nginx"

    @Flag(help: "Print one JSON object.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard events >= 1000 else { throw ValidationError("--events must be at least 1000, got \(events)") }
        guard partitions >= 2 else { throw ValidationError("--partitions must be at least 2, got \(partitions)") }
        guard seconds >= 1, connections >= 1, threads >= 1 else { throw ValidationError("--seconds, --connections and --threads must be positive") }
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        let result = try await measure(logger: logger)
        try Output.figures(result, json: json)
    }

    /// One request's body: an event of the stream's 20 features.
    static let probe: String = {
        let (events, _) = BenchRun.stream(count: 1, seed: 11)
        return events[0]
    }()

    func measure(logger: Logger) async throws -> [String: Double] {
        let labelPartitions = max(partitions / 2, 1)
        var topics: [(name: String, partitions: Int)] = []
        for name in ["alone", "loaded", "after"] {
            topics += [
                ("\(name)-events", partitions), ("\(name)-labels", labelPartitions), ("\(name)-scores", partitions),
                ("\(name)-alerts", 1), ("\(name)-dead", 1),
            ]
        }
        let broker = try EmbeddedBroker(topics: topics, logger: logger)
        defer { broker.close() }
        let bootstrap = broker.bootstrapServers
        let (events, labels) = BenchRun.stream(count: self.events, seed: 7)
        for name in ["alone", "loaded", "after"] {
            try BenchRun.produce(bootstrap, events: events, labels: labels, partitions: partitions, prefix: name)
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bench-score-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var result: [String: Double] = ["events": Double(self.events), "connections": Double(connections)]

        // 1. Learning alone.
        let alone = try runtime(name: "alone", directory: scratch.appendingPathComponent("alone").path, bootstrap: bootstrap, logger: logger)
        let aloneSummary = try await runOnDedicatedThread { try alone.run() }
        result["learn_alone_messages_per_second"] = (Double(aloneSummary.messages) / aloneSummary.busy.seconds).rounded()

        // 2. Learning while wrk posts to /score; 3. wrk alone against the learned model.
        let loaded = try runtime(
            name: "loaded", directory: scratch.appendingPathComponent("loaded").path, bootstrap: bootstrap, logger: logger, idle: nil)
        let bound = Mutex<String?>(nil)
        let endpoint = OpsEndpoint(address: OpsAddress("127.0.0.1:0")!, runtime: loaded, logger: logger) { address in
            bound.withLock { $0 = address }
        }
        let group = ServiceGroup(services: [endpoint.service()], logger: logger)
        let server = Task { try await group.run() }
        while bound.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(20)) }
        let url = "http://\(bound.withLock { $0 }!)/score"
        let script = scratch.appendingPathComponent("score.lua")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let body = Self.probe.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
        try "wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\nwrk.body = '\(body)'\n"
            .write(to: script, atomically: true, encoding: .utf8)

        let learning = Task.detached { try await runOnDedicatedThread { try loaded.run() } }
        let underLoad = try await runWrk(url: url, script: script.path)
        // The stream is learned by now (checked below); the job stays up, idle, for wrk alone.
        let idle = try await runWrk(url: url, script: script.path)
        loaded.requestStop()
        let loadedSummary = try await learning.value
        guard loadedSummary.messages == 2 * self.events, loadedSummary.busy < .seconds(seconds) else {
            throw ValidationError("the loaded run learned \(loadedSummary.messages) messages in \(loadedSummary.busy), not all within the first wrk run")
        }
        result["learn_under_http_messages_per_second"] = (Double(loadedSummary.messages) / loadedSummary.busy.seconds).rounded()
        // Learning alone once more, after: the order of runs in one process moves the figures too.
        let after = try runtime(name: "after", directory: scratch.appendingPathComponent("after").path, bootstrap: bootstrap, logger: logger)
        let afterSummary = try await runOnDedicatedThread { try after.run() }
        result["learn_alone_after_messages_per_second"] = (Double(afterSummary.messages) / afterSummary.busy.seconds).rounded()
        let meanAlone = (result["learn_alone_messages_per_second"]! + result["learn_alone_after_messages_per_second"]!) / 2
        result["learn_under_http_of_alone"] = result["learn_under_http_messages_per_second"]! / meanAlone
        for (key, value) in underLoad { result["http_while_learning_\(key)"] = value }
        for (key, value) in idle { result["http_alone_\(key)"] = value }
        await group.triggerGracefulShutdown()
        _ = await server.result

        // 4. The baseline: nginx, one worker, a constant JSON answer, the same wrk on the same cores.
        if nginx != "off" && FileManager.default.isExecutableFile(atPath: nginx) {
            for (key, value) in try await runNginx(directory: scratch.appendingPathComponent("nginx"), script: script.path) {
                result["nginx_\(key)"] = value
            }
            if let nginxRate = result["nginx_requests_per_second"], nginxRate > 0 {
                result["http_alone_of_nginx"] = (result["http_alone_requests_per_second"] ?? 0) / nginxRate
            }
        }
        return result
    }

    /// nginx with one worker answering every request with a constant score, under the same wrk.
    func runNginx(directory: URL, script: String) async throws -> [String: Double] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try Self.freePort()
        let answer = #"{"id":"1","score":0.5,"decision":false,"model_version":1}"#
        let configuration = """
            worker_processes 1;
            daemon off;
            pid \(directory.path)/nginx.pid;
            error_log \(directory.path)/error.log;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path \(directory.path)/body;
                proxy_temp_path \(directory.path)/proxy;
                fastcgi_temp_path \(directory.path)/fastcgi;
                uwsgi_temp_path \(directory.path)/uwsgi;
                scgi_temp_path \(directory.path)/scgi;
                server {
                    listen 127.0.0.1:\(port);
                    location /score { default_type application/json; return 200 '\(answer)'; }
                }
            }
            """
        let file = directory.appendingPathComponent("nginx.conf")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: nginx)
        process.arguments = ["-p", directory.path, "-c", file.path]
        process.standardError = FileHandle.standardError
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while !Self.listening(port: port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw ValidationError("nginx did not listen on 127.0.0.1:\(port) (see \(directory.path)/error.log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await runWrk(url: "http://127.0.0.1:\(port)/score", script: script)
    }

    /// A loopback port nothing listens on now.
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ValidationError("no socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw ValidationError("no free port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts connections on the loopback port.
    static func listening(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    func runtime(name: String, directory: String, bootstrap: String, logger: Logger, idle: Duration? = .seconds(2)) throws -> StreamRuntime {
        let configuration = try RuntimeConfiguration.parse(yaml: BenchRun.configuration(
            name: name, mode: "at-least-once", directory: directory, events: "\(name)-events", labels: "\(name)-labels"))
        var options = StreamRuntime.Options()
        options.exitWhenIdle = idle
        return StreamRuntime(configuration: configuration, brokers: bootstrap, options: options, logger: logger)
    }

    /// Runs wrk; its requests/s, latency percentiles (µs) and non-2xx count.
    func runWrk(url: String, script: String) async throws -> [String: Double] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [wrk, "-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", script, url]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        let data = try await runOnDedicatedThread { output.fileHandleForReading.readDataToEndOfFile() }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("wrk exited with \(process.terminationStatus)") }
        return Self.parseWrk(String(decoding: data, as: UTF8.self))
    }

    /// Reads wrk's `--latency` report.
    static func parseWrk(_ text: String) -> [String: Double] {
        var result: [String: Double] = [:]
        func microseconds(_ token: Substring) -> Double? {
            for (unit, scale) in [("us", 1.0), ("ms", 1_000.0), ("s", 1_000_000.0)] where token.hasSuffix(unit) {
                return Double(token.dropLast(unit.count)).map { $0 * scale }
            }
            return nil
        }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.first == "Requests/sec:", let rate = fields.last.flatMap({ Double($0) }) {
                result["requests_per_second"] = rate.rounded()
            } else if fields.count == 2, ["50%", "90%", "99%"].contains(fields[0]), let value = microseconds(fields[1]) {
                result["latency_us_p\(fields[0].dropLast())"] = value
            } else if line.contains("Non-2xx or 3xx responses:"), let count = fields.last.flatMap({ Double($0) }) {
                result["non_2xx"] = count
            } else if fields.count >= 4, fields[1] == "requests", fields[2] == "in", let count = Double(fields[0]) {
                result["requests"] = count
            }
        }
        if result["non_2xx"] == nil { result["non_2xx"] = 0 }
        return result
    }
}
