public import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One step of experience: in `state` the agent took `action`, got `reward` and reached `nextState`.
///
/// `terminated` ends the episode with no future value (a hole, a goal); `truncated` ends it by a time limit, so
/// the next state's value still counts (Gymnasium's distinction). SARSA needs `nextAction`, the action the agent
/// will take in `nextState`, unless the episode terminated.
public struct Transition: Sendable, Hashable, Codable {
    public var state: Int
    public var action: Int
    public var reward: Double
    public var nextState: Int
    public var terminated: Bool
    public var truncated: Bool
    public var nextAction: Int?

    public init(
        state: Int, action: Int, reward: Double, nextState: Int, terminated: Bool, truncated: Bool = false,
        nextAction: Int? = nil
    ) {
        self.state = state
        self.action = action
        self.reward = reward
        self.nextState = nextState
        self.terminated = terminated
        self.truncated = truncated
        self.nextAction = nextAction
    }
}

/// How ε changes over episodes, or with the visits to a state.
public enum ExplorationSchedule: Sendable, Hashable, Codable {
    /// The same ε always.
    case constant(Double)
    /// From `start` down to `end` linearly over `episodes` episodes, then `end`.
    case linear(start: Double, end: Double, episodes: Int)
    /// `start · rate^episode`, never below `end`.
    case exponential(start: Double, end: Double, rate: Double)
    /// `1 / (1 + n)` in a state the agent has acted in `n` times before (GLIE per state).
    case inverseVisits

    /// ε after `episode` finished episodes, in a state acted in `visits` times before.
    public func epsilon(afterEpisodes episode: Int, visits: Int = 0) -> Double {
        switch self {
        case .constant(let epsilon):
            return epsilon
        case .linear(let start, let end, let episodes):
            guard episodes > 0, episode < episodes else { return end }
            return start + (end - start) * Double(episode) / Double(episodes)
        case .exponential(let start, let end, let rate):
            return max(end, start * pow(rate, Double(episode)))
        case .inverseVisits:
            return 1 / Double(1 + visits)
        }
    }

    func validate() throws(LearningError) {
        func probability(_ value: Double, _ key: String) throws(LearningError) {
            guard (0...1).contains(value) else {
                throw .invalidConfiguration(key: key, reason: "must be in [0, 1], got \(value)")
            }
        }
        switch self {
        case .constant(let epsilon):
            try probability(epsilon, "epsilon")
        case .linear(let start, let end, let episodes):
            try probability(start, "epsilon_start")
            try probability(end, "epsilon_end")
            guard episodes >= 0 else {
                throw .invalidConfiguration(key: "epsilon_decay_episodes", reason: "must be at least 0, got \(episodes)")
            }
        case .exponential(let start, let end, let rate):
            try probability(start, "epsilon_start")
            try probability(end, "epsilon_end")
            guard rate > 0, rate <= 1 else {
                throw .invalidConfiguration(key: "epsilon_rate", reason: "must be in (0, 1], got \(rate)")
            }
        case .inverseVisits:
            break
        }
    }
}

/// How the step size α changes over episodes, or with the updates of a state-action pair.
public enum StepSizeSchedule: Sendable, Hashable, Codable {
    /// The same α always.
    case constant(Double)
    /// From `start` down to `end` linearly over `episodes` episodes, then `end`.
    case linear(start: Double, end: Double, episodes: Int)
    /// `start · rate^episode`, never below `end`.
    case exponential(start: Double, end: Double, rate: Double)
    /// `1 / n` at a pair's n-th update: each Q-value is the running mean of its targets.
    case inverseVisits

    /// α after `episode` finished episodes, for a pair's `update`-th update (1 for the first). The schedules over
    /// episodes are ε's (``ExplorationSchedule``), applied to α.
    public func stepSize(afterEpisodes episode: Int, update: Int) -> Double {
        let overEpisodes: ExplorationSchedule
        switch self {
        case .constant(let alpha): return alpha
        case .linear(let start, let end, let episodes): overEpisodes = .linear(start: start, end: end, episodes: episodes)
        case .exponential(let start, let end, let rate): overEpisodes = .exponential(start: start, end: end, rate: rate)
        case .inverseVisits: return 1 / Double(max(update, 1))
        }
        return overEpisodes.epsilon(afterEpisodes: episode)
    }

