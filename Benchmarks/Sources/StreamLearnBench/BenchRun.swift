import ArgumentParser
import Foundation
import Histogram
import Logging
import Simulation
import StreamCore
import StreamKafka
import StreamPipeline
import KafkaRuntime
import StreamJobs
import Synchronization

struct BenchRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "The runtime end to end on an embedded broker: events/s against the transport floor, and latency.",
        discussion: """
            Throughput: N events of 20 numeric features (the logistic stream) and their labels, 500 events late on \
            a labels topic, are produced first, in that order (each label right after the event 500 later); then, timed from the first message to the last: (1) the transport \
            floor — the same messages consumed and one output produced per event, nothing learned; (2) the \
            runtime's scoring job — decode, score, score produced, label join, learn, PSI on the 20 inputs and the \
            score, rolling F1 — in each output mode.

            Latency: events produced at --rate per second for --seconds while the job runs; the score messages' \
            latency_us (from the poll that received the event to the score's send) in an HDR histogram.

            Examples:
              make bench-run
              streamlearn-bench run --events 200000 --rate 50000 --seconds 10 --json
            """
    )

    @Option(help: "Events in the throughput run (each has a label message too).")
    var events: Int = 200_000

    @Option(help: "Partitions of the events topic (the labels topic has half as many).")
    var partitions: Int = 16

    @Option(help: "Events per second in the latency run.")
    var rate: Int = 50_000

    @Option(help: "Seconds of the latency run.")
    var seconds: Int = 10

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: "Skip the latency runs.")
    var noLatency = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard events >= 1000 else { throw ValidationError("--events must be at least 1000, got \(events)") }
        guard partitions >= 2 else { throw ValidationError("--partitions must be at least 2, got \(partitions)") }
        guard rate >= 1, seconds >= 1 else { throw ValidationError("--rate and --seconds must be positive") }
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        let result = try await runOnDedicatedThread { [self] in try measure(logger: logger) }
        try Output.figures(result, json: json)
    }

    /// Events and their labels, 500 events late, as JSON lines.
    static func stream(count: Int, seed: UInt64) -> (events: [String], labels: [String]) {
        var generator = LogisticStreamGenerator(seed: seed)
        var events: [String] = []
        var labels: [String] = []
        events.reserveCapacity(count)
        labels.reserveCapacity(count)
        for _ in 0..<count {
            let (line, _, label) = generator.next()
            let id = generator.nextID - 1
            events.append(line.replacingOccurrences(of: ",\"label\":\(label ? 1 : 0)}", with: "}"))
            labels.append("{\"id\":\(id),\"label\":\(label ? 1 : 0)}")
        }
        return (events, labels)
    }

    /// Events round-robin over `partitions` and each label right after the event 500 later (over half as many
    /// partitions), in one producer: the order, and so the timestamps, of a stream whose labels come 500 late.
    static func produce(
        _ bootstrap: String, events: [String], labels: [String], partitions: Int, prefix: String = "bench"
    ) throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap))
        let labelPartitions = max(partitions / 2, 1)
        func label(_ index: Int) throws {
            try producer.send(
                topic: "\(prefix)-labels", partition: Int32(index % labelPartitions), key: nil, value: Array(labels[index].utf8))
        }
        for (index, line) in events.enumerated() {
            try producer.send(
                topic: "\(prefix)-events", partition: Int32(index % partitions), key: nil, value: Array(line.utf8))
            if index >= 500 { try label(index - 500) }
        }
        for index in max(0, events.count - 500)..<labels.count { try label(index) }
        try producer.close(timeout: .seconds(60))
    }

    static func configuration(name: String, mode: String, directory: String, events: String, labels: String) -> String {
        """
        job: scoring
        name: \(name)
        topics: {events: \(events), labels: \(labels), scores: \(name)-scores, alerts: \(name)-alerts, dead_letter: \(name)-dead}
        output: {mode: \(mode)}
        model:
          optimizer: {kind: adagrad, learning_rate: 0.05}
        detectors: {input_psi_window: 5000, score_psi_window: 5000, f1_window: 2000}
        snapshots: {directory: \(directory), every_messages: 1000000, every_seconds: 3600}
        """
    }

    func measure(logger: Logger) throws -> [String: Double] {
        let labelPartitions = max(partitions / 2, 1)
        var topics: [(name: String, partitions: Int)] = [
            ("bench-events", partitions), ("bench-labels", labelPartitions), ("floor-out", partitions),
        ]
        for name in ["eo", "alo", "live-eo", "live-alo"] {
            topics += [("\(name)-scores", partitions), ("\(name)-alerts", 1), ("\(name)-dead", 1)]
        }
        for name in ["live-eo", "live-alo"] { topics += [("\(name)-events", partitions), ("\(name)-labels", labelPartitions)] }
        let broker = try EmbeddedBroker(topics: topics, logger: logger)
        defer { broker.close() }
        let bootstrap = broker.bootstrapServers
        let (events, labels) = Self.stream(count: self.events, seed: 7)
        try Self.produce(bootstrap, events: events, labels: labels, partitions: partitions)
        let messages = events.count + labels.count
        var result: [String: Double] = [
            "events": Double(self.events), "messages_in": Double(messages), "partitions": Double(partitions),
        ]

        // 1. The transport floor: consume everything, produce one output per event.
        result["floor_messages_per_second"] = try floor(bootstrap: bootstrap, expected: messages, logger: logger)

        // 2. The runtime in each mode, over the same topics.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bench-run-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        for (name, mode) in [("eo", "exactly-once"), ("alo", "at-least-once")] {
            let configuration = try RuntimeConfiguration.parse(yaml: Self.configuration(
                name: name, mode: mode, directory: scratch.appendingPathComponent(name).path, events: "bench-events",
                labels: "bench-labels"))
            var options = StreamRuntime.Options()
            options.exitWhenIdle = .seconds(2)
            let summary = try StreamRuntime(configuration: configuration, brokers: bootstrap, options: options, logger: logger).run()
            guard summary.messages == messages else {
                throw ValidationError("\(mode): processed \(summary.messages) of \(messages) messages")
            }
            let rate = Double(summary.messages) / summary.busy.seconds
            result["\(name)_messages_per_second"] = rate.rounded()
            result["\(name)_of_floor"] = rate / result["floor_messages_per_second"]!
            result["\(name)_snapshots"] = Double(summary.snapshots)
            result["\(name)_alerts"] = Double(summary.alerts)
        }
        result["floor_messages_per_second"] = result["floor_messages_per_second"]!.rounded()

        // 3. Latency at a fixed input rate.
        for (name, mode) in noLatency ? [] : [("live-alo", "at-least-once"), ("live-eo", "exactly-once")] {
            let (p50, p99, p999, count) = try latency(
                bootstrap: bootstrap, name: name, mode: mode, directory: scratch.appendingPathComponent(name).path,
                logger: logger)
            result["\(name)_latency_us_p50"] = Double(p50)
            result["\(name)_latency_us_p99"] = Double(p99)
            result["\(name)_latency_us_p999"] = Double(p999)
            result["\(name)_scores"] = Double(count)
        }
        result["latency_rate_per_second"] = Double(rate)
        return result
    }

    func floor(bootstrap: String, expected: Int, logger: Logger) throws -> Double {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: "floor")
        configuration.maxBatchSize = 4096
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: logger)
        var offsets: [TopicPartitionOffset] = (0..<Int32(partitions)).map { TopicPartitionOffset("bench-events", $0, offset: 0) }
        offsets += (0..<Int32(max(partitions / 2, 1))).map { TopicPartitionOffset("bench-labels", $0, offset: 0) }
        try consumer.assign(offsets)
        var received = 0
        var start: ContinuousClock.Instant?
        let value = Array(#"{"id":"0000000","score":0.123456789,"decision":false,"model_version":0,"latency_us":0}"#.utf8)
        while received < expected {
            try consumer.poll(timeout: .milliseconds(500)) { batch in
                if start == nil { start = .now }
                for message in batch {
                    received += 1
                    if message.value.count > 60 {  // an event, not a label
                        try value.withUnsafeBytes { try producer.send(topic: "floor-out", key: message.key, value: $0) }
                    }
                }
            }
        }
        try producer.flush(timeout: .seconds(60))
        let elapsed = ContinuousClock.now - start!
        try producer.close()
        try consumer.close()
        return Double(received) / elapsed.seconds
    }

    func latency(
        bootstrap: String, name: String, mode: String, directory: String, logger: Logger
    ) throws -> (p50: Int, p99: Int, p999: Int, count: Int) {
        let total = rate * seconds
        let (events, labels) = Self.stream(count: total, seed: 9)
        let configuration = try RuntimeConfiguration.parse(yaml: Self.configuration(
            name: name, mode: mode, directory: directory, events: "\(name)-events", labels: "\(name)-labels"))
        var options = StreamRuntime.Options()
        options.exitWhenIdle = .seconds(6)
        let runtime = StreamRuntime(configuration: configuration, brokers: bootstrap, options: options, logger: logger)
        // The job starts at the topics' end (earliest, but the live topics get only this run's events).
        let finished = DispatchSemaphore(value: 0)
        let job = Thread {
            do { _ = try runtime.run() } catch { Output.error("\(name): \(error)") }
            finished.signal()
        }
        job.start()
        Thread.sleep(forTimeInterval: 2)  // the job's start-up
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: logger)
        let start = ContinuousClock.now
        let labelPartitions = max(partitions / 2, 1)
        for index in 0..<total {
            // Paced: event i is sent at start + i / rate, the events due sent together each millisecond (the driver
            // sleeps in between rather than spin on one of the job's cores).
            let due = start + .nanoseconds(Int64(index) * 1_000_000_000 / Int64(rate))
            if ContinuousClock.now < due {
                producer.poll()
                let wait = due - ContinuousClock.now
                if wait > .zero { Thread.sleep(forTimeInterval: max(wait.seconds, 0.001)) }
            }
            try producer.send(topic: "\(name)-events", partition: Int32(index % partitions), key: nil, value: Array(events[index].utf8))
            if index >= 500 {
                try producer.send(
                    topic: "\(name)-labels", partition: Int32(index % labelPartitions), key: nil, value: Array(labels[index - 500].utf8))
            }
        }
        try producer.close()
        // Wait for the job to go idle and stop, then read its scores.
        finished.wait()
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var count = 0
        var reader = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: "latency-\(name)")
        reader.properties["isolation.level"] = "read_committed"
        let consumer = try KafkaConsumer(configuration: reader, logger: logger)
        defer { try? consumer.close() }
        var ends: [Int32: Int64] = [:]
        var starts: [TopicPartitionOffset] = []
        for partition in 0..<Int32(partitions) {
            let (low, high) = try consumer.watermarks(topic: "\(name)-scores", partition: partition)
            ends[partition] = high
            starts.append(TopicPartitionOffset("\(name)-scores", partition, offset: low))
        }
        try consumer.assign(starts)
        let deadline = ContinuousClock.now + .seconds(60)
        while !ends.isEmpty && ContinuousClock.now < deadline {
            for message in try consumer.poll(timeout: .milliseconds(100)) {
                if let object = try? JSONSerialization.jsonObject(with: Data(message.value)) as? [String: Any],
                    let latency = object["latency_us"] as? Int
                {
                    _ = histogram.record(UInt64(max(latency, 0)))
                    count += 1
                }
            }
            for (partition, end) in ends where (consumer.position(topic: "\(name)-scores", partition: partition) ?? 0) >= end {
                ends[partition] = nil
            }
        }
        return (
            Int(histogram.valueAtPercentile(50)), Int(histogram.valueAtPercentile(99)),
            Int(histogram.valueAtPercentile(99.9)), count
        )
    }
}

