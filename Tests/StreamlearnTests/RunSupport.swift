import Foundation
import OnlineLearning
import StreamKafka
import Testing

/// A `streamlearn run` subprocess that a test can kill (SIGKILL), stop (SIGTERM) or wait for.
final class RunProcess {
    let process = Process()
    private let stdout: CLI.Reader
    private let stderr: CLI.Reader

    /// `directory`: the job's working directory (where a relative `snapshots.directory` lands).
    init(_ arguments: [String], directory: URL? = nil) throws {
        process.executableURL = CLI.executable
        if let directory { process.currentDirectoryURL = directory }
        // Tests run jobs side by side: each on a port of its own unless the test names one.
        process.arguments = ["run"] + arguments + (arguments.contains("--ops-address") ? [] : ["--ops-address", "127.0.0.1:0"])
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        stdout = CLI.Reader(out.fileHandleForReading)
        stderr = CLI.Reader(err.fileHandleForReading)
    }

    /// The ops endpoint's address, from the line the job writes once it listens.
    func opsEndpoint(timeout: Duration = .seconds(60)) -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline && process.isRunning {
            if let line = stderr.partial.split(separator: "\n").first(where: { $0.hasPrefix("ops endpoint: ") }) {
                return String(line.dropFirst("ops endpoint: ".count))
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }

    /// What the job wrote to stderr so far.
    var stderrSoFar: String { stderr.partial }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Waits for the exit (killed after `timeout`, which fails the test); returns status, stdout and stderr.
    func wait(timeout: Duration = .seconds(180), signal: Int32? = nil) -> CLI.Result {
        if let signal { kill(process.processIdentifier, signal) }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill(process.processIdentifier, SIGKILL)
                Issue.record("streamlearn run did not finish within \(timeout)")
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.waitUntilExit()
        return CLI.Result(status: process.terminationStatus, stdout: stdout.text(), stderr: stderr.text())
    }

    /// Runs to completion: `run CONFIG --brokers B --exit-when-idle IDLE`.
    static func toIdle(_ config: String, brokers: String, idle: Double = 1.5) throws -> CLI.Result {
        try RunProcess([config, "--brokers", brokers, "--exit-when-idle", "\(idle)", "--json"]).wait()
    }
}

enum Topics {
    /// Produces `lines` to `topic`, keyed by their `id` (when they have one), and flushes.
    static func produce(
        _ broker: EmbeddedBroker, _ topic: String, _ lines: [String], headers: [KafkaHeader] = [],
        partition: Int32? = nil
    ) throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers))
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let key = object?["id"].map { "\($0)" }
            try producer.send(
                topic: topic, partition: partition, key: key.map { Array($0.utf8) }, value: Array(line.utf8),
                headers: headers)
        }
        try producer.close(timeout: .seconds(30))
    }

    /// The scores on `topic` (`read_committed`) by event id: each one's score, decision and model version.
    static func scores(_ broker: EmbeddedBroker, _ topic: String) throws -> [String: [String]] {
        var byID: [String: [String]] = [:]
        for object in Topics.objects(try Topics.read(broker, topic)) {
            let id = object["id"] as? String ?? ""
            byID[id, default: []].append("\(object["score"]!) \(object["decision"]!) \(object["model_version"]!)")
        }
        return byID
    }

    /// Every message of `topic` as a `read_committed` consumer sees it, partition by partition.
    static func read(_ broker: EmbeddedBroker, _ topic: String, committed: Bool = true) throws -> [KafkaMessage] {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "reader-\(UUID())")
        configuration.properties["isolation.level"] = committed ? "read_committed" : "read_uncommitted"
        let consumer = try KafkaConsumer(configuration: configuration)
        defer { try? consumer.close() }
        let count = try consumer.partitionCount(topic: topic)
        var ends: [Int32: Int64] = [:]
        var starts: [TopicPartitionOffset] = []
        for partition in 0..<Int32(count) {
            let (low, high) = try consumer.watermarks(topic: topic, partition: partition)
            if high > low {
                ends[partition] = high
                starts.append(TopicPartitionOffset(topic, partition, offset: low))
            }
        }
        guard !starts.isEmpty else { return [] }
        try consumer.assign(starts)
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while !ends.isEmpty && ContinuousClock.now < deadline {
            messages += try consumer.poll(timeout: .milliseconds(100))
            for (partition, end) in ends where (consumer.position(topic: topic, partition: partition) ?? 0) >= end {
                ends[partition] = nil
            }
        }
        #expect(ends.isEmpty, "\(topic) not read to its end")
        return messages
    }

    static func objects(_ messages: [KafkaMessage]) -> [[String: Any]] {
        messages.compactMap { try? JSONSerialization.jsonObject(with: Data($0.value)) as? [String: Any] }
    }
}

enum RunFiles {
    static func directory(_ name: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    static func write(_ text: String, to directory: URL, _ name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The newest snapshot's payload (the job's state) in a store directory.
    static func newestPayload(_ directory: String) throws -> SnapshotStore.Entry {
        let store = try SnapshotStore(directory: directory)
        return try #require(store.newestGood().entry, "no snapshot in \(directory)")
    }

    static func summary(_ result: CLI.Result) -> [String: Any] {
        let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
    }
}
