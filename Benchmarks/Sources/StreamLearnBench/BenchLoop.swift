import ArgumentParser
import Foundation
import Histogram
import KafkaRuntime
import Logging
import Simulation
import StreamCore
import StreamKafka
import Synchronization

struct BenchLoop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loop",
        abstract: "A closed loop through the embedded broker: environments in another process ask a reinforcement job for actions.",
        discussion: """
            A reinforcement job (Q-learning, FrozenLake's 16 states and 4 actions, answers at-least-once with \
            linger_ms 0) runs in this process on an embedded broker. A client in another process (this program's \
            loop-client) runs Gymnasium-faithful FrozenLake environments through it: each step sends \
            {"episode","state"} and waits for the action, steps the environment, and sends the transition.

            Rows: one environment, the request-to-answer round trip (p50, p99); then --environments at once, the \
            time of one round (every environment's request sent, every answer back). The client's consumer uses \
            fetch.wait.max.ms 1, so the figures are the job's and the broker's, not the client's fetch wait.

            Examples:
              make bench-loop
              streamlearn-bench loop --steps 300 --environments 64 --rounds 100 --json
            """
    )

    @Option(help: "Steps of the one-environment run (the first 20 are warm-up, not counted).")
    var steps: Int = 300

    @Option(help: "Environments stepped together in the round run.")
    var environments: Int = 64

    @Option(help: "Rounds of the round run (the first 5 are warm-up, not counted).")
    var rounds: Int = 100

    @Flag(help: "Print one JSON object.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard steps > 20, rounds > 5, environments >= 1 else {
            throw ValidationError("--steps must be over 20, --rounds over 5, --environments at least 1")
        }
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        let result = try await runOnDedicatedThread { [self] in try measure(logger: logger) }
        try Output.figures(result, json: json)
    }

    static let configurationText = """
        job: reinforcement
        name: loop
        topics: {requests: loop-requests, transitions: loop-transitions, decisions: loop-actions, dead_letter: loop-dead}
        output: {mode: at-least-once, linger_ms: 0}
        model: {algorithm: qlearning, states: 16, actions: 4, learning_rate: 0.1, discount: 0.99, epsilon: 0.1, seed: 1}
        snapshots: {directory: DIRECTORY, every_messages: 1000000, every_seconds: 3600}
        """

    func measure(logger: Logger) throws -> [String: Double] {
        let topics = ["loop-requests", "loop-transitions", "loop-actions", "loop-dead"].map { ($0, 1) }
        let broker = try EmbeddedBroker(topics: topics, logger: logger)
        defer { broker.close() }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bench-loop-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let configuration = try RuntimeConfiguration.parse(
            yaml: Self.configurationText.replacingOccurrences(of: "DIRECTORY", with: scratch.path))
        let runtime = StreamRuntime(
            configuration: configuration, brokers: broker.bootstrapServers, options: StreamRuntime.Options(), logger: logger)
        let finished = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        let job = Thread {
            do { _ = try runtime.run() } catch { failure.withLock { $0 = "\(error)" } }
            finished.signal()
        }
        job.start()
        defer {
            runtime.requestStop()
            finished.wait()
        }
        Thread.sleep(forTimeInterval: 2)  // the job's start-up

        let client = Process()
        client.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        client.arguments = [
            "loop-client", "--brokers", broker.bootstrapServers, "--steps", "\(steps)", "--environments",
            "\(environments)", "--rounds", "\(rounds)", "--log-level", global.logLevel,
        ]
        let output = Pipe()
        client.standardOutput = output
        try client.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        client.waitUntilExit()
        if let failure = failure.withLock({ $0 }) { throw ValidationError("the job failed: \(failure)") }
        guard client.terminationStatus == 0,
            let figures = try JSONSerialization.jsonObject(with: data) as? [String: Double]
        else {
            throw ValidationError("the client failed (exit \(client.terminationStatus)): \(String(decoding: data, as: UTF8.self))")
        }
        return figures
    }
}

