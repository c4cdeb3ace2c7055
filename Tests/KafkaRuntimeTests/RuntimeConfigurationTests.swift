import Foundation
import KafkaRuntime
import OnlineLearning
import StreamJobs
import StreamPipeline
import StreamCore
import Testing

@Suite("The runtime's configuration file")
struct RuntimeConfigurationTests {
    static let minimal = """
        job: scoring
        name: fraud
        topics: {events: transactions, scores: fraud-scores}
        """

    @Test("Every example file parses, with the values it states")
    func examples() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let fraud = try RuntimeConfiguration.load(file: root.appendingPathComponent("examples/fraud-scoring.yaml").path)
        #expect(fraud.kind == .scoring)
        #expect(fraud.topics.events == "transactions" && fraud.topics.feedback == "labels")
        #expect(fraud.topics.outputs == "fraud-scores" && fraud.topics.alerts == "model-alerts")
        #expect(fraud.topics.deadLetter == "dead-letter")
        #expect(fraud.snapshots.directory == ".streamlearn/snapshots/fraud")
        #expect(fraud.job.scoring?.pipeline.detectors.inputPSIWindow == 5000 && fraud.job.scoring?.pipeline.detectors.f1Window == 2000)
        #expect(fraud.output.mode == .exactlyOnce)
        #expect(fraud.kafka.assignment == .all && fraud.ops.address == "127.0.0.1:9464" && fraud.alertmanager == nil)
        let bandit = try RuntimeConfiguration.load(file: root.appendingPathComponent("examples/bandit.yaml").path)
        #expect(bandit.kind == .bandit && bandit.job.bandit?.policy.arms == 4 && bandit.job.bandit?.policy.policy == .thompson)
        #expect(bandit.job.bandit?.join.defaultReward == 0)
        let features = try RuntimeConfiguration.load(file: root.appendingPathComponent("examples/fraud-features.yaml").path)
        let scoring = try #require(features.job.scoring)
        #expect(scoring.explain == 3 && scoring.pipeline.features.interactions == [["card", "device"], ["card", "country"]])
        let aggregation = try #require(scoring.pipeline.features.aggregation)
        #expect(aggregation.aggregates.count == 9 && aggregation.allowedLatenessMilliseconds == 60_000)
        #expect(aggregation.aggregates[2] == AggregateSpec(
            name: "card_amount_z_30d", key: ["card"], function: .zscore, field: "amount", windowMilliseconds: 30 * 86_400_000))
        #expect(features.job.modelSettings["features.aggregates.card_count_10m"] == "count of events by [card] over 600000 ms in 8 buckets")
        let agent = try RuntimeConfiguration.load(file: root.appendingPathComponent("examples/reinforcement.yaml").path)
        #expect(agent.kind == .reinforcement && agent.job.reinforcement?.states == 16 && agent.topics.policy == "agent-policy")
    }

    @Test("A bandit that forgets, answers sent at once, rewards on the requests topic (one order)")
    func sharedFeedbackTopic() throws {
        let configuration = try RuntimeConfiguration.parse(yaml: """
            job: bandit
            name: ads
            topics: {requests: ads, rewards: ads, decisions: ads-decisions}
            output: {linger_ms: 0}
            model: {policy: thompson, arms: 10, discount: 0.99, propensity_draws: 0}
            """)
        #expect(configuration.sharesFeedbackTopic && configuration.inputTopics == ["ads"])
        #expect(configuration.output.linger == .zero)
        #expect(configuration.job.bandit?.policy.discount == 0.99 && configuration.job.bandit?.policy.propensityDraws == 0)
        #expect(try RuntimeConfiguration.parse(yaml: Self.minimal).output.linger == .milliseconds(20))
        #expect(throws: ConfigurationError(path: "model.discount", reason: "must be > 0, got 0")) {
            try RuntimeConfiguration.parse(yaml: "job: bandit\nname: a\ntopics: {requests: r, rewards: w, decisions: d}\nmodel: {arms: 2, discount: 0}\n")
        }
    }

    @Test("Defaults: embedded brokers, exactly once, a dead-letter topic and snapshot directory named after the job")
    func defaults() throws {
        let configuration = try RuntimeConfiguration.parse(yaml: Self.minimal)
        #expect(configuration.kafka.brokers == "embedded")
        #expect(configuration.kafka.group == "streamlearn-fraud")
        #expect(configuration.kafka.onLostOffsets == .fail)
        #expect(configuration.output.mode == .exactlyOnce)
        #expect(configuration.topics.deadLetter == "fraud.dead-letter")
        #expect(configuration.snapshots.directory == ".streamlearn/snapshots/fraud")
        #expect(configuration.transactionalID == "streamlearn-fraud")
        #expect(configuration.kafka.assignment == .all)
        #expect(configuration.ops.address == "127.0.0.1:9464")
        #expect(configuration.ops.modelRefresh == .milliseconds(100))
        #expect(configuration.alertmanager == nil)
        let set = try RuntimeConfiguration.parse(yaml: Self.minimal + """

            kafka: {assignment: group, unavailable_timeout_s: 2.5, shutdown_timeout_s: 4}
            ops: {address: "[::1]:0", model_refresh_ms: 500, max_connections: 8, idle_timeout_s: 0.5}
            alertmanager: {url: "http://am.example:9093", resend_interval_s: 30, timeout_s: 2}
            """)
        #expect(set.kafka.assignment == .group)
        #expect(OpsAddress(set.ops.address!) == OpsAddress("::1:0"))
        #expect(OpsAddress(set.ops.address!)?.host == "::1")
        #expect(set.ops.modelRefresh == .milliseconds(500))
        #expect(set.kafka.unavailableTimeout == .milliseconds(2500) && set.kafka.shutdownTimeout == .seconds(4))
        #expect(set.ops.maxConnections == 8 && set.ops.idleTimeout == .milliseconds(500))
        #expect(configuration.kafka.unavailableTimeout == .seconds(60) && configuration.kafka.shutdownTimeout == .seconds(30))
        #expect(configuration.ops.maxConnections == 256 && configuration.ops.idleTimeout == .seconds(30))
        #expect(configuration.job.modelSettings == [
            "model.hash_bits": "20", "model.l1": "0.0", "model.l2": "0.0", "model.positive_weight": "1.0",
            "model.standardize": "true", "model.optimizer.kind": "adagrad", "model.optimizer.learning_rate": "0.1",
        ])
        #expect(set.alertmanager?.url.absoluteString == "http://am.example:9093")
        #expect(set.alertmanager?.resendInterval == .seconds(30))
        #expect(set.alertmanager?.timeout == .seconds(2))
        #expect(try RuntimeConfiguration.parse(yaml: Self.minimal + "\nops: {address: off}").ops.address == nil)
    }

    @Test("Bad values and unknown keys stop with the key's path and the reason", arguments: [
        ("model:\n  optimizer: {kind: ftrl, alpha: -1}", "model.optimizer.alpha: must be > 0, got -1"),
        ("model:\n  optimizer: {kind: adam}", "model.optimizer.kind: must be one of 'sgd', 'adagrad', 'ftrl', got 'adam'"),
        ("model:\n  hash_bits: 40", "model.hash_bits: must be at most 30, got 40"),
        ("model:\n  threshold: 0", "model.threshold: must be > 0, got 0"),
        ("kafka:\n  brokerz: localhost:9092", "kafka.brokerz: unknown key (known here: assignment, brokers, group, on_lost_offsets, properties, shutdown_timeout_s, start, unavailable_timeout_s)"),
        ("output:\n  mode: twice", "output.mode: must be one of 'exactly-once', 'at-least-once', got 'twice'"),
        ("detectors:\n  f1_window: 5", "detectors.f1_window: must be at least 10, got 5"),
        ("join:\n  capacity: many", "join.capacity: must be a whole number, got 'many'"),
        ("snapshots:\n  every_seconds: -3", "snapshots.every_seconds: must be > 0, got -3"),
        ("fields:\n  ignore: notalist", "fields.ignore: must be a list, got 'notalist'"),
        ("colour: blue", "colour: unknown key (known here: alertmanager, detectors, features, fields, input, job, join, kafka, model, name, ops, output, snapshots, topics)"),
        ("features:\n  aggregates:\n    - {name: n, key: card, function: count, window: soon}", "features.aggregates[0].window: must be a duration such as 500ms, 30s, 10m, 24h or 30d, got 'soon'"),
        ("features:\n  aggregates:\n    - {name: n, key: card, function: sum, window: 1h}", "features.aggregates[0].field: is required for sum"),
        ("features:\n  aggregates:\n    - {name: n, key: card, function: median, window: 1h}", "features.aggregates[0].function: must be one of 'count', 'sum', 'mean', 'min', 'max', 'std', 'zscore', 'distinct', 'since_last', 'first_seen', 'target_rate', 'target_count', got 'median'"),
        ("features:\n  aggregates:\n    - {name: n, key: card, function: count, window: 31d}", "features.aggregates[0].window: must be from 1 s to 30 days, got 2678400000 ms"),
        ("features:\n  aggregates:\n    - {name: n, key: card, function: count, window: 1h, colour: red}", "features.aggregates[0].colour: unknown key (known here: buckets, field, function, key, name, window)"),
        ("features:\n  capacity: 0", "features.capacity: must be at least 1, got 0"),
        ("model:\n  interactions: [[a]]", "model.interactions[0]: must be a list of two or three field names"),
        ("output:\n  explain: 100", "output.explain: must be at most 64, got 100"),
        ("kafka:\n  assignment: some", "kafka.assignment: must be one of 'all', 'group', got 'some'"),
        ("ops:\n  address: localhost", "ops.address: must be HOST:PORT or 'off', got 'localhost'"),
        ("ops:\n  model_refresh_ms: 0", "ops.model_refresh_ms: must be at least 1, got 0"),
        ("ops:\n  max_connections: 0", "ops.max_connections: must be at least 1, got 0"),
        ("kafka:\n  unavailable_timeout_s: 0", "kafka.unavailable_timeout_s: must be > 0, got 0"),
        ("kafka:\n  shutdown_timeout_s: 7200", "kafka.shutdown_timeout_s: must be <= 3600, got 7200"),
        ("kafka:\n  properties: {client.id: \(String(repeating: "c", count: 256))}", "kafka.properties.client.id: must be at most 255 bytes, got 256"),
        ("alertmanager:\n  url: ftp://am:9093", "alertmanager.url: must be an http(s) URL, got 'ftp://am:9093'"),
        ("alertmanager:\n  url: http://am:9093\n  resend_interval_s: 0", "alertmanager.resend_interval_s: must be > 0, got 0"),
    ])
    func refused(extra: String, message: String) throws {
        #expect(throws: ConfigurationError.self) { try RuntimeConfiguration.parse(yaml: Self.minimal + "\n" + extra) }
        do {
            _ = try RuntimeConfiguration.parse(yaml: Self.minimal + "\n" + extra)
        } catch {
            #expect(error.description == message)
        }
    }

    @Test("Missing required keys and other job kinds' keys are named")
    func required() throws {
        #expect(throws: ConfigurationError(path: "topics.scores", reason: "'..' is not a legal topic name")) {
            try RuntimeConfiguration.parse(yaml: "job: scoring\nname: x\ntopics: {events: a, scores: '..'}")
        }
        #expect(throws: ConfigurationError(path: "topics.scores", reason: "is required")) {
            try RuntimeConfiguration.parse(yaml: "job: scoring\nname: x\ntopics: {events: a}")
        }
        #expect(throws: ConfigurationError(path: "model.arms", reason: "is required (the number of arms, at least 2)")) {
            try RuntimeConfiguration.parse(yaml: "job: bandit\nname: x\ntopics: {requests: a, rewards: b, decisions: c}")
        }
        #expect(throws: ConfigurationError(path: "job", reason: "must be one of 'scoring', 'bandit', 'reinforcement', got 'magic'")) {
            try RuntimeConfiguration.parse(yaml: "job: magic\nname: x")
        }
    }

    @Test("A reinforcement job's ε and α take a number or a schedule, recorded in its model settings")
    func schedules() throws {
        let base = "job: reinforcement\nname: x\ntopics: {requests: a, transitions: b, decisions: c}\n"
        let scheduled = try RuntimeConfiguration.parse(yaml: base + "model: {states: 4, actions: 2, epsilon: {schedule: linear, start: 1, end: 0.05, episodes: 500}, learning_rate: {schedule: inverse_visits}}")
        let agent = try #require(scheduled.job.reinforcement)
        #expect(agent.exploration == .linear(start: 1, end: 0.05, episodes: 500) && agent.stepSizes == .inverseVisits)
        #expect(scheduled.job.modelSettings["model.learning_rate"] == "inverseVisits")
        let plain = try #require(try RuntimeConfiguration.parse(yaml: base + "model: {states: 4, actions: 2, epsilon: 0.2}").job.reinforcement)
        #expect(plain.exploration == nil && plain.epsilon == 0.2)
        #expect(throws: ConfigurationError(path: "model.epsilon.schedule", reason: "must be one of 'constant', 'linear', 'exponential', 'inverse_visits', got 'cosine'")) {
            try RuntimeConfiguration.parse(yaml: base + "model: {states: 4, actions: 2, epsilon: {schedule: cosine}}")
        }
        #expect(throws: ConfigurationError(path: "model.learning_rate.end", reason: "must be > 0, got 0")) {
            try RuntimeConfiguration.parse(yaml: base + "model: {states: 4, actions: 2, learning_rate: {schedule: linear, start: 0.5, end: 0, episodes: 9}}")
        }
        #expect(throws: ConfigurationError(path: "model.epsilon.rate", reason: "is required (the factor per episode)")) {
            try RuntimeConfiguration.parse(yaml: base + "model: {states: 4, actions: 2, epsilon: {schedule: exponential, start: 1, end: 0.1}}")
        }
    }
}
