import StreamPipeline
public import Foundation
import OnlineLearning
import StreamCore
public import StreamJobs
import StreamKafka
internal import Yams

/// Everything `streamlearn run` needs, read from a YAML file (`examples/*.yaml`, every key in
/// `docs/configuration.md`). Unknown keys and bad values stop start-up with the key's path and the reason.
public struct RuntimeConfiguration: Sendable {
    /// How outputs reach Kafka.
    public enum OutputMode: String, Sendable, CaseIterable {
        /// Outputs and the input offsets they cover are committed in one Kafka transaction: a `read_committed`
        /// consumer sees each output exactly once, whatever crashes happen.
        case exactlyOnce = "exactly-once"
        /// Outputs are sent at once; after a crash, the outputs since the last snapshot are sent again (the same
        /// values: the model is deterministic).
        case atLeastOnce = "at-least-once"
    }

    /// Where a job starts on a partition it has no offset for.
    public enum StartPosition: String, Sendable, CaseIterable {
        case earliest
        case latest
    }

    /// Which input partitions an instance reads, and so what a model learns from.
    public enum Assignment: String, Sendable, CaseIterable {
        /// Every partition of the input topics, into one model (default): one instance per job.
        case all
        /// The partitions the consumer group gives this instance; the state is kept per input partition (a
        /// task: partition p of the events topic with partition p of the feedback topic) and moves whole to
        /// another instance on a rebalance. Several instances in one group share the work.
        case group
    }

    /// What to do when a snapshot's offset is no longer in its partition (retention deleted it).
    public enum LostOffsets: String, Sendable, CaseIterable {
        /// Stop with an error and a `data-loss` alert (default): skipping data must be a decision.
        case fail
        /// Continue from the oldest message still there (the lost ones are counted and alerted).
        case earliest
        /// Continue from the newest.
        case latest
    }

    public struct Topics: Sendable, Hashable {
        /// Events (scoring), decision requests (bandit), action requests (reinforcement).
        public var events: String
        /// Labels (scoring), rewards (bandit), transitions (reinforcement). Optional for scoring (inline labels).
        public var feedback: String?
        /// Scores or decisions.
        public var outputs: String
        public var alerts: String?
        public var deadLetter: String
        /// Reinforcement: the greedy policy, published at each snapshot.
        public var policy: String?

        public init(
            events: String, feedback: String? = nil, outputs: String, alerts: String? = nil, deadLetter: String,
            policy: String? = nil
        ) {
            self.events = events
            self.feedback = feedback
            self.outputs = outputs
            self.alerts = alerts
            self.deadLetter = deadLetter
            self.policy = policy
        }
    }

    public struct Kafka: Sendable {
        /// `embedded` for an in-process broker, or a bootstrap list.
        public var brokers: String
        public var group: String
        /// librdkafka properties for every client (SASL, SSL); values of secret keys are never logged.
        public var properties: [String: String] = [:]
        public var start: StartPosition = .earliest
        public var onLostOffsets: LostOffsets = .fail
        public var assignment: Assignment = .all
        /// How long the job keeps retrying while Kafka does not answer before it stops (exit 69). Default 60 s.
        public var unavailableTimeout: Duration = .seconds(60)
        /// The longest a stop (SIGTERM) takes: waits on Kafka end by then. Default 30 s.
        public var shutdownTimeout: Duration = .seconds(30)

        public init(brokers: String = "embedded", group: String) {
            self.brokers = brokers
            self.group = group
        }
    }

    /// The HTTP endpoint for operators: metrics, probes, the model, and synchronous scoring.
    public struct Ops: Sendable, Hashable {
        /// `host:port` to listen on (`nil`: no endpoint). Default `127.0.0.1:9464`.
        public var address: String? = "127.0.0.1:9464"
        /// How often the model that `POST /score` uses is replaced by the live one. Default 100 ms.
        public var modelRefresh: Duration = .milliseconds(100)
        /// Open connections at most; past it new ones wait in the listen backlog, taking no descriptor of the
        /// job's. Lowered to leave 256 descriptors to the job under the process's limit. Default 256.
        public var maxConnections = 256
        /// A connection with no request for this long is closed. Default 30 s.
        public var idleTimeout: Duration = .seconds(30)

