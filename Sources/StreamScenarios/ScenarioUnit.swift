import KafkaRuntime
import StreamJobs
import StreamPipeline
import Foundation
import Logging
import OnlineLearning
import Simulation
import StreamCore
import StreamKafka
import Synchronization

/// One agent on one seed: its topics, its job (a ``StreamRuntime`` on a thread of its own), the driver that feeds
/// it, and what is read back once it stopped.
struct Unit {
    let scenario: Scenario
    let source: Scenario.Source
    let agent: Scenario.Agent
    let seed: UInt64
    let brokers: String
    let broker: EmbeddedBroker?
    let directory: URL
    /// Added to topic names on an external cluster, so that runs never read each other's messages.
    let tag: String
    let tracker: ProgressTracker
    let logger: Logger

    func topic(_ role: String) -> String { "\(scenario.name).\(agent.name).s\(seed)\(tag).\(role)" }

    func run() throws -> ScenarioResult.Run {
        var configuration = agent.configuration
        configuration.name = "\(scenario.name)-\(agent.name)-s\(seed)"
        configuration.kafka.brokers = brokers
        configuration.kafka.group = "streamlearn-scenario-\(configuration.name)\(tag)"
        configuration.ops.address = nil
        configuration.snapshots.directory = directory.appendingPathComponent("snapshots").path
        configuration.snapshots.keep = max(configuration.snapshots.keep, 1_000)
        configuration.job.reseed(seed)
        let labelsTopic: Bool
        if case .fraud(let fraud) = source { labelsTopic = fraud.labelsTopic } else { labelsTopic = false }
        configuration.topics = RuntimeConfiguration.Topics(
            events: topic("requests"),
            feedback: configuration.kind == .scoring ? (labelsTopic ? topic("labels") : nil) : topic("requests"),
            outputs: topic("answers"),
            alerts: configuration.kind == .scoring ? topic("alerts") : nil,
            deadLetter: topic("dead-letter"),
            policy: configuration.kind == .reinforcement ? topic("policy") : nil)
        if let broker {
            for name in configuration.inputTopics + [configuration.topics.outputs, configuration.topics.deadLetter]
                + [configuration.topics.alerts, configuration.topics.policy].compactMap({ $0 })
            {
                do {
                    try broker.createTopic(name, partitions: 1)
                } catch {
                    throw RuntimeError(.kafka, "cannot create topic '\(name)': \(error)")
                }
            }
        }

        let readings = Collected<DetectorReading>()
        var options = StreamRuntime.Options()
        options.statusInterval = .seconds(3_600)
        options.onReading = { readings.append($0) }
        let runtime = StreamRuntime(configuration: configuration, brokers: brokers, options: options, logger: logger)
        let job = JobThread(runtime)
        let started = ContinuousClock.now
        var run: ScenarioResult.Run
        do {
            switch source {
            case .fraud(let fraud):
                run = try driveFraud(fraud, configuration: configuration, job: job)
            case .bandit(let bandit):
                run = try driveBandit(bandit, configuration: configuration, job: job)
            case .environment(let environment):
                run = try driveEnvironment(environment, configuration: configuration, job: job)
            }
        } catch {
            runtime.requestStop()
            _ = try? job.wait()
            throw error
        }
        run.summary = try job.wait()
        run.seconds = (ContinuousClock.now - started).seconds
        run.readings = readings.values
        if configuration.kind == .scoring { try readBack(into: &run, configuration: configuration) }
        if configuration.kind == .reinforcement, case .environment(let environment) = source {
            try evaluatePolicy(environment, configuration: configuration, into: &run)
        }
        return run
    }

    // MARK: - Fraud