    func validate() throws(LearningError) {
        func stepSize(_ value: Double, _ key: String) throws(LearningError) {
            guard value > 0, value <= 1 else {
                throw .invalidConfiguration(key: key, reason: "must be in (0, 1], got \(value)")
            }
        }
        switch self {
        case .constant(let alpha):
            try stepSize(alpha, "alpha")
        case .linear(let start, let end, let episodes):
            try stepSize(start, "alpha_start")
            try stepSize(end, "alpha_end")
            guard episodes >= 0 else {
                throw .invalidConfiguration(key: "alpha_decay_episodes", reason: "must be at least 0, got \(episodes)")
            }
        case .exponential(let start, let end, let rate):
            try stepSize(start, "alpha_start")
            try stepSize(end, "alpha_end")
            guard rate > 0, rate <= 1 else {
                throw .invalidConfiguration(key: "alpha_rate", reason: "must be in (0, 1], got \(rate)")
            }
        case .inverseVisits:
            break
        }
    }
}

/// Tabular temporal-difference control over discrete states and actions (Sutton and Barto 2018, ch. 6):
/// Q-learning, SARSA or Expected SARSA, with ε-greedy exploration on a schedule over episodes.
///
/// Learns from ``Transition``s, so it can act in an environment or learn from a stream of transitions. The
/// episode count (which drives ε) advances on every transition that is terminated or truncated.
///
/// - Complexity: ``learn(_:)`` O(1) for Q-learning and SARSA, O(actions) for Expected SARSA; ``predict(_:)``
///   O(actions). The table is states × actions doubles.
public struct TabularAgent: OnlineLearner, Hashable {
    public static let snapshotKind = "tabular-agent"
    public static let snapshotVersion = 1

    public enum Algorithm: String, Sendable, Hashable, Codable, CaseIterable {
        /// Off-policy: target r + γ·maxₐ Q(s′, a).
        case qLearning = "qlearning"
        /// On-policy: target r + γ·Q(s′, a′) for the next action actually taken.
        case sarsa
        /// Target r + γ·Σₐ π(a|s′)·Q(s′, a) under the current ε-greedy policy.
        case expectedSarsa = "expected-sarsa"
    }

    public let algorithm: Algorithm
    public let stateCount: Int
    public let actionCount: Int
    /// Step size α in (0, 1]. Default 0.1. With ``stepSizes``, the schedule's (this is then its first value).
    public let learningRate: Double
    /// How α changes (`nil`: ``learningRate`` always).
    public let stepSizes: StepSizeSchedule?
    /// Discount γ in [0, 1]. Default 0.99.
    public let discount: Double
    public let exploration: ExplorationSchedule
    /// Q-values, row-major by state.
    public private(set) var values: [Double]
    /// Finished episodes (terminated or truncated transitions).
    public private(set) var episodes = 0
    public private(set) var random: SeededRandom
    /// Times the agent acted in each state (kept for ε by ``ExplorationSchedule/inverseVisits`` only).
    public private(set) var stateVisits: [Int]?
    /// Updates of each state-action pair, row-major (kept for α by ``StepSizeSchedule/inverseVisits`` only).
    public private(set) var pairUpdates: [Int]?

    public init(
        algorithm: Algorithm = .qLearning, states: Int, actions: Int, learningRate: Double = 0.1,
        discount: Double = 0.99, exploration: ExplorationSchedule = .constant(0.1), stepSizes: StepSizeSchedule? = nil,
        initialValue: Double = 0, seed: UInt64
    ) throws(LearningError) {
        guard states >= 1 else { throw .invalidConfiguration(key: "states", reason: "must be at least 1, got \(states)") }
        guard actions >= 1 else {
            throw .invalidConfiguration(key: "actions", reason: "must be at least 1, got \(actions)")
        }
        guard learningRate > 0, learningRate <= 1 else {
            throw .invalidConfiguration(key: "alpha", reason: "must be in (0, 1], got \(learningRate)")
        }
        guard (0...1).contains(discount) else {
            throw .invalidConfiguration(key: "gamma", reason: "must be in [0, 1], got \(discount)")
        }
        guard initialValue.isFinite else {
            throw .invalidConfiguration(key: "initial_value", reason: "must be finite, got \(initialValue)")
        }
        try exploration.validate()
        try stepSizes?.validate()
        self.algorithm = algorithm
        self.stepSizes = stepSizes
        if exploration == .inverseVisits { stateVisits = Array(repeating: 0, count: states) }
        if stepSizes == .inverseVisits { pairUpdates = Array(repeating: 0, count: states * actions) }
        stateCount = states
        actionCount = actions
        self.learningRate = learningRate
        self.discount = discount
        self.exploration = exploration
        values = Array(repeating: initialValue, count: states * actions)
        random = SeededRandom(seed: seed)
    }

