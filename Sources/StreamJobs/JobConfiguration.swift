public import OnlineLearning
public import StreamCore
public import StreamPipeline

/// The kinds of job, by the names the YAML key `job` takes.
public enum JobKind: String, Sendable, Hashable, CaseIterable {
    /// Events in, scores out, labels learned (``ScoringJob``).
    case scoring
    /// Decision requests in, arms out, rewards learned (``BanditJob``).
    case bandit
    /// Action requests in, actions out, transitions learned (``ReinforcementJob``).
    case reinforcement
}

/// What a job does, as data: its kind, carrying only that kind's settings. Built from a configuration file by the
/// runtime, or in code.
public enum JobConfiguration: Sendable {
    case scoring(Scoring)
    case bandit(Bandit)
    case reinforcement(Reinforcement)

    /// The scoring job: the learning pipeline (model, features, detectors, label join) and how events decode.
    public struct Scoring: Sendable {
        public var pipeline: LearningPipelineConfiguration
        public var decoder: EventDecoderConfiguration
        /// Each score message lists this many of the largest contributions to its score (`output.explain`).
        /// Default 0: none.
        public var explain = 0
        /// How the events topic's and the labels topic's messages are written (`input.events`, `input.labels`).
        public var eventsFormat = EventFormat.json
        public var labelsFormat = EventFormat.json

        public init(pipeline: LearningPipelineConfiguration = .init(), decoder: EventDecoderConfiguration = .init()) {
            self.pipeline = pipeline
            self.decoder = decoder
        }
    }

    /// The bandit job: its policy and how long a decision waits for its reward.
    public struct Bandit: Sendable, Hashable {
        public var policy: BanditSettings
        public var join: Join

        public init(policy: BanditSettings, join: Join = Join()) {
            self.policy = policy
            self.join = join
        }
    }

    /// The reinforcement job: a tabular agent, or a linear one over tile-coded observations.
    public struct Reinforcement: Sendable, Hashable {
        public var algorithm: TabularAgent.Algorithm = .qLearning
        /// The states of a tabular agent (0 with ``observations``).
        public var states: Int
        /// Continuous observations (`model.observations`): the tile coder of a linear agent; `nil`: tabular.
        public var observations: TileCoder?
        public var actions: Int
        public var learningRate = 0.1
        public var discount = 0.99
        public var epsilon = 0.1
        /// ε on a schedule (`model.epsilon` as a mapping); `nil`: ``epsilon`` always.
        public var exploration: ExplorationSchedule?
        /// α on a schedule (`model.learning_rate` as a mapping); `nil`: ``learningRate`` always.
        public var stepSizes: StepSizeSchedule?
        /// Answer with the greedy action (no exploration) and learn nothing from the answer.
        public var evaluation = false
        public var seed: UInt64 = 1

        public init(states: Int, actions: Int) {
            self.states = states
            self.actions = actions
        }
    }

    /// How long what waits for its feedback is kept (events for labels, decisions for rewards).
    public struct Join: Sendable, Hashable {
        public var capacity = 100_000
        public var maxAgeMessages: Int? = 100_000
        public var maxAgeMilliseconds: Int64?
        /// Scoring: the label learned for an event whose label never came (`nil`: drop it).
        public var defaultLabel: Bool?
        /// Bandit: the reward learned for a decision whose reward never came (`nil`: drop it).
        public var defaultReward: Double?

        public init() {}
    }

    public var kind: JobKind {
        switch self {
        case .scoring: .scoring
        case .bandit: .bandit
        case .reinforcement: .reinforcement
        }
    }