        public init() {}
    }

    /// Prometheus Alertmanager, which receives every alert while it fires.
    public struct Alertmanager: Sendable, Hashable {
        public var url: URL
        /// How often a firing alert is sent again (Alertmanager resolves an alert it has not heard of for its
        /// `resolve_timeout`). Default 60 s.
        public var resendInterval: Duration = .seconds(60)
        public var timeout: Duration = .seconds(5)

        public init(url: URL) { self.url = url }
    }

    public struct Output: Sendable, Hashable {
        public var mode: OutputMode = .exactlyOnce
        /// How long a transaction stays open at most (the latency exactly-once adds). Default 100 ms.
        public var commitInterval: Duration = .milliseconds(100)
        /// The most input messages in one transaction. Default 10,000.
        public var maxMessagesPerTransaction = 10_000
        /// The largest input message accepted, in bytes; larger ones go to the dead-letter topic. Default 65,536.
        public var maxMessageBytes = 65_536
        /// How long an answer may wait to fill a batch (`linger.ms`): throughput against latency. Default 20 ms.
        public var linger: Duration = .milliseconds(20)

        public init() {}
    }

    public struct Snapshots: Sendable, Hashable {
        public var directory: String
        public var everyMessages: Int? = 100_000
        public var everySeconds: Double? = 60
        public var keep = 5

        public init(directory: String) { self.directory = directory }
    }

    /// What the job does: its kind with only its own settings.
    public var job: JobConfiguration
    /// The model's name: in alerts, scores, the transactional id and the default progress topic.
    public var name: String
    public var kafka: Kafka
    public var topics: Topics
    public var output = Output()
    public var snapshots: Snapshots
    public var ops = Ops()
    public var alertmanager: Alertmanager?
    /// The schema registry that Avro and JSON Schema inputs are read with (`input.schema_registry`).
    public var schemaRegistry: SchemaRegistrySettings?

    /// A configuration built in code; every other section takes its defaults (docs/configuration.md).
    public init(
        job: JobConfiguration, name: String, kafka: Kafka, topics: Topics, output: Output = Output(),
        snapshots: Snapshots
    ) {
        self.job = job
        self.name = name
        self.kafka = kafka
        self.topics = topics
        self.output = output
        self.snapshots = snapshots
    }

    /// Reads a configuration file.
    public static func load(file: String) throws(ConfigurationError) -> RuntimeConfiguration {
        try ConfigTable.load(file: file, parse: parse(yaml:))
    }

    /// Reads a configuration from YAML text.
    public static func parse(yaml: String) throws(ConfigurationError) -> RuntimeConfiguration {
        try parse(root: ConfigTable.parse(yaml: yaml))
    }

    /// Reads a configuration from a YAML document already parsed (a scenario's agent section).
    package static func parse(root: ConfigTable) throws(ConfigurationError) -> RuntimeConfiguration {
        guard let kind = try root.choice("job", JobKind.self) else {
            throw ConfigurationError(path: "job", reason: "is required (scoring, bandit or reinforcement)")
        }
        let name = try root.requiredString("name")
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw ConfigurationError(path: "name", reason: "may hold letters, digits, '-', '_' and '.' only, got '\(Self.abbreviated(name))'")
        }
        // The name goes into Kafka requests (client, group and transactional ids, the default dead-letter topic).
        guard name.count <= Self.maxNameLength else {
            throw ConfigurationError(path: "name", reason: "must be at most \(Self.maxNameLength) characters, got \(name.count)")
        }