/// The client side of ``BenchLoop``, run in its own process.
struct BenchLoopClient: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loop-client", abstract: "The environments of `loop` (started by it).", shouldDisplay: false)

    @Option var brokers: String
    @Option var steps: Int = 300
    @Option var environments: Int = 64
    @Option var rounds: Int = 100
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let logger = global.bootstrapLogging()
        let result = try await runOnDedicatedThread { [self] in try measure(logger: logger) }
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        Output.line(String(decoding: data, as: UTF8.self))
    }

    private final class Connection {
        let producer: KafkaProducer
        let consumer: KafkaConsumer
        /// Answers read but not asked for yet (by episode).
        var pending: [String: Int] = [:]

        init(brokers: String, logger: Logger) throws {
            var producing = KafkaProducerConfiguration(bootstrapServers: brokers)
            producing.linger = .zero
            producer = try KafkaProducer(configuration: producing, logger: logger)
            var consuming = KafkaConsumerConfiguration(bootstrapServers: brokers, groupID: "loop-client")
            consuming.properties["fetch.wait.max.ms"] = "1"
            consumer = try KafkaConsumer(configuration: consuming, logger: logger)
            let (_, high) = try consumer.watermarks(topic: "loop-actions", partition: 0)
            try consumer.assign([TopicPartitionOffset("loop-actions", 0, offset: high)])
        }

        func send(_ topic: String, _ object: [String: Any]) throws {
            let data = try JSONSerialization.data(withJSONObject: object)
            try producer.send(topic: topic, partition: 0, key: nil, value: Array(data))
            producer.poll()
        }

        /// Waits for the actions of `episodes` (each asked once); returns them by episode.
        func actions(for episodes: Set<String>) throws -> [String: Int] {
            var found: [String: Int] = [:]
            for episode in episodes { if let action = pending.removeValue(forKey: episode) { found[episode] = action } }
            let deadline = ContinuousClock.now + .seconds(30)
            while found.count < episodes.count {
                guard ContinuousClock.now < deadline else { throw ValidationError("no answer within 30 s") }
                // A batch poll with a timeout waits for a full batch: one message with a wait, then the rest at once.
                var messages = try consumer.poll(maxMessages: 1, timeout: .milliseconds(100))
                if !messages.isEmpty { messages += try consumer.poll(timeout: .zero) }
                for message in messages {
                    guard let object = try JSONSerialization.jsonObject(with: Data(message.value)) as? [String: Any],
                        let episode = object["episode"] as? String, let action = object["action"] as? Int
                    else { continue }
                    if episodes.contains(episode) { found[episode] = action } else { pending[episode] = action }
                }
            }
            return found
        }
    }

    func measure(logger: Logger) throws -> [String: Double] {
        let connection = try Connection(brokers: brokers, logger: logger)
        var lakes = try (0..<max(environments, 1)).map { index in
            var lake = try Environments.frozenLake(seed: UInt64(index + 1))
            _ = lake.reset(seed: UInt64(index + 1))
            return lake
        }
        var episodes = Array(repeating: 0, count: lakes.count)
        /// One step of environment `index`: the request sent now, the answer awaited later with the others.
        func ask(_ index: Int) throws -> String {
            let name = "env\(index)-ep\(episodes[index])"
            try connection.send("loop-requests", ["episode": name, "state": lakes[index].state])
            return name
        }
        func act(_ index: Int, _ action: Int) throws {
            let state = lakes[index].state
            let step = try lakes[index].step(action)
            try connection.send("loop-transitions", [
                "state": state, "action": action, "reward": step.reward, "next_state": step.observation,
                "terminated": step.terminated, "truncated": step.truncated,
            ])
            if step.terminated || step.truncated {
                episodes[index] += 1
                _ = lakes[index].reset(seed: nil)
            }
        }

        var single = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for step in 0..<steps {
            let started = ContinuousClock.now
            let name = try ask(0)
            let action = try connection.actions(for: [name])[name]!
            if step >= 20 { _ = single.record(UInt64((ContinuousClock.now - started).seconds * 1e6)) }
            try act(0, action)
        }

        var round = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for index in 0..<rounds {
            let started = ContinuousClock.now
            var names: [String: Int] = [:]
            for environment in lakes.indices { names[try ask(environment)] = environment }
            let actions = try connection.actions(for: Set(names.keys))
            if index >= 5 { _ = round.record(UInt64((ContinuousClock.now - started).seconds * 1e6)) }
            for (name, environment) in names { try act(environment, actions[name]!) }
        }
        try connection.producer.close()
        try connection.consumer.close()
        return [
            "loop_round_trip_us_p50": Double(single.valueAtPercentile(50)),
            "loop_round_trip_us_p99": Double(single.valueAtPercentile(99)),
            "loop_round_trip_count": Double(single.totalCount),
            "loop_environments": Double(lakes.count),
            "loop_round_us_p50": Double(round.valueAtPercentile(50)),
            "loop_round_us_p99": Double(round.valueAtPercentile(99)),
        ]
    }
}