    private func driveFraud(
        _ fraud: Scenario.Fraud, configuration: RuntimeConfiguration, job: JobThread
    ) throws -> ScenarioResult.Run {
        var generator = StreamLines(fraud, seed: seed)
        let producer = try makeProducer()
        // Scores are read as they commit: the embedded broker keeps only the newest 5 MiB of a partition.
        let answers = try ScoreCollector(brokers: brokers, topic: configuration.topics.outputs, events: fraud.events)
        var run = ScenarioResult.Run(agent: agent.name, seed: seed, summary: .init())
        var truth = [Bool](repeating: false, count: fraud.events)
        let eventsTopic = configuration.topics.events
        let labelsTopic = configuration.topics.feedback ?? eventsTopic
        // The embedded broker keeps about 5 MiB a partition: the stream may run ahead of the job by this much.
        let ahead = 6_000
        var answered = 0
        var produced = 0
        /// `lines` from the generator, each an event or a label line.
        func send(_ lines: [(line: String, isEvent: Bool)]) throws {
            for (line, isEvent) in lines {
                let (id, label) = Self.idAndLabel(line)
                if let label { truth[id - 1] = label }
                try producer.send(topic: isEvent ? eventsTopic : labelsTopic, key: String(id), value: line)
                produced += 1
            }
        }
        var checked = 0
        while generator.emitted < fraud.events {
            try send(generator.next())
            let sent = generator.emitted
            // Each 500 events (one call of the card network may send several, so a multiple can be stepped over).
            if sent / 500 > checked / 500 || sent == fraud.events {
                checked = sent
                producer.poll()
                var now = try answers.collect()
                while sent - now > ahead {
                    try job.check()
                    producer.poll()
                    now = try answers.collect(wait: .milliseconds(5))
                }
                tracker.advance(now - answered)
                answered = now
            }
        }
        try send(generator.finish())
        try finishSending(producer, messages: produced, job: job)
        while job.isRunning {
            let now = try answers.collect(wait: .milliseconds(20))
            tracker.advance(now - answered)
            answered = now
        }
        try job.check()
        try answers.drain()
        tracker.advance(answers.scores - answered)
        answers.close()
        run.scores = answers.scores
        run.distinctScored = answers.distinct
        run.scoreOf = answers.scoreOf
        run.produced = produced
        run.events = fraud.events
        run.truth = truth
        run.threshold = configuration.job.scoring?.pipeline.threshold ?? 0.5
        return run
    }

    /// The lines of a stream scenario's generator, each marked event or label line.
    struct StreamLines {
        var fraud: FraudStreamGenerator?
        var network: CardNetworkGenerator?

        init(_ settings: Scenario.Fraud, seed: UInt64) {
            switch settings.generator {
            case .fraud:
                var configuration = FraudStreamGenerator.Configuration()
                configuration.seed = seed
                if let first = settings.drifts.first {
                    configuration.driftAt = first.at
                    configuration.drift = first.kind
                    configuration.driftWidth = first.width
                }
                configuration.laterDrifts = Array(settings.drifts.dropFirst())
                configuration.labelDelay = settings.labelDelay
                fraud = FraudStreamGenerator(configuration: configuration)
            case .cardNetwork(let cards, let merchants, let days):
                var configuration = CardNetworkGenerator.Configuration()
                configuration.seed = seed
                configuration.events = settings.events
                configuration.cards = cards
                configuration.merchants = merchants
                configuration.days = days
                network = CardNetworkGenerator(configuration: configuration)
            }
        }

        /// Events written so far.
        var emitted: Int { fraud?.index ?? network!.emitted }

        /// The next lines: the fraud generator's event, then the labels now due; the card network's lines due
        /// before its next ordinary transaction, and that one (label lines have no `card`).
        mutating func next() -> [(line: String, isEvent: Bool)] {
            if fraud != nil {
                return fraud!.next().enumerated().map { ($1, $0 == 0) }
            }
            return network!.next().map { ($0, !$0.hasSuffix("\"label\":0}") && !$0.hasSuffix("\"label\":1}")) }
        }

        mutating func finish() -> [(line: String, isEvent: Bool)] {
            ((fraud != nil ? fraud!.finish() : network!.finish())).map { ($0, false) }
        }
    }

