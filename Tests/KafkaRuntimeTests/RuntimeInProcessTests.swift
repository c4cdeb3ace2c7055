import Foundation
import KafkaRuntime
import Logging
import OnlineLearning
import Simulation
import StreamJobs
import StreamKafka
import StreamPipeline
import Synchronization
import Testing

/// The runtime's loop, tasks, snapshots and recovery inside the test process, on an embedded broker (the
/// subprocess tests of `streamlearn run` cover signals, SIGKILL and exit codes).
@Suite("The runtime in process", .serialized)
struct RuntimeInProcessTests {
    static func lines(events: Int, seed: UInt64) -> [String] {
        var configuration = FraudStreamGenerator.Configuration()
        configuration.seed = seed
        configuration.labelDelay = 50
        var generator = FraudStreamGenerator(configuration: configuration)
        var lines: [String] = []
        for _ in 0..<events { lines += generator.next() }
        return lines + generator.finish()
    }

    /// Sends `lines`, keyed by their `id` when `keyed` (an inline label then goes to its event's partition), with
    /// the given timestamps, if any.
    static func produce(
        _ broker: EmbeddedBroker, _ topic: String, _ lines: [String], keyed: Bool = false, timestamps: [Int64]? = nil
    ) throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers))
        for (index, line) in lines.enumerated() {
            let object = keyed ? try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] : nil
            let key = object?["id"].map { Array("\($0)".utf8) }
            try producer.send(topic: topic, key: key, value: Array(line.utf8), timestampMilliseconds: timestamps?[index])
        }
        _ = try producer.close(timeout: .seconds(30))
    }

    /// A scoring job built in code (no YAML): inline labels, snapshots every 400 messages.
    static func configuration(name: String, scores: String, directory: URL) -> RuntimeConfiguration {
        var pipeline = LearningPipelineConfiguration()
        pipeline.detectors.scorePSIWindow = 500
        pipeline.detectors.f1Window = 300
        var configuration = RuntimeConfiguration(
            job: .scoring(.init(pipeline: pipeline)), name: name, kafka: .init(group: "streamlearn-\(name)"),
            topics: .init(events: "ip-events", outputs: scores, deadLetter: "ip-dead"),
            snapshots: .init(directory: directory.appendingPathComponent(name).path))
        configuration.output.commitInterval = .milliseconds(20)
        configuration.snapshots.everyMessages = 400
        configuration.ops.address = nil
        return configuration
    }

    static func run(
        _ configuration: RuntimeConfiguration, broker: EmbeddedBroker, stopAfter: Int? = nil
    ) throws -> StreamRuntime.Summary {
        var options = StreamRuntime.Options()
        options.exitWhenIdle = .seconds(1)
        let runtime = StreamRuntime(
            configuration: configuration, brokers: broker.bootstrapServers, options: options,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        if let stopAfter { runtime.requestStop(afterMessages: stopAfter) }
        return try runtime.run()
    }

    static func newestPayload(_ directory: String) throws -> Data {
        let newest = try #require(SnapshotStore(directory: directory).files().first)
        return try SnapshotStore.read(newest).payload
    }

    @Test("A job that stops mid-stream and starts again from its snapshot ends with the model of one uninterrupted run, bit for bit, every event answered once; snapshots written off the loop are counted")
    func stopAndResume() throws {
        let broker = try EmbeddedBroker(topics: [("ip-events", 1), ("ip-ref", 1), ("ip-resumed", 1), ("ip-dead", 1)])
        defer { broker.close() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runtime-in-process-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = Self.lines(events: 2_000, seed: 3)
        let resumed = Self.configuration(name: "resumed", scores: "ip-resumed", directory: directory)

        // The first part of the stream, to its end (a shutdown snapshot), then the rest from that snapshot.
        try Self.produce(broker, "ip-events", Array(lines[..<1_111]))
        let first = try Self.run(resumed, broker: broker)
        #expect(first.messages == 1_111 && first.restoredFrom == nil)
        #expect(first.snapshots >= 1)
        let store = try SnapshotStore(directory: resumed.snapshots.directory)
        #expect(store.files().count == min(first.snapshots, resumed.snapshots.keep), "every snapshot counted is on disk")
        try Self.produce(broker, "ip-events", Array(lines[1_111...]))
        let second = try Self.run(resumed, broker: broker)
        #expect(second.restoredFrom != nil)
        #expect(second.messages == lines.count - 1_111, "the second run starts where the first stopped")
        #expect(first.answered + second.answered == 2_000, "one score per event")

        let whole = try Self.run(Self.configuration(name: "ref", scores: "ip-ref", directory: directory), broker: broker)
        #expect(whole.messages == lines.count && whole.answered == 2_000)
        #expect(whole.transactions > 0 && whole.deadLetters.isEmpty)
        #expect(
            try Self.newestPayload(resumed.snapshots.directory)
                == Self.newestPayload(directory.appendingPathComponent("ref").path),
            "the resumed model differs from the uninterrupted one")
    }

    /// A runtime on its own thread, as `streamlearn run` has it.
    final class Running: Sendable {
        let runtime: StreamRuntime
        private let outcome = Mutex<Result<StreamRuntime.Summary, RuntimeError>?>(nil)
        private let finished = DispatchSemaphore(value: 0)

        init(_ configuration: RuntimeConfiguration, broker: EmbeddedBroker) {
            runtime = StreamRuntime(
                configuration: configuration, brokers: broker.bootstrapServers,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            Thread { [self] in execute() }.start()
        }

        private func execute() {
            let result: Result<StreamRuntime.Summary, RuntimeError>
            do throws(RuntimeError) { result = .success(try runtime.run()) } catch { result = .failure(error) }
            outcome.withLock { $0 = result }
            finished.signal()
        }

        /// Per task it holds: the next offset of its events partition (from `/model`).
        var positions: [Int: Int] {
            guard let object = try? JSONSerialization.jsonObject(with: Data(runtime.status.modelDocument)) as? [String: Any]
            else { return [:] }
            var result: [Int: Int] = [:]
            for task in object["tasks"] as? [[String: Any]] ?? [] {
                let partitions = task["partitions"] as? [[String: Any]] ?? []
                result[task["task"] as? Int ?? -1] = partitions.first?["next_offset"] as? Int
            }
            return result
        }

        /// Waits until `condition` holds (up to `seconds`); whether it did.
        func wait(seconds: Int, until condition: ([Int: Int]) -> Bool) -> Bool {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < deadline {
                if condition(positions) { return true }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return false
        }

        func stop() throws -> StreamRuntime.Summary {
            runtime.requestStop()
            finished.wait()
            return try outcome.withLock { $0! }.get()
        }
    }

    /// The scores on `topic` (`read_committed`): how many times each id was scored.
    static func scoreCounts(_ broker: EmbeddedBroker, _ topic: String, partitions: Int) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for object in try scores(broker, topic, partitions: partitions) { counts["\(object["id"] ?? "")", default: 0] += 1 }
        return counts
    }

    /// The score messages on `topic` (`read_committed`).
    static func scores(_ broker: EmbeddedBroker, _ topic: String, partitions: Int) throws -> [[String: Any]] {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "reader-\(topic)")
        configuration.properties["isolation.level"] = "read_committed"
        let consumer = try KafkaConsumer(configuration: configuration)
        defer { try? consumer.close() }
        var ends: [Int32: Int64] = [:]
        for partition in 0..<Int32(partitions) { ends[partition] = try consumer.watermarks(topic: topic, partition: partition).high }
        try consumer.assign((0..<Int32(partitions)).map { TopicPartitionOffset(topic, $0, offset: 0) })
        var scores: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline,
            ends.contains(where: { (consumer.position(topic: topic, partition: $0.key) ?? 0) < $0.value })
        {
            for message in try consumer.poll(timeout: .milliseconds(100)) {
                if let object = try JSONSerialization.jsonObject(with: Data(message.value)) as? [String: Any] {
                    scores.append(object)
                }
            }
        }
        return scores
    }

    @Test("A second instance joins the group: the first hands one task over (a handover snapshot, nothing re-learned), each event is scored once, and each task ends bit-identical to one instance's uninterrupted run")
    func handover() throws {
        let broker = try EmbeddedBroker(topics: [
            ("ip-events", 2), ("ip-shared", 2), ("ip-ref", 2), ("ip-dead", 1),
        ])
        defer { broker.close() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runtime-handover-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let events = 3_000
        let lines = Self.lines(events: events, seed: 8)
        func grouped(_ name: String, _ scores: String) -> RuntimeConfiguration {
            var configuration = Self.configuration(name: name, scores: scores, directory: directory)
            configuration.kafka.assignment = .group
            configuration.snapshots.everyMessages = 100_000
            return configuration
        }
        let shared = grouped("shared", "ip-shared")

        // The first instance alone holds both tasks and reads the first half.
        let half = lines.count / 2
        try Self.produce(broker, "ip-events", Array(lines[..<half]), keyed: true)
        let first = Running(shared, broker: broker)
        let firstHalfRead = first.wait(seconds: 60) { positions in
            positions.count == 2 && positions.values.reduce(0, +) == half
        }
        #expect(firstHalfRead, "first instance: \(first.positions)")

        // The second joins: the group gives it one task, which the first hands over.
        let second = Running(shared, broker: broker)
        let split = second.wait(seconds: 60) { $0.count == 1 } && first.wait(seconds: 30) { $0.count == 1 }
        #expect(split, "tasks: \(first.positions) and \(second.positions)")
        try Self.produce(broker, "ip-events", Array(lines[half...]), keyed: true)
        let allRead = first.wait(seconds: 60) { _ in
            first.positions.values.reduce(0, +) + second.positions.values.reduce(0, +) == lines.count
        }
        #expect(allRead, "tasks: \(first.positions) and \(second.positions)")
        let firstSummary = try first.stop()
        let secondSummary = try second.stop()
        #expect(firstSummary.tasks == [0, 1], "the first held both tasks, then one")
        #expect(secondSummary.tasks.count == 1 && secondSummary.restoredFrom != nil, "the second loaded the handover snapshot")
        #expect(firstSummary.relearned == 0 && secondSummary.relearned == 0, "a clean handover re-learns nothing")
        #expect(firstSummary.messages + secondSummary.messages == lines.count)
        #expect(firstSummary.answered + secondSummary.answered == events)

        // One instance alone over the same partitions: the reference for both tasks.
        let reference = Running(grouped("ref", "ip-ref"), broker: broker)
        #expect(reference.wait(seconds: 60) { $0.values.reduce(0, +) == lines.count })
        _ = try reference.stop()
        for task in 0..<2 {
            #expect(
                try Self.newestPayload(directory.appendingPathComponent("shared/p\(task)").path)
                    == Self.newestPayload(directory.appendingPathComponent("ref/p\(task)").path),
                "task \(task) differs from the reference")
        }
        let sharedScores = try Self.scoreCounts(broker, "ip-shared", partitions: 2)
        #expect(sharedScores.count == events && sharedScores.values.allSatisfy { $0 == 1 }, "each event scored once")
        #expect(try Self.scoreCounts(broker, "ip-ref", partitions: 2).count == events)
    }

    @Test("A stream spread over four partitions with its labels on two more is read in timestamp order: each event is scored after exactly the labels produced before it, and a run stopped part way and resumed ends with the uninterrupted run's model, bit for bit")
    func partitionsReadInTimestampOrder() throws {
        let broker = try EmbeddedBroker(topics: [("ip-events", 4), ("ip-labels", 2), ("ip-a", 4), ("ip-b", 4), ("ip-dead", 1)])
        defer { broker.close() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runtime-order-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = Self.lines(events: 6_000, seed: 12)
        // A millisecond apart, in the generator's order: labels 50 events late.
        let isEvent: (String) -> Bool = { $0.contains("\"amount\"") }
        let start = Int64(Date().timeIntervalSince1970 * 1000) - Int64(lines.count)
        let stamped = lines.indices.map { (line: lines[$0], timestamp: start + Int64($0)) }
        let events = stamped.filter { isEvent($0.line) }
        let labels = stamped.filter { !isEvent($0.line) }
        try Self.produce(broker, "ip-events", events.map(\.line), keyed: true, timestamps: events.map(\.timestamp))
        try Self.produce(broker, "ip-labels", labels.map(\.line), keyed: true, timestamps: labels.map(\.timestamp))
        // In that order, event i is scored by a model that learned the labels produced before it.
        var expectedVersions: [String: Int] = [:]
        var labelsBefore = 0
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if isEvent(line) { expectedVersions["\(object["id"] ?? "")"] = labelsBefore } else { labelsBefore += 1 }
        }
        func configuration(_ name: String) -> RuntimeConfiguration {
            var configuration = Self.configuration(name: name, scores: "ip-\(name)", directory: directory)
            configuration.topics.feedback = "ip-labels"
            return configuration
        }
        let a = try Self.run(configuration("a"), broker: broker)
        #expect(a.messages == lines.count && a.answered == 6_000)
        // The second run stops after its first read (a shutdown snapshot, events waiting for their labels in it) and
        // resumes.
        let first = try Self.run(configuration("b"), broker: broker, stopAfter: 1)
        let rest = try Self.run(configuration("b"), broker: broker)
        #expect(first.messages < lines.count && first.messages + rest.messages == lines.count)
        #expect(first.answered + rest.answered == 6_000)
        #expect(
            try Self.newestPayload(directory.appendingPathComponent("a").path)
                == Self.newestPayload(directory.appendingPathComponent("b").path),
            "the resumed run's model differs from the uninterrupted one's")
        var versions: [String: Int] = [:]
        for score in try Self.scores(broker, "ip-a", partitions: 4) { versions["\(score["id"] ?? "")"] = score["model_version"] as? Int }
        let misordered = expectedVersions.filter { versions[$0.key] != $0.value }
        #expect(versions.count == 6_000 && misordered.isEmpty, "\(misordered.count) events scored out of order, e.g. \(misordered.first.map { "\($0.key): \(versions[$0.key] ?? -1), expected \($0.value)" } ?? "")")
    }
}
