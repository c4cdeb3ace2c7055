public import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a bandit sees before choosing: context features for contextual policies (``LinUCB``), nothing for the
/// others (``none``).
public struct BanditContext: Sendable, Hashable {
    public var features: [Double]

    public init(_ features: [Double]) {
        self.features = features
    }

    /// No context.
    public static let none = BanditContext([])
}

/// A bandit's decision: the arm, and the probability with which the policy chose it (its propensity), for
/// off-policy evaluation (inverse propensity scoring). `nil` only where it has no closed form and estimation is
/// off (``ThompsonSampling/propensityDraws``).
public struct ArmChoice: Sendable, Hashable {
    public var arm: Int
    public var propensity: Double?

    public init(arm: Int, propensity: Double?) {
        self.arm = arm
        self.propensity = propensity
    }
}

/// The reward an arm earned, with the context it was chosen in.
public struct BanditFeedback: Sendable {
    public var arm: Int
    public var reward: Double
    public var context: BanditContext

    public init(arm: Int, reward: Double, context: BanditContext = .none) {
        self.arm = arm
        self.reward = reward
        self.context = context
    }
}

/// A multi-armed bandit policy: ``OnlineLearner/predict(_:)`` chooses an arm, ``OnlineLearner/learn(_:)``
/// takes its reward.
public protocol BanditPolicy: OnlineLearner, Equatable
where Query == BanditContext, Prediction == ArmChoice, Feedback == BanditFeedback {
    /// Number of arms.
    var armCount: Int { get }
}

extension BanditPolicy {
    /// Chooses an arm without context.
    public mutating func select() -> ArmChoice { predict(.none) }

    /// Learns `reward` for `arm` without context.
    public mutating func update(arm: Int, reward: Double) throws(LearningError) {
        try learn(BanditFeedback(arm: arm, reward: reward))
    }

    func validate(_ feedback: BanditFeedback) throws(LearningError) {
        guard (0..<armCount).contains(feedback.arm) else {
            throw .outOfRange("arm \(feedback.arm) is not in 0..<\(armCount)")
        }
        try LearnableValue.check(feedback.reward, "reward")
        try LearnableValue.check(feedback.context.features, "context")
    }
}

/// Per-arm pull counts and reward sums, optionally discounted (Garivier and Moulines 2011): with `discount`
/// γ < 1 every update first multiplies all counts and sums by γ, so old rewards fade for non-stationary arms.
public struct ArmStatistics: Sendable, Hashable, Codable {
    /// 1 for stationary arms (plain counts); in (0, 1) to forget, an effective window of about 1 / (1 − γ) pulls.
    public let discount: Double
    public private(set) var counts: [Double]
    public private(set) var rewardSums: [Double]
    /// Sum of `counts`.
    public private(set) var totalCount: Double = 0

    public init(arms: Int, discount: Double = 1) {
        self.discount = discount
        counts = Array(repeating: 0, count: arms)
        rewardSums = Array(repeating: 0, count: arms)
    }

    static func validate(arms: Int, discount: Double) throws(LearningError) {
        guard arms >= 1 else { throw .invalidConfiguration(key: "arms", reason: "must be at least 1, got \(arms)") }
        guard discount > 0, discount <= 1 else {
            throw .invalidConfiguration(key: "discount", reason: "must be in (0, 1], got \(discount)")
        }
    }

    /// Records `reward` for `arm`. O(1) undiscounted, O(arms) discounted.
    public mutating func record(arm: Int, reward: Double) {
        if discount < 1 {
            for index in counts.indices {
                counts[index] *= discount
                rewardSums[index] *= discount
            }
            totalCount *= discount
        }
        counts[arm] += 1
        rewardSums[arm] += reward
        totalCount += 1
    }

    /// Mean reward of `arm`, or `initial` before it is pulled.
    @inline(__always)
    public func mean(_ arm: Int, initial: Double = 0) -> Double {
        counts[arm] > 0 ? rewardSums[arm] / counts[arm] : initial
    }
}

/// Epsilon-greedy: with probability ε a uniform arm, otherwise the best mean (ties broken uniformly). ε decays
/// multiplicatively per learning step down to a floor.
public struct EpsilonGreedy: BanditPolicy, Hashable {
    public static let snapshotKind = "bandit-epsilon-greedy"
    public static let snapshotVersion = 1

    public private(set) var statistics: ArmStatistics
    /// The current ε.
    public private(set) var epsilon: Double
    /// ε is multiplied by this after every learning step. Default 1 (no decay).
    public let decay: Double
    /// ε never decays below this. Default 0.
    public let minimumEpsilon: Double
    /// The mean assumed for an arm never pulled (optimism explores). Default 0.
    public let initialValue: Double
    public private(set) var random: SeededRandom