    /// The id and label of a generated line (an event with an inline label, or a label line).
    static func idAndLabel(_ line: String) -> (Int, Bool?) {
        let bytes = Array(line.utf8)
        var id = 0
        var index = 6  // after {"id":
        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
            id = id * 10 + Int(bytes[index] - 48)
            index += 1
        }
        let hasLabel = line.hasSuffix("\"label\":0}") || line.hasSuffix("\"label\":1}")
        return (id, hasLabel ? bytes[bytes.count - 2] == 49 : nil)
    }

    /// Alerts from their topic; the scores judged against the generator's truth.
    private func readBack(into run: inout ScenarioResult.Run, configuration: RuntimeConfiguration) throws {
        if let alerts = configuration.topics.alerts {
            try TopicReader.read(brokers: brokers, topic: alerts) { value in
                guard let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any] else { return }
                let window = object["window"] as? [String: Any]
                var record = ScenarioResult.AlertRecord(
                    id: object["id"] as? String ?? "", detector: object["detector"] as? String ?? "",
                    feature: object["feature"] as? String ?? "", severity: object["severity"] as? String ?? "",
                    state: object["state"] as? String ?? "", value: (object["value"] as? NSNumber)?.doubleValue ?? .nan,
                    start: window?["start"] as? Int ?? 0, end: window?["end"] as? Int ?? 0)
                record.snapshot = object["snapshot"] as? String
                record.snapshotWritten = record.snapshot.map { FileManager.default.fileExists(atPath: $0) } ?? false
                run.alerts.append(record)
            }
        }
        run.computeQuality(window: ScenarioRunner.window(scenario, source), driftPoints: {
            if case .fraud(let fraud) = source { return fraud.drifts.map(\.at) }
            return []
        }())
    }

    // MARK: - Bandit

    private func driveBandit(
        _ bandit: Scenario.Bandit, configuration: RuntimeConfiguration, job: JobThread
    ) throws -> ScenarioResult.Run {
        var run = ScenarioResult.Run(agent: agent.name, seed: seed, summary: .init())
        let step = ScenarioRunner.window(scenario, source)
        run.step = step
        var experiment = BanditExperiment(policy: .ucb1, arms: bandit.arms, pulls: bandit.pulls)
        experiment.shifts = bandit.shifts
        var testbed = experiment.makeTestbed(seed: seed)
        var contextual = LinearContextualBandit(arms: bandit.arms, dimension: bandit.dimension, seed: seed)
        let producer = try makeProducer()
        let answers = try AnswerReader(brokers: brokers, topic: configuration.topics.outputs)
        defer { answers.close() }
        let requests = configuration.topics.events
        var regret = 0.0
        var counts = [Int](repeating: 0, count: bandit.arms)
        var pulls = 0
        var produced = 0
        while pulls < bandit.pulls {
            let size = min(bandit.batch, bandit.pulls - pulls)
            var contexts: [[Double]] = []
            for offset in 0..<size {
                let id = "d\(pulls + offset)"
                var message = "{\"id\":\"\(id)\""
                if bandit.testbed == .contextual {
                    let context = contextual.context()
                    contexts.append(context)
                    message += ",\"context\":[" + context.map { String($0) }.joined(separator: ",") + "]"
                }
                try producer.send(topic: requests, key: id, value: message + "}")
                produced += 1
            }
            producer.poll()
            // Answers in request order (a cluster's topic may have several partitions: matched by id).
            let decisions = try answers.take(
                size, job: job, order: { ($0["id"] as? String).flatMap { Int($0.dropFirst()) }.map { $0 - pulls } })
            for (offset, decision) in decisions.enumerated() {
                guard let arm = decision["arm"] as? Int, (0..<bandit.arms).contains(arm) else {
                    throw RuntimeError(.kafka, "the job answered without a valid arm: \(decision)")
                }
                let reward: Double
                if bandit.testbed == .contextual {
                    let context = contexts[offset]
                    regret += contextual.bestExpectedReward(context: context) - contextual.expectedReward(arm: arm, context: context)
                    reward = contextual.pull(arm, context: context)
                } else {
                    regret += testbed.bestMean - testbed.means[arm]
                    reward = testbed.pull(arm)
                }
                counts[arm] += 1
                pulls += 1
                if pulls % step == 0 {
                    run.regret.append(regret)
                    let total = Double(counts.reduce(0, +))
                    run.armShares.append(counts.map { Double($0) / total })
                    counts = [Int](repeating: 0, count: bandit.arms)
                }
                try producer.send(topic: requests, key: decision["id"] as? String, value: "{\"id\":\"\(decision["id"] as? String ?? "")\",\"reward\":\(reward)}")
                produced += 1
            }
            producer.poll()
            tracker.advance(size)
        }
        try finishSending(producer, messages: produced, job: job)
        run.produced = produced
        return run
    }

    // MARK: - Environment

    private func driveEnvironment(
        _ settings: Scenario.Environment, configuration: RuntimeConfiguration, job: JobThread
    ) throws -> ScenarioResult.Run {
        var run = ScenarioResult.Run(agent: agent.name, seed: seed, summary: .init())
        let template = try settings.make()
        let producer = try makeProducer()
        let answers = try AnswerReader(brokers: brokers, topic: configuration.topics.outputs)
        defer { answers.close() }
        let requests = configuration.topics.events

        let key = template.observationKey
        /// One environment of the batch: where it is (as JSON), and the step waiting for the next action (SARSA's).
        struct Slot {
            var environment: DrivenEnvironment
            var state: String
            var episode: Int
            var total = 0.0
            var pending: (state: String, action: Int, reward: Double, next: String, terminated: Bool, truncated: Bool)?
        }
        var started = 0
        var slots: [Slot] = []
        for index in 0..<min(settings.parallel, settings.episodes) {
            var environment = template
            let state = environment.reset(seed: seed &* 1_000_003 &+ UInt64(index))
            slots.append(Slot(environment: environment, state: state, episode: started))
            started += 1
        }
        var produced = 0
        var active = slots.indices.map { _ in true }
        while active.contains(true) {
            // Every environment asks for an action in its current state (SARSA takes it as the pending step's next
            // action, as Training.train does), then the pending steps are learned, then the environments step.
            var asked: [Int] = []
            for index in slots.indices where active[index] {
                try producer.send(
                    topic: requests, key: "e\(slots[index].episode)",
                    value: "{\"episode\":\"e\(slots[index].episode)\",\"\(key)\":\(slots[index].state)}")
                asked.append(index)
                produced += 1
            }
            producer.poll()
            let positions = Dictionary(uniqueKeysWithValues: asked.enumerated().map { ("e\(slots[$1].episode)", $0) })
            let actions = try answers.take(asked.count, job: job, order: { ($0["episode"] as? String).flatMap { positions[$0] } })
            var ended = 0
            for (position, index) in asked.enumerated() {
                guard let action = actions[position]["action"] as? Int else {
                    throw RuntimeError(.kafka, "the job answered without an action: \(actions[position])")
                }
                if let step = slots[index].pending {
                    try producer.send(
                        topic: requests, key: "e\(slots[index].episode)",
                        value: "{\"\(key)\":\(step.state),\"action\":\(step.action),\"reward\":\(step.reward),\"next_\(key)\":\(step.next),\"terminated\":\(step.terminated),\"truncated\":\(step.truncated),\"next_action\":\(action)}")
                    produced += 1
                    slots[index].pending = nil
                    if step.terminated || step.truncated {
                        run.returns.append(slots[index].total)
                        ended += 1
                        guard started < settings.episodes else {
                            active[index] = false
                            continue
                        }
                        slots[index].state = slots[index].environment.reset(seed: nil)
                        slots[index].episode = started
                        slots[index].total = 0
                        started += 1
                        continue
                    }
                }
                let result = try slots[index].environment.step(action)
                slots[index].total += result.reward
                slots[index].pending = (
                    slots[index].state, action, result.reward, result.observation, result.terminated, result.truncated)
                slots[index].state = result.observation
            }
            producer.poll()
            tracker.advance(ended)
        }
        try finishSending(producer, messages: produced, job: job)
        run.produced = produced
        return run
    }

    /// Plays the greedy policy the job published at its last snapshot (a tabular job), or the agent of its last
    /// snapshot (a linear one, whose policy is its weights).
    private func evaluatePolicy(
        _ settings: Scenario.Environment, configuration: RuntimeConfiguration, into run: inout ScenarioResult.Run
    ) throws {
        switch try settings.make() {
        case .tabular(var environment):
            guard let topic = configuration.topics.policy else { return }
            var policy: [Int]?
            try TopicReader.read(brokers: brokers, topic: topic) { value in
                if let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
                    let actions = object["greedy_actions"] as? [Int]
                {
                    policy = actions
                }
            }
            guard let policy else { throw RuntimeError(.kafka, "the job published no policy on '\(topic)'") }
            run.greedy = try Training.evaluate(
                policy: { policy.indices.contains($0) ? policy[$0] : 0 }, in: &environment,
                episodes: settings.evaluationEpisodes, seed: seed &+ 1_000_003)
        case .continuous(var environment):
            let store = try SnapshotStore(directory: configuration.snapshots.directory)
            guard let entry = store.newestGood().entry,
                let agent = try Snapshot.decode(ReinforcementJobState.self, from: entry.payload).linearAgent
            else {
                throw RuntimeError(.kafka, "the job wrote no snapshot of its agent in '\(configuration.snapshots.directory)'")
            }
            run.greedy = try Training.evaluate(
                agent, in: &environment, episodes: settings.evaluationEpisodes, seed: seed &+ 1_000_003)
        }
    }

    /// Delivers what the driver sent and asks the job to stop once it has processed all `messages`.
    private func finishSending(_ producer: KafkaProducer, messages: Int, job: JobThread) throws {
        try producer.flush(timeout: .seconds(60))
        _ = try producer.close()
        job.runtime.requestStop(afterMessages: messages)
    }

    private func makeProducer() throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(bootstrapServers: brokers)
        configuration.clientID = "streamlearn-scenario"
        configuration.linger = .milliseconds(1)
        do {
            return try KafkaProducer(configuration: configuration, logger: logger)
        } catch {
            throw RuntimeError(.kafka, "cannot start the scenario's producer: \(error)")
        }
    }
}