        let kafkaTable = try root.table("kafka")
        var kafka = Kafka(
            brokers: try kafkaTable.string("brokers") ?? "embedded",
            group: try kafkaTable.string("group") ?? "streamlearn-\(name)")
        if kafka.group.utf8.count > Self.maxIdentifierLength {
            throw ConfigurationError(
                path: kafkaTable.keyPath("group"),
                reason: "must be at most \(Self.maxIdentifierLength) bytes, got \(kafka.group.utf8.count)")
        }
        kafka.properties = try kafkaTable.stringMap("properties")
        for key in ["client.id", "group.id", "group.instance.id", "transactional.id"] {
            if let value = kafka.properties[key], value.utf8.count > Self.maxIdentifierLength {
                throw ConfigurationError(
                    path: "kafka.properties.\(key)",
                    reason: "must be at most \(Self.maxIdentifierLength) bytes, got \(value.utf8.count)")
            }
        }
        kafka.start = try kafkaTable.choice("start", StartPosition.self) ?? .earliest
        kafka.onLostOffsets = try kafkaTable.choice("on_lost_offsets", LostOffsets.self) ?? .fail
        kafka.assignment = try kafkaTable.choice("assignment", Assignment.self) ?? .all
        kafka.unavailableTimeout = try kafkaTable.seconds("unavailable_timeout_s", atMost: 86_400) ?? kafka.unavailableTimeout
        kafka.shutdownTimeout = try kafkaTable.seconds("shutdown_timeout_s", atMost: 3_600) ?? kafka.shutdownTimeout
        try kafkaTable.finish()

        let topicsTable = try root.table("topics")
        let feedbackKey = kind == .scoring ? "labels" : kind == .bandit ? "rewards" : "transitions"
        let topics = Topics(
            events: try topicsTable.requiredString(kind == .scoring ? "events" : "requests"),
            feedback: try kind == .scoring ? topicsTable.string(feedbackKey) : topicsTable.requiredString(feedbackKey),
            outputs: try topicsTable.requiredString(kind == .scoring ? "scores" : "decisions"),
            alerts: try topicsTable.string("alerts"),
            deadLetter: try topicsTable.string("dead_letter") ?? "\(name).dead-letter",
            policy: kind == .reinforcement ? try topicsTable.string("policy") : nil)
        try topicsTable.finish()
        for (key, topic) in [
            (kind == .scoring ? "events" : "requests", topics.events), (feedbackKey, topics.feedback),
            (kind == .scoring ? "scores" : "decisions", topics.outputs), ("alerts", topics.alerts),
            ("dead_letter", topics.deadLetter), ("policy", topics.policy),
        ] {
            guard let topic else { continue }
            if let reason = Self.topicNameProblem(topic) {
                throw ConfigurationError(path: topicsTable.keyPath(key), reason: reason)
            }
        }

        let outputTable = try root.table("output")
        var output = Output()
        output.mode = try outputTable.choice("mode", OutputMode.self) ?? .exactlyOnce
        if let ms = try outputTable.int("commit_interval_ms", min: 1, max: 60_000) { output.commitInterval = .milliseconds(ms) }
        output.maxMessagesPerTransaction = try outputTable.int("max_messages_per_transaction", min: 1) ?? 10_000
        output.maxMessageBytes = try outputTable.int("max_message_bytes", min: 64, max: 64 << 20) ?? 65_536
        if let ms = try outputTable.int("linger_ms", min: 0, max: 10_000) { output.linger = .milliseconds(ms) }
        let explain = try outputTable.int("explain", min: 0, max: 64) ?? 0
        if explain > 0 && kind != .scoring {
            throw ConfigurationError(path: outputTable.keyPath("explain"), reason: "explains scores: only for scoring jobs")
        }
        try outputTable.finish()

