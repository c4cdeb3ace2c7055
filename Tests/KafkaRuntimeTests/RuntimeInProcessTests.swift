import Foundation
import KafkaRuntime
import Logging
import OnlineLearning
import Simulation
import StreamJobs
import StreamKafka
import StreamPipeline
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

    static func produce(_ broker: EmbeddedBroker, _ topic: String, _ lines: [String]) throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers))
        for line in lines { try producer.send(topic: topic, key: nil, value: Array(line.utf8)) }
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
}