// MARK: - Threads and readers

/// The job's loop on a thread of its own.
final class JobThread: Sendable {
    let runtime: StreamRuntime
    private let outcome = Mutex<Result<StreamRuntime.Summary, any Error>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(_ runtime: StreamRuntime) {
        self.runtime = runtime
        let thread = Thread { [self] in
            let result = Result { try runtime.run() }
            outcome.withLock { $0 = result }
            done.signal()
        }
        thread.name = "scenario-job"
        thread.start()
    }

    var isRunning: Bool { outcome.withLock { $0 == nil } }

    /// Throws the job's error if it stopped with one (a driver waiting on it gives up).
    func check() throws {
        if case .failure(let error) = outcome.withLock({ $0 }) { throw error }
    }

    func wait() throws -> StreamRuntime.Summary {
        done.wait()
        done.signal()
        return try outcome.withLock { $0! }.get()
    }
}

/// Values collected from the job's thread.
final class Collected<Value: Sendable>: Sendable {
    private let items = Mutex<[Value]>([])

    func append(_ value: Value) { items.withLock { $0.append(value) } }
    var values: [Value] { items.withLock { $0 } }
}

/// The committed scores of a one-partition scores topic, read as they come: each event's score by its id.
final class ScoreCollector {
    private let consumer: KafkaConsumer
    private let topic: String
    private(set) var scoreOf: [Double]
    private(set) var scores = 0
    private(set) var distinct = 0