    public var armCount: Int { statistics.counts.count }

    /// - Parameters: `epsilon` default 0.1; `discount` 1 (see ``ArmStatistics``).
    public init(
        arms: Int, epsilon: Double = 0.1, decay: Double = 1, minimumEpsilon: Double = 0, initialValue: Double = 0,
        discount: Double = 1, seed: UInt64
    ) throws(LearningError) {
        try ArmStatistics.validate(arms: arms, discount: discount)
        guard (0...1).contains(epsilon) else {
            throw .invalidConfiguration(key: "epsilon", reason: "must be in [0, 1], got \(epsilon)")
        }
        guard decay > 0, decay <= 1 else {
            throw .invalidConfiguration(key: "decay", reason: "must be in (0, 1], got \(decay)")
        }
        guard (0...1).contains(minimumEpsilon) else {
            throw .invalidConfiguration(key: "minimum_epsilon", reason: "must be in [0, 1], got \(minimumEpsilon)")
        }
        guard initialValue.isFinite else {
            throw .invalidConfiguration(key: "initial_value", reason: "must be finite, got \(initialValue)")
        }
        statistics = ArmStatistics(arms: arms, discount: discount)
        self.epsilon = epsilon
        self.decay = decay
        self.minimumEpsilon = minimumEpsilon
        self.initialValue = initialValue
        random = SeededRandom(seed: seed)
    }

    /// O(arms).
    public mutating func predict(_ context: BanditContext) -> ArmChoice {
        let arms = armCount
        let initialValue = self.initialValue
        let epsilon = self.epsilon
        var random = self.random
        defer { self.random = random }
        return statistics.counts.withUnsafeBufferPointer { counts in
            statistics.rewardSums.withUnsafeBufferPointer { sums in
                let mean = { (arm: Int) in counts[arm] > 0 ? sums[arm] / counts[arm] : initialValue }
                let (best, ties) = Argmax.maximum(arms, mean)
                let explore = random.nextUnitDouble() < epsilon
                let arm =
                    explore
                    ? Int(random.next() % UInt64(arms))
                    : Argmax.uniformTie(arms, best: best, ties: ties, random: &random, mean)
                let greedy = mean(arm) == best
                return ArmChoice(arm: arm, propensity: epsilon / Double(arms) + (greedy ? (1 - epsilon) / Double(ties) : 0))
            }
        }
    }

    public mutating func learn(_ feedback: BanditFeedback) throws(LearningError) {
        try validate(feedback)
        statistics.record(arm: feedback.arm, reward: feedback.reward)
        epsilon = max(minimumEpsilon, epsilon * decay)
    }
}

/// UCB1 (Auer, Cesa-Bianchi, Fischer 2002): every arm once, then the arm maximising
/// `mean + c·√(2 ln n / nₐ)`. Deterministic (ties go to the lowest arm), so its propensity is 1. With a
/// `discount` below 1 it is discounted UCB for non-stationary arms.
public struct UCB1: BanditPolicy, Hashable {
    public static let snapshotKind = "bandit-ucb1"
    public static let snapshotVersion = 1

    public private(set) var statistics: ArmStatistics
    /// The exploration factor c. Default 1 (the paper's bound assumes rewards in [0, 1]).
    public let exploration: Double

    public var armCount: Int { statistics.counts.count }

    public init(arms: Int, exploration: Double = 1, discount: Double = 1) throws(LearningError) {
        try ArmStatistics.validate(arms: arms, discount: discount)
        guard exploration >= 0, exploration.isFinite else {
            throw .invalidConfiguration(key: "exploration", reason: "must be at least 0, got \(exploration)")
        }
        statistics = ArmStatistics(arms: arms, discount: discount)
        self.exploration = exploration
    }

    /// O(arms).
    public func predict(_ context: BanditContext) -> ArmChoice {
        let arms = armCount
        if let untried = statistics.counts.firstIndex(where: { $0 == 0 }) {
            return ArmChoice(arm: untried, propensity: 1)
        }
        let logTotal = 2 * log(statistics.totalCount)
        let exploration = self.exploration
        let best = statistics.counts.withUnsafeBufferPointer { counts in
            statistics.rewardSums.withUnsafeBufferPointer { sums in
                Argmax.first(arms) { arm in sums[arm] / counts[arm] + exploration * (logTotal / counts[arm]).squareRoot() }
            }
        }
        return ArmChoice(arm: best, propensity: 1)
    }

    public mutating func learn(_ feedback: BanditFeedback) throws(LearningError) {
        try validate(feedback)
        statistics.record(arm: feedback.arm, reward: feedback.reward)
    }
}
