public import StreamCore

/// One step of experience with continuous observations: as ``Transition``, with observation vectors for states.
public struct ContinuousTransition: Sendable, Hashable, Codable {
    public var observation: [Double]
    public var action: Int
    public var reward: Double
    public var nextObservation: [Double]
    public var terminated: Bool
    public var truncated: Bool
    public var nextAction: Int?

    public init(
        observation: [Double], action: Int, reward: Double, nextObservation: [Double], terminated: Bool,
        truncated: Bool = false, nextAction: Int? = nil
    ) {
        self.observation = observation
        self.action = action
        self.reward = reward
        self.nextObservation = nextObservation
        self.terminated = terminated
        self.truncated = truncated
        self.nextAction = nextAction
    }
}

/// Linear temporal-difference control over tile-coded observations (Sutton and Barto 2018, §10.1, episodic
/// semi-gradient SARSA; also Q-learning and Expected SARSA): Q(s, a) = Σ over the active tiles f of s of
/// w[f, a], and each update moves the active tiles' weights of the action taken by α/tilings of the TD error.
/// ε-greedy on the same schedules as ``TabularAgent`` (over episodes; per-visit schedules need a table).
///
/// - Complexity: ``predict(_:)`` and ``learn(_:)`` O(tilings × (dimensions + actions)); no allocation. The weights
///   are features × actions doubles, feature-major (an observation's action values are adjacent).
public struct TileCodedAgent: OnlineLearner, Hashable {
    public static let snapshotKind = "tile-coded-agent"
    public static let snapshotVersion = 1

    public let algorithm: TabularAgent.Algorithm
    public let coder: TileCoder
    public let actionCount: Int
    /// The step size α of a whole update (each of the `tilings` active weights moves α/tilings); with
    /// ``stepSizes``, the schedule's first value.
    public let learningRate: Double
    /// How α changes over episodes (`nil`: ``learningRate`` always).
    public let stepSizes: StepSizeSchedule?
    public let discount: Double
    public let exploration: ExplorationSchedule
    /// w[feature · actions + action].
    public private(set) var weights: [Double]
    /// Finished episodes (terminated or truncated transitions).
    public private(set) var episodes = 0
    public private(set) var random: SeededRandom

    public init(
        algorithm: TabularAgent.Algorithm = .sarsa, coder: TileCoder, actions: Int, learningRate: Double = 0.5,
        discount: Double = 1, exploration: ExplorationSchedule = .constant(0), stepSizes: StepSizeSchedule? = nil,
        initialValue: Double = 0, seed: UInt64
    ) throws(LearningError) {
        guard actions >= 1 else { throw .invalidConfiguration(key: "actions", reason: "must be at least 1, got \(actions)") }
        guard learningRate > 0, learningRate <= 1 else {
            throw .invalidConfiguration(key: "alpha", reason: "must be in (0, 1], got \(learningRate)")
        }
        guard (0...1).contains(discount) else {
            throw .invalidConfiguration(key: "gamma", reason: "must be in [0, 1], got \(discount)")
        }
        guard initialValue.isFinite else {
            throw .invalidConfiguration(key: "initial_value", reason: "must be finite, got \(initialValue)")
        }
        guard coder.featureCount * actions <= TileCoder.maxFeatures * 4 else {
            throw .invalidConfiguration(
                key: "tiles", reason: "\(coder.featureCount) features × \(actions) actions is too many weights")
        }
        try exploration.validate()
        try stepSizes?.validate()
        if exploration == .inverseVisits {
            throw .invalidConfiguration(key: "epsilon", reason: "inverse-visits counts visits to states, which tile coding has not")
        }
        if stepSizes == .inverseVisits {
            throw .invalidConfiguration(key: "alpha", reason: "inverse-visits counts updates of state-action pairs, which tile coding has not")
        }
        self.algorithm = algorithm
        self.coder = coder
        actionCount = actions
        self.learningRate = learningRate
        self.stepSizes = stepSizes
        self.discount = discount
        self.exploration = exploration
        // Each Q-value is the sum of `tilings` weights.
        weights = Array(repeating: initialValue / Double(coder.tilings), count: coder.featureCount * actions)
        random = SeededRandom(seed: seed)
    }

    /// The current ε.
    public var epsilon: Double { exploration.epsilon(afterEpisodes: episodes) }

    /// Calls `body` with the action values of `observation` (``TileCoder/dimensions`` values).
    @inline(__always)
    func withValues<R>(_ observation: [Double], _ body: (UnsafeMutableBufferPointer<Double>) -> R) -> R {
        withFeatures(observation) { features in withValues(features: features, body) }
    }

    /// Calls `body` with the active features of `observation`.
    @inline(__always)
    func withFeatures<R, E: Error>(_ observation: [Double], _ body: (UnsafeBufferPointer<Int32>) throws(E) -> R) throws(E) -> R {
        try withUnsafeTemporaryAllocation(of: Int32.self, capacity: coder.tilings) { features throws(E) in
            observation.withUnsafeBufferPointer { coder.encode($0, into: features) }
            return try body(UnsafeBufferPointer(features))
        }
    }