    init(brokers: String, topic: String, events: Int) throws {
        self.topic = topic
        scoreOf = [Double](repeating: .nan, count: events)
        var configuration = KafkaConsumerConfiguration(bootstrapServers: brokers, groupID: "streamlearn-scenario-scores")
        configuration.properties["isolation.level"] = "read_committed"
        configuration.properties["fetch.wait.max.ms"] = "10"
        consumer = try KafkaConsumer(configuration: configuration)
        partitions = try TopicReader.starts(consumer, topic: topic).map(\.start.partition)
        try consumer.assign(partitions.map { TopicPartitionOffset(topic, $0, offset: 0) })
    }

    private let partitions: [Int32]

    /// Reads what has arrived (waiting up to `wait` for the first message); returns the scores read so far.
    func collect(wait: Duration = .zero) throws -> Int {
        try consumer.poll(maxMessages: 4096, timeout: wait) { batch in
            for message in batch { take(message.value) }
        }
        return scores
    }

    /// Reads to the end of the topic (the job has stopped).
    func drain() throws {
        var ends: [Int32: Int64] = [:]
        for partition in partitions {
            ends[partition] = try consumer.watermarks(topic: topic, partition: partition, timeout: .seconds(30)).high
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ends.contains(where: { (consumer.position(topic: topic, partition: $0.key) ?? 0) < $0.value }) {
            guard ContinuousClock.now < deadline else { throw RuntimeError(.kafka, "cannot read '\(topic)' to its end") }
            _ = try collect(wait: .milliseconds(50))
        }
    }

    private func take(_ value: UnsafeRawBufferPointer) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
            let id = (object["id"] as? String).flatMap(Int.init), (1...scoreOf.count).contains(id),
            let score = object["score"] as? Double
        else { return }
        scores += 1
        if scoreOf[id - 1].isNaN { distinct += 1 }
        scoreOf[id - 1] = score
    }