        let snapshotTable = try root.table("snapshots")
        var snapshots = Snapshots(directory: try snapshotTable.string("directory") ?? ".streamlearn/snapshots/\(name)")
        if snapshotTable.has("every_messages") { snapshots.everyMessages = try snapshotTable.int("every_messages", min: 1) }
        if snapshotTable.has("every_seconds") { snapshots.everySeconds = try snapshotTable.double("every_seconds", above: 0) }
        snapshots.keep = try snapshotTable.int("keep", min: 1) ?? 5
        try snapshotTable.finish()

        var configuration = RuntimeConfiguration(
            job: .reinforcement(.init(states: 1, actions: 1)), name: name, kafka: kafka, topics: topics,
            output: output, snapshots: snapshots)

        let opsTable = try root.table("ops")
        if let address = try opsTable.string("address") {
            if address == "off" {
                configuration.ops.address = nil
            } else {
                guard OpsAddress(address) != nil else {
                    throw ConfigurationError(path: opsTable.keyPath("address"), reason: "must be HOST:PORT or 'off', got '\(address)'")
                }
                configuration.ops.address = address
            }
        }
        if let ms = try opsTable.int("model_refresh_ms", min: 1, max: 60_000) { configuration.ops.modelRefresh = .milliseconds(ms) }
        configuration.ops.maxConnections = try opsTable.int("max_connections", min: 1, max: 65_536) ?? 256
        configuration.ops.idleTimeout = try opsTable.seconds("idle_timeout_s", atMost: 3_600) ?? configuration.ops.idleTimeout
        try opsTable.finish()

        let alertmanagerTable = try root.table("alertmanager")
        if let url = try alertmanagerTable.httpURL("url") {
            var alertmanager = Alertmanager(url: url)
            alertmanager.resendInterval = try alertmanagerTable.seconds("resend_interval_s") ?? alertmanager.resendInterval
            alertmanager.timeout = try alertmanagerTable.seconds("timeout_s") ?? alertmanager.timeout
            configuration.alertmanager = alertmanager
        }
        try alertmanagerTable.finish()

        let (formats, registry) = try readInput(try root.table("input"), kind: kind)
        configuration.schemaRegistry = registry

        let joinTable = try root.table("join")
        var join = JobConfiguration.Join()
        join.capacity = try joinTable.int("capacity", min: 1) ?? 100_000
        if joinTable.has("max_age_messages") { join.maxAgeMessages = try joinTable.int("max_age_messages", min: 1) }
        if let ms = try joinTable.int("max_age_ms", min: 1) {
            join.maxAgeMilliseconds = Int64(ms)
            if !joinTable.has("max_age_messages") { join.maxAgeMessages = nil }
        }
        if kind == .scoring {
            if let label = try joinTable.int("default_label", min: 0, max: 1) { join.defaultLabel = label == 1 }
        }
        if kind == .bandit { join.defaultReward = try joinTable.double("default_reward") }
        try joinTable.finish()