    /// Calls `body` with the action values of the observation whose active features (``TileCoder/encode(_:into:)``)
    /// are `features`.
    @inline(__always)
    func withValues<R>(features: UnsafeBufferPointer<Int32>, _ body: (UnsafeMutableBufferPointer<Double>) -> R) -> R {
        let actions = actionCount
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: actions) { q in
            q.initialize(repeating: 0)
            weights.withUnsafeBufferPointer { w in
                for feature in features {
                    let base = Int(feature) &* actions
                    for action in 0..<actions { q[action] += w[base &+ action] }
                }
            }
            return body(q)
        }
    }

    /// Q(observation, action).
    public func value(_ observation: [Double], action: Int) -> Double {
        withValues(observation) { $0[action] }
    }

    /// The first action with the highest value (the evaluation policy). An observation of the wrong size gets
    /// action 0.
    public func greedyAction(_ observation: [Double]) -> Int {
        guard observation.count == coder.dimensions else { return 0 }
        return withFeatures(observation) { greedyAction(features: $0) }
    }

    /// ``greedyAction(_:)`` for an observation's active features.
    public func greedyAction(features: UnsafeBufferPointer<Int32>) -> Int {
        withValues(features: features) { q in Argmax.first(actionCount) { q[$0] } }
    }

    /// An ε-greedy action: uniform with probability ε, else a greedy one (ties broken uniformly). An observation
    /// of the wrong size gets action 0.
    public mutating func predict(_ observation: [Double]) -> Int {
        guard observation.count == coder.dimensions else { return 0 }
        return withFeatures(observation) { predict(features: $0) }
    }

    /// ``predict(_:)`` for an observation's active features.
    public mutating func predict(features: UnsafeBufferPointer<Int32>) -> Int {
        if random.nextUnitDouble() < epsilon {
            return Int(random.next() % UInt64(actionCount))
        }
        let actions = actionCount
        var random = self.random
        defer { self.random = random }
        return withValues(features: features) { q in
            let value = { (action: Int) in q[action] }
            let (best, ties) = Argmax.maximum(actions, value)
            return Argmax.uniformTie(actions, best: best, ties: ties, random: &random, value)
        }
    }

    /// One semi-gradient TD update. Throws (changing nothing) for an observation of the wrong size or with a value
    /// beyond ±1e100, an action outside the agent's, a non-finite reward, a SARSA transition without
    /// `nextAction` that did not terminate, or an update that would leave a weight non-finite.
    public mutating func learn(_ transition: ContinuousTransition) throws(LearningError) {
        let dimensions = coder.dimensions
        guard transition.observation.count == dimensions, transition.nextObservation.count == dimensions else {
            throw .outOfRange(
                "observations need \(dimensions) values, got \(transition.observation.count) and \(transition.nextObservation.count)")
        }
        try LearnableValue.check(transition.observation, "observation")
        try LearnableValue.check(transition.nextObservation, "next_observation")
        try withFeatures(transition.observation) { features throws(LearningError) in
            try withFeatures(transition.nextObservation) { next throws(LearningError) in
                try learn(
                    features: features, action: transition.action, reward: transition.reward, nextFeatures: next,
                    terminated: transition.terminated, truncated: transition.truncated, nextAction: transition.nextAction)
            }
        }
    }

    /// ``learn(_:)`` for the active features of the observation and the next one (finite observations, encoded by
    /// ``coder``).
    public mutating func learn(
        features: UnsafeBufferPointer<Int32>, action: Int, reward: Double, nextFeatures: UnsafeBufferPointer<Int32>,
        terminated: Bool, truncated: Bool, nextAction: Int?
    ) throws(LearningError) {
        guard (0..<actionCount).contains(action) else {
            throw .outOfRange("action \(action) outside 0..<\(actionCount)")
        }
        try LearnableValue.check(reward, "reward")
        let actions = actionCount
        var future = 0.0
        if !terminated {
            switch algorithm {
            case .qLearning:
                future = withValues(features: nextFeatures) { q in q[Argmax.first(actions) { q[$0] }] }
            case .sarsa:
                guard let next = nextAction else {
                    throw .outOfRange("SARSA needs the next action of a transition that did not terminate")
                }
                guard (0..<actions).contains(next) else { throw .outOfRange("next action \(next) outside 0..<\(actions)") }
                future = withValues(features: nextFeatures) { $0[next] }
            case .expectedSarsa:
                let epsilon = self.epsilon
                future = withValues(features: nextFeatures) { q in
                    var best = -Double.infinity
                    var sum = 0.0
                    for action in 0..<actions {
                        sum += q[action]
                        best = max(best, q[action])
                    }
                    return epsilon * sum / Double(actions) + (1 - epsilon) * best
                }
            }
        }
        let alpha = stepSizes?.stepSize(afterEpisodes: episodes, update: 1) ?? learningRate
        let target = reward + discount * future
        let finite: Bool = weights.withUnsafeMutableBufferPointer { w in
            var current = 0.0
            for feature in features { current += w[Int(feature) &* actions &+ action] }
            let step = alpha / Double(features.count) * (target - current)
            for feature in features where !(w[Int(feature) &* actions &+ action] + step).isFinite { return false }
            for feature in features { w[Int(feature) &* actions &+ action] += step }
            return true
        }
        guard finite else {
            throw .outOfRange("reward \(reward) would take a weight of action \(action) beyond a finite value")
        }
        if terminated || truncated { episodes += 1 }
    }
}