    func close() { try? consumer.close() }
}

/// Answers as JSON objects, for a driver that waits for each batch (every partition of the topic).
final class AnswerReader {
    private let consumer: KafkaConsumer
    private var buffered: [[String: Any]] = []

    init(brokers: String, topic: String) throws {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: brokers, groupID: "streamlearn-scenario-answers")
        configuration.properties["isolation.level"] = "read_committed"
        configuration.properties["fetch.wait.max.ms"] = "5"
        consumer = try KafkaConsumer(configuration: configuration)
        try consumer.assign(try TopicReader.starts(consumer, topic: topic).map(\.start))
    }

    /// The next `count` answers, each placed where `order` says (its request's position in the batch); fails when
    /// the job stopped, an answer has no place, or nothing came for 60 s.
    func take(_ count: Int, job: JobThread, order: ([String: Any]) -> Int?) throws -> [[String: Any]] {
        let answers = try take(count, job: job)
        var placed = [[String: Any]?](repeating: nil, count: count)
        for answer in answers {
            guard let position = order(answer), placed.indices.contains(position), placed[position] == nil else {
                throw RuntimeError(.kafka, "an answer that matches no request of this batch: \(answer)")
            }
            placed[position] = answer
        }
        return placed.map { $0! }
    }

    private func take(_ count: Int, job: JobThread) throws -> [[String: Any]] {
        var deadline = ContinuousClock.now + .seconds(60)
        while buffered.count < count {
            try job.check()
            guard ContinuousClock.now < deadline else {
                throw RuntimeError(.kafka, "the job answered \(buffered.count) of \(count) requests in 60 s")
            }
            let before = buffered.count
            try consumer.poll(timeout: .milliseconds(5)) { batch in
                for message in batch {
                    if let object = try? JSONSerialization.jsonObject(with: Data(message.value)) as? [String: Any] {
                        buffered.append(object)
                    }
                }
            }
            if buffered.count > before { deadline = ContinuousClock.now + .seconds(60) }
        }
        defer { buffered.removeFirst(count) }
        return Array(buffered.prefix(count))
    }

    func close() { try? consumer.close() }
}

/// Reads a topic's committed messages to its end.
enum TopicReader {
    static func read(brokers: String, topic: String, _ body: (UnsafeRawBufferPointer) -> Void) throws {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: brokers, groupID: "streamlearn-scenario-reader")
        configuration.properties["isolation.level"] = "read_committed"
        let consumer = try KafkaConsumer(configuration: configuration)
        defer { try? consumer.close() }
        var ends: [Int32: Int64] = [:]
        var starts: [TopicPartitionOffset] = []
        for (start, high) in try Self.starts(consumer, topic: topic) where high > start.offset {
            ends[start.partition] = high
            starts.append(start)
        }
        guard !starts.isEmpty else { return }
        try consumer.assign(starts)
        var deadline = ContinuousClock.now + .seconds(60)
        while !ends.isEmpty {
            guard ContinuousClock.now < deadline else {
                throw RuntimeError(.kafka, "cannot read '\(topic)' to its end")
            }
            let got = try consumer.poll(maxMessages: 4096, timeout: .milliseconds(100)) { batch in
                for message in batch { body(message.value) }
            }
            if got > 0 { deadline = ContinuousClock.now + .seconds(60) }
            for (partition, end) in ends where (consumer.position(topic: topic, partition: partition) ?? 0) >= end {
                ends[partition] = nil
            }
        }
    }

    /// Each partition of `topic` from its oldest message, with its high watermark.
    static func starts(_ consumer: KafkaConsumer, topic: String) throws -> [(start: TopicPartitionOffset, high: Int64)] {
        let count = try consumer.partitionCount(topic: topic, timeout: .seconds(30))
        return try (0..<Int32(count)).map { partition in
            let (low, high) = try consumer.watermarks(topic: topic, partition: partition, timeout: .seconds(30))
            return (TopicPartitionOffset(topic, partition, offset: low), high)
        }
    }
}