    /// The settings that shape a job's learned state, by their key paths: each snapshot records them, and a
    /// restart whose configuration changes one is refused with both values.
    public var modelSettings: [String: String] {
        switch self {
        case .scoring(let scoring):
            let model = scoring.pipeline.model
            return [
                "model.hash_bits": "\(model.hashBits)", "model.l1": "\(model.l1)", "model.l2": "\(model.l2)",
                "model.positive_weight": "\(model.positiveClassWeight)", "model.standardize": "\(model.standardize)",
            ].merging(model.optimizer.settings(prefix: "model.optimizer.")) { first, _ in first }
                .merging(Self.featureSettings(scoring.pipeline.features)) { first, _ in first }
        case .bandit(let bandit):
            return bandit.policy.modelSettings
        case .reinforcement(let agent):
            return [
                "model.algorithm": agent.algorithm.rawValue, "model.states": "\(agent.states)",
                "model.actions": "\(agent.actions)",
                "model.learning_rate": agent.stepSizes.map { "\($0)" } ?? "\(agent.learningRate)",
                "model.discount": "\(agent.discount)", "model.epsilon": agent.exploration.map { "\($0)" } ?? "\(agent.epsilon)",
                "model.seed": "\(agent.seed)",
            ].merging(agent.observations.map {
                ["model.observations": "\($0.low) \($0.high)", "model.tilings": "\($0.tilings)", "model.tiles": "\($0.tiles)"]
            } ?? [:]) { first, _ in first }
        }
    }

    /// Crosses and aggregates shape the state too (an aggregate's record layout, the dense schema).
    static func featureSettings(_ features: FeatureSpaceConfiguration) -> [String: String] {
        var settings: [String: String] = [:]
        if !features.interactions.isEmpty {
            settings["model.interactions"] = features.interactions.map { "[\($0.joined(separator: ", "))]" }
                .joined(separator: ", ")
        }
        if let aggregation = features.aggregation {
            for spec in aggregation.aggregates {
                settings["features.aggregates.\(spec.name)"] =
                    "\(spec.function.rawValue) of \(spec.field ?? "events") by [\(spec.key.joined(separator: ", "))] over "
                    + "\(spec.windowMilliseconds) ms in \(spec.buckets) buckets"
            }
            settings["features.allowed_lateness"] = "\(aggregation.allowedLatenessMilliseconds) ms"
            settings["features.capacity"] = "\(aggregation.capacity)"
            settings["features.max_distinct"] = "\(aggregation.maxDistinct)"
            settings["features.prior"] = "\(aggregation.prior)"
        }
        return settings
    }

    /// The most items the job's join holds at once (events waiting for labels, decisions for rewards); `nil`: the
    /// job has no join.
    public var joinRoom: Int? {
        switch self {
        case .scoring(let scoring):
            guard let join = scoring.pipeline.labelJoin else { return nil }
            if case .events(let count) = join.maxAge { return min(join.capacity, count) }
            return join.capacity
        case .bandit(let bandit):
            return min(bandit.join.capacity, bandit.join.maxAgeMessages ?? .max)
        case .reinforcement:
            return nil
        }
    }

    /// The scoring section (`nil` for other kinds).
    public var scoring: Scoring? {
        if case .scoring(let scoring) = self { scoring } else { nil }
    }

    /// The bandit section (`nil` for other kinds).
    public var bandit: Bandit? {
        if case .bandit(let bandit) = self { bandit } else { nil }
    }

    /// The reinforcement section (`nil` for other kinds).
    public var reinforcement: Reinforcement? {
        if case .reinforcement(let agent) = self { agent } else { nil }
    }

    /// Sets the seed of a job that draws random numbers (bandit and reinforcement); scoring has none.
    public mutating func reseed(_ seed: UInt64) {
        switch self {
        case .scoring: break
        case .bandit(var bandit):
            bandit.policy.seed = seed
            self = .bandit(bandit)
        case .reinforcement(var agent):
            agent.seed = seed
            self = .reinforcement(agent)
        }
    }
}

/// What a job needs to know of where it runs: its name and how its inputs are laid out.
public struct JobContext: Sendable, Hashable {
    /// The model's name (in alerts, answers and the policy topic's key).
    public var name: String
    /// Requests and feedback come on one topic: a message's content says which it is.
    public var sharesFeedbackTopic: Bool
    /// Reinforcement: where the greedy policy is published at each snapshot.
    public var policyTopic: String?

    public init(name: String, sharesFeedbackTopic: Bool = false, policyTopic: String? = nil) {
        self.name = name
        self.sharesFeedbackTopic = sharesFeedbackTopic
        self.policyTopic = policyTopic
    }
}