    /// The current ε (in a state never acted in, with ``ExplorationSchedule/inverseVisits``).
    public var epsilon: Double { exploration.epsilon(afterEpisodes: episodes) }

    /// The current ε in `state`.
    @inline(__always)
    public func epsilon(in state: Int) -> Double {
        exploration.epsilon(afterEpisodes: episodes, visits: stateVisits?[state] ?? 0)
    }

    /// Q(state, action).
    @inline(__always)
    public func value(state: Int, action: Int) -> Double { values[state * actionCount + action] }

    /// The first action with the highest Q-value in `state` (the evaluation policy). O(actions).
    public func greedyAction(_ state: Int) -> Int {
        let base = state * actionCount
        return values.withUnsafeBufferPointer { q in Argmax.first(actionCount) { q[base + $0] } }
    }

    /// An ε-greedy action for `state`: uniform with probability ε, else a greedy one (ties broken uniformly, so
    /// an untrained table still explores). A state outside the table gets action 0. O(actions).
    public mutating func predict(_ state: Int) -> Int {
        guard (0..<stateCount).contains(state) else { return 0 }
        let epsilon = epsilon(in: state)
        stateVisits?[state] += 1
        if random.nextUnitDouble() < epsilon {
            return Int(random.next() % UInt64(actionCount))
        }
        let base = state * actionCount
        let actions = actionCount
        return values.withUnsafeBufferPointer { q in
            let value = { (action: Int) in q[base + action] }
            let (best, ties) = Argmax.maximum(actions, value)
            return Argmax.uniformTie(actions, best: best, ties: ties, random: &random, value)
        }
    }

    /// One TD update. Throws (changing nothing) for a state or action outside the table, a non-finite reward, or a
    /// SARSA transition without `nextAction` that did not terminate.
    public mutating func learn(_ transition: Transition) throws(LearningError) {
        guard (0..<stateCount).contains(transition.state), (0..<stateCount).contains(transition.nextState) else {
            throw .outOfRange(
                "state \(transition.state) → \(transition.nextState) outside 0..<\(stateCount)")
        }
        guard (0..<actionCount).contains(transition.action) else {
            throw .outOfRange("action \(transition.action) outside 0..<\(actionCount)")
        }
        try LearnableValue.check(transition.reward, "reward")
        var future = 0.0
        if !transition.terminated {
            let base = transition.nextState * actionCount
            switch algorithm {
            case .qLearning:
                future = values[base + greedyAction(transition.nextState)]
            case .sarsa:
                guard let next = transition.nextAction else {
                    throw .outOfRange("SARSA needs the next action of a transition that did not terminate")
                }
                guard (0..<actionCount).contains(next) else {
                    throw .outOfRange("next action \(next) outside 0..<\(actionCount)")
                }
                future = values[base + next]
            case .expectedSarsa:
                let epsilon = epsilon(in: transition.nextState)
                var best = -Double.infinity
                var sum = 0.0
                for action in 0..<actionCount {
                    let value = values[base + action]
                    sum += value
                    best = max(best, value)
                }
                // ε spread uniformly, 1 − ε over the greedy actions (all worth `best`, however ties are broken).
                future = epsilon * sum / Double(actionCount) + (1 - epsilon) * best
            }
        }
        let index = transition.state * actionCount + transition.action
        let target = transition.reward + discount * future
        let alpha = stepSizes?.stepSize(afterEpisodes: episodes, update: (pairUpdates?[index] ?? 0) + 1) ?? learningRate
        let updated = values[index] + alpha * (target - values[index])
        guard updated.isFinite else {
            throw .outOfRange("reward \(transition.reward) would take Q[\(transition.state)][\(transition.action)] beyond a finite value")
        }
        values[index] = updated
        pairUpdates?[index] += 1
        if transition.terminated || transition.truncated { episodes += 1 }
    }
}