        switch kind {
        case .scoring:
            var scoring = try readScoring(root, join: join, maxDocumentBytes: output.maxMessageBytes)
            scoring.explain = explain
            (scoring.eventsFormat, scoring.labelsFormat) = formats
            configuration.job = .scoring(scoring)
        case .bandit:
            configuration.job = .bandit(.init(policy: try readBandit(root), join: join))
        case .reinforcement:
            configuration.job = .reinforcement(try readReinforcement(root))
        }
        try root.finish()
        return configuration
    }

    /// `input`: each input topic's format, and the schema registry the Confluent wire formats need.
    private static func readInput(
        _ table: ConfigTable, kind: JobKind
    ) throws(ConfigurationError) -> ((EventFormat, EventFormat), SchemaRegistrySettings?) {
        let events = try table.choice("events", EventFormat.self) ?? .json
        let labels = try table.choice("labels", EventFormat.self) ?? .json
        if kind != .scoring {
            for (key, format) in [("events", events), ("labels", labels)] where format != .json || table.has(key) {
                throw ConfigurationError(
                    path: table.keyPath(key), reason: "input formats are for scoring jobs; a \(kind.rawValue) job reads JSON")
            }
        }
        var settings: SchemaRegistrySettings?
        if let registry = try table.optionalTable("schema_registry") {
            guard let url = try registry.httpURL("url") else {
                throw ConfigurationError(path: registry.keyPath("url"), reason: "is required")
            }
            var registrySettings = SchemaRegistrySettings(url: url)
            if let ms = try registry.int("timeout_ms", min: 1, max: 600_000) { registrySettings.timeout = .milliseconds(ms) }
            registrySettings.cache = try registry.int("cache", min: 1, max: 1_000_000) ?? registrySettings.cache
            if let auth = try registry.optionalTable("basic_auth") {
                registrySettings.user = try auth.requiredString("user")
                let fromEnvironment = try auth.string("password_env")
                let fromFile = try auth.string("password_file")
                switch (fromEnvironment, fromFile) {
                case (let name?, nil):
                    guard let value = ProcessInfo.processInfo.environment[name] else {
                        throw ConfigurationError(
                            path: auth.keyPath("password_env"), reason: "the environment variable '\(name)' is not set")
                    }
                    registrySettings.password = value
                case (nil, let file?):
                    guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8)
                    else {
                        throw ConfigurationError(path: auth.keyPath("password_file"), reason: "cannot read '\(file)'")
                    }
                    registrySettings.password = text.trimmingCharacters(in: .newlines)
                default:
                    throw ConfigurationError(
                        path: auth.keyPath("password_env"),
                        reason: "give the password with exactly one of password_env and password_file (never in the file itself)")
                }
                try auth.finish()
            }
            try registry.finish()
            settings = registrySettings
        }
        if settings == nil {
            for (key, format) in [("events", events), ("labels", labels)] where format.usesRegistry {
                throw ConfigurationError(
                    path: table.keyPath("schema_registry"),
                    reason: "is required: \(table.keyPath(key)) is \(format.rawValue), whose messages name a schema id")
            }
        }
        try table.finish()
        return ((events, labels), settings)
    }

    private static func readScoring(
        _ root: ConfigTable, join settings: JobConfiguration.Join, maxDocumentBytes: Int
    ) throws(ConfigurationError) -> JobConfiguration.Scoring {
        var pipeline = LearningPipelineConfiguration()
        var decoder = EventDecoderConfiguration()
        decoder.maxDocumentBytes = maxDocumentBytes
        let model = try root.table("model")
        let optimizer = try model.table("optimizer")
        let kind = try optimizer.choice("kind", Optimizer.Kind.self) ?? .adagrad
        pipeline.model.optimizer = .named(
            kind,
            learningRate: kind == .ftrl ? nil : try optimizer.double("learning_rate", above: 0),
            power: kind == .sgd ? try optimizer.double("power", atLeast: 0) : nil,
            alpha: kind == .ftrl ? try optimizer.double("alpha", above: 0) : nil,
            beta: kind == .ftrl ? try optimizer.double("beta", atLeast: 0) : nil)
        try optimizer.finish()
        pipeline.model.l1 = try model.double("l1", atLeast: 0) ?? 0
        pipeline.model.l2 = try model.double("l2", atLeast: 0) ?? 0
        pipeline.model.positiveClassWeight = try model.double("positive_weight", above: 0) ?? 1
        pipeline.model.standardize = try model.bool("standardize") ?? true
        let bits = try model.int("hash_bits", min: 1, max: 30) ?? 20
        pipeline.model.hashBits = bits
        pipeline.features.hashBits = bits
        pipeline.threshold = try model.double("threshold", above: 0, atMost: 1) ?? 0.5
        pipeline.features.interactions = try FeaturesReader.interactions(model, "interactions")
        try model.finish()
        try FeaturesReader.read(try root.table("features"), into: &pipeline.features)

        let fields = try root.table("fields")
        decoder.idField = try fields.string("id") ?? "id"
        decoder.labelField = try fields.string("label") ?? "label"
        decoder.timestampField = try fields.string("timestamp") ?? "ts"
        decoder.featuresField = try fields.string("features") ?? "features"
        decoder.ignoredFields = Set(try fields.strings("ignore") ?? [])
        try fields.finish()

        let detectors = try root.table("detectors")
        pipeline.detectors.f1Window = try detectors.int("f1_window", min: 10)
        pipeline.detectors.scorePSIWindow = try detectors.int("score_psi_window", min: 10)
        pipeline.detectors.inputPSIWindow = try detectors.int("input_psi_window", min: 10)
        pipeline.detectors.adwin = try detectors.bool("adwin") ?? false
        pipeline.detectors.pageHinkley = try detectors.bool("page_hinkley") ?? false
        pipeline.detectors.watchAfter = try detectors.int("watch_after", min: 0)
        try detectors.finish()

        var join = LabelJoin.Configuration()
        join.capacity = settings.capacity
        if let ms = settings.maxAgeMilliseconds {
            join.maxAge = .milliseconds(ms)
        } else if let messages = settings.maxAgeMessages {
            join.maxAge = .events(messages)
        }
        if let label = settings.defaultLabel { join.expiry = .learn(label: label) }
        pipeline.labelJoin = join
        do {
            try pipeline.validate()
        } catch {
            throw ConfigurationError(path: "", reason: error.message)
        }
        return JobConfiguration.Scoring(pipeline: pipeline, decoder: decoder)
    }

    private static func readBandit(_ root: ConfigTable) throws(ConfigurationError) -> BanditSettings {
        let model = try root.table("model")
        guard let arms = try model.int("arms", min: 2, max: 1_000) else {
            throw ConfigurationError(path: "model.arms", reason: "is required (the number of arms, at least 2)")
        }
        var bandit = BanditSettings(arms: arms)
        bandit.policy = try model.choice("policy", BanditSettings.Policy.self) ?? .epsilonGreedy
        bandit.epsilon = try model.double("epsilon", atLeast: 0, atMost: 1) ?? 0.1
        bandit.exploration = try model.double("exploration", above: 0) ?? 1
        bandit.gamma = try model.double("gamma", above: 0, atMost: 1) ?? 0.1
        bandit.alpha = try model.double("alpha", above: 0) ?? 1
        bandit.dimension = try model.int("dimension", min: 1, max: 1_000) ?? 0
        bandit.discount = try model.double("discount", above: 0, atMost: 1) ?? 1
        bandit.propensityDraws = try model.int("propensity_draws", min: 0, max: 1_000_000) ?? 1000
        bandit.seed = UInt64(try model.int("seed", min: 0) ?? 1)
        if bandit.policy == .linucb && bandit.dimension == 0 {
            throw ConfigurationError(path: "model.dimension", reason: "is required for linucb (the context's length)")
        }
        try model.finish()
        return bandit
    }

    private static func readReinforcement(_ root: ConfigTable) throws(ConfigurationError) -> JobConfiguration.Reinforcement {
        let model = try root.table("model")
        let observations = try readObservations(model)
        let states: Int
        if observations != nil {
            if model.has("states") {
                throw ConfigurationError(
                    path: "model.states", reason: "does not apply with model.observations (continuous observations have no states)")
            }
            states = 0
        } else {
            guard let count = try model.int("states", min: 1, max: 10_000_000) else {
                throw ConfigurationError(
                    path: "model.states", reason: "is required (the number of states; or model.observations for continuous ones)")
            }
            states = count
        }
        guard let actions = try model.int("actions", min: 1, max: 10_000) else {
            throw ConfigurationError(path: "model.actions", reason: "is required (the number of actions)")
        }
        var agent = JobConfiguration.Reinforcement(states: states, actions: actions)
        agent.observations = observations
        agent.algorithm = try model.choice("algorithm", TabularAgent.Algorithm.self) ?? .qLearning
        if let schedule = try schedule(model, "learning_rate", low: 0, lowInclusive: false) {
            agent.stepSizes = switch schedule {
            case .constant(let value): .constant(value)
            case .linear(let start, let end, let episodes): .linear(start: start, end: end, episodes: episodes)
            case .exponential(let start, let end, let rate): .exponential(start: start, end: end, rate: rate)
            case .inverseVisits: .inverseVisits
            }
        } else {
            agent.learningRate = try model.double("learning_rate", above: 0, atMost: 1) ?? 0.1
        }
        agent.discount = try model.double("discount", atLeast: 0, atMost: 1) ?? 0.99
        if let schedule = try schedule(model, "epsilon", low: 0, lowInclusive: true) {
            agent.exploration = schedule
        } else {
            agent.epsilon = try model.double("epsilon", atLeast: 0, atMost: 1) ?? 0.1
        }
        agent.evaluation = try model.bool("evaluation") ?? false
        agent.seed = UInt64(try model.int("seed", min: 0) ?? 1)
        try model.finish()
        return agent
    }

    /// The observation boxes of Simulation's MountainCar and CartPole (a test holds them equal).
    package static let namedObservations: [String: (low: [Double], high: [Double])] = [
        "mountaincar": ([-1.2, -0.07], [0.6, 0.07]),
        "cartpole": ([-4.8, -3, -0.42, -3.5], [4.8, 3, 0.42, 3.5]),
    ]

    /// `model.observations`: a continuous environment's name (`mountaincar`, `cartpole`: its observation box) or
    /// `{low: [...], high: [...]}`, tile-coded with `model.tilings` and `model.tiles` (8 and 8); `nil` when absent.
    private static func readObservations(_ model: ConfigTable) throws(ConfigurationError) -> TileCoder? {
        guard let node = model.rawNode("observations") else {
            for key in ["tilings", "tiles"] where model.has(key) {
                throw ConfigurationError(path: model.keyPath(key), reason: "applies with model.observations (continuous observations) only")
            }
            return nil
        }
        let low: [Double]
        let high: [Double]
        if case .mapping = node {
            let box = try model.table("observations")
            guard let lows = try box.doubles("low"), let highs = try box.doubles("high") else {
                throw ConfigurationError(path: box.keyPath(box.has("low") ? "high" : "low"), reason: "is required (a list of numbers, one per observation value)")
            }
            try box.finish()
            (low, high) = (lows, highs)
        } else {
            switch try model.string("observations") {
            case let name? where namedObservations[name] != nil: (low, high) = namedObservations[name]!
            case let other:
                throw ConfigurationError(
                    path: model.keyPath("observations"),
                    reason: "must be mountaincar, cartpole or {low: [...], high: [...]}, got '\(other ?? "")'")
            }
        }
        let tilings = try model.int("tilings", min: 1, max: 1_024) ?? 8
        let tiles = try model.int("tiles", min: 1, max: 10_000) ?? 8
        do throws(LearningError) {
            return try TileCoder(low: low, high: high, tilings: tilings, tiles: tiles)
        } catch {
            guard case .invalidConfiguration(let key, let reason) = error else {
                throw ConfigurationError(path: model.keyPath("observations"), reason: "\(error)")
            }
            throw ConfigurationError(path: model.keyPath(key == "tilings" || key == "tiles" ? key : "observations.\(key)"), reason: reason)
        }
    }

    /// `model.epsilon` or `model.learning_rate` given as a schedule (a mapping), or `nil` for a number:
    /// `{schedule: constant, value: V}`, `{schedule: linear, start: S, end: E, episodes: N}`,
    /// `{schedule: exponential, start: S, end: E, rate: R}` or `{schedule: inverse_visits}`. Values are in
    /// (0, 1] for α (`lowInclusive: false`), [0, 1] for ε. (Read as ε's type; α's has the same cases.)
    private static func schedule(
        _ model: ConfigTable, _ key: String, low: Double, lowInclusive: Bool
    ) throws(ConfigurationError) -> ExplorationSchedule? {
        guard let node = model.rawNode(key), case .mapping = node else { return nil }
        let table = try model.table(key)
        func value(_ name: String) throws(ConfigurationError) -> Double {
            let number = lowInclusive
                ? try table.double(name, atLeast: low, atMost: 1) : try table.double(name, above: low, atMost: 1)
            guard let number else { throw ConfigurationError(path: table.keyPath(name), reason: "is required") }
            return number
        }
        let kind = try table.requiredString("schedule")
        let schedule: ExplorationSchedule
        switch kind {
        case "constant": schedule = .constant(try value("value"))
        case "linear":
            guard let episodes = try table.int("episodes", min: 0) else {
                throw ConfigurationError(path: table.keyPath("episodes"), reason: "is required (the episodes of the decay)")
            }
            schedule = .linear(start: try value("start"), end: try value("end"), episodes: episodes)
        case "exponential":
            guard let rate = try table.double("rate", above: 0, atMost: 1) else {
                throw ConfigurationError(path: table.keyPath("rate"), reason: "is required (the factor per episode)")
            }
            schedule = .exponential(start: try value("start"), end: try value("end"), rate: rate)
        case "inverse_visits": schedule = .inverseVisits
        default:
            throw ConfigurationError(
                path: table.keyPath("schedule"),
                reason: "must be one of 'constant', 'linear', 'exponential', 'inverse_visits', got '\(kind)'")
        }
        try table.finish()
        return schedule
    }

    /// The longest job `name`: with its prefixes and suffixes it stays within Kafka's 249-character topic names
    /// (`NAME.dead-letter`) and well within every id a Kafka request carries.
    public static let maxNameLength = 100
    /// The longest group, client or transactional id (Kafka sends them as 16-bit-length strings).
    public static let maxIdentifierLength = 255

    /// Why `name` is not a legal Kafka topic name, or `nil`: 1 to 249 of ASCII letters, digits, '.', '_' and '-',
    /// not '.' or '..'.
    static func topicNameProblem(_ name: String) -> String? {
        if name.utf8.count > 249 { return "a topic name must be at most 249 characters, got \(name.utf8.count)" }
        if name == "." || name == ".." { return "'\(name)' is not a legal topic name" }
        guard name.utf8.allSatisfy({ $0 < 128 && (Character(UnicodeScalar($0)).isLetter || Character(UnicodeScalar($0)).isNumber || "._-".utf8.contains($0)) }) else {
            return "a topic name may hold ASCII letters, digits, '.', '_' and '-' only, got '\(abbreviated(name))'"
        }
        return nil
    }

    /// `text`, cut to 60 characters for an error message.
    static func abbreviated(_ text: String) -> String {
        text.count <= 60 ? text : "\(text.prefix(60))… (\(text.count) characters)"
    }

    /// The job's kind.
    public var kind: JobKind { job.kind }

    /// What the job knows of where it runs.
    public var jobContext: JobContext {
        JobContext(name: name, sharesFeedbackTopic: sharesFeedbackTopic, policyTopic: topics.policy)
    }

    /// The topics the job writes.
    public var outputTopics: [String] {
        [topics.outputs, topics.deadLetter, topics.alerts, topics.policy].compactMap { $0 }
    }

    /// The topics the job reads.
    public var inputTopics: [String] {
        [topics.events] + (topics.feedback.flatMap { $0 == topics.events ? nil : [$0] } ?? [])
    }

    /// Requests and feedback come on one topic (in one order): a message's content says which it is (a reward,
    /// a transition with `next_state`, a label line).
    public var sharesFeedbackTopic: Bool { topics.feedback == topics.events }

    /// The producer's transactional id: one per job (a restarted instance fences its predecessor).
    public var transactionalID: String { "streamlearn-\(name)" }
}

/// A `host:port` to listen on.
public struct OpsAddress: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65_535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }
}

