public import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thompson sampling (Thompson 1933; Agrawal and Goyal 2012): draw each arm's mean from its posterior, play the
/// largest draw.
///
/// - ``Prior/beta(alpha:beta:)``: Beta–Bernoulli, for rewards in [0, 1] (a fractional reward r counts as r
///   successes and 1 − r failures).
/// - ``Prior/gaussian(variance:)``: the arm's mean is drawn from N(mean, variance / (n + 1)) with a N(0, variance)
///   prior, for any finite rewards.
///
/// The propensity of a draw has no closed form; with ``propensityDraws`` > 0 it is estimated by that many extra
/// posterior draws (cost O(draws × arms)), otherwise it is `nil`. A `discount` below 1 forgets old rewards.
public struct ThompsonSampling: BanditPolicy, Hashable {
    public static let snapshotKind = "bandit-thompson"
    public static let snapshotVersion = 1

    public enum Prior: Sendable, Hashable, Codable {
        case beta(alpha: Double, beta: Double)
        case gaussian(variance: Double)
    }

    public let prior: Prior
    public private(set) var statistics: ArmStatistics
    /// Extra posterior draws used to estimate the chosen arm's propensity. Default 0 (not estimated).
    public let propensityDraws: Int
    public private(set) var random: SeededRandom

    public var armCount: Int { statistics.counts.count }

    public init(
        arms: Int, prior: Prior = .beta(alpha: 1, beta: 1), propensityDraws: Int = 0, discount: Double = 1,
        seed: UInt64
    ) throws(LearningError) {
        try ArmStatistics.validate(arms: arms, discount: discount)
        switch prior {
        case .beta(let alpha, let beta):
            guard alpha > 0, beta > 0, alpha.isFinite, beta.isFinite else {
                throw .invalidConfiguration(key: "prior", reason: "Beta parameters must be positive, got \(alpha), \(beta)")
            }
        case .gaussian(let variance):
            guard variance > 0, variance.isFinite else {
                throw .invalidConfiguration(key: "prior", reason: "Gaussian variance must be positive, got \(variance)")
            }
        }
        guard propensityDraws >= 0 else {
            throw .invalidConfiguration(key: "propensity_draws", reason: "must be at least 0, got \(propensityDraws)")
        }
        self.prior = prior
        statistics = ArmStatistics(arms: arms, discount: discount)
        self.propensityDraws = propensityDraws
        random = SeededRandom(seed: seed)
    }

    @inline(__always)
    private mutating func draw(_ arm: Int) -> Double {
        let count = statistics.counts[arm]
        let sum = statistics.rewardSums[arm]
        switch prior {
        case .beta(let alpha, let beta):
            return random.nextBeta(alpha: alpha + sum, beta: beta + max(count - sum, 0))
        case .gaussian(let variance):
            let mean = count > 0 ? sum / (count + 1) : 0
            return mean + (variance / (count + 1)).squareRoot() * random.nextGaussian()
        }
    }

    private mutating func argmaxDraw() -> Int {
        Argmax.first(armCount) { draw($0) }
    }

    /// O(arms), plus O(`propensityDraws` × arms) when estimating the propensity.
    public mutating func predict(_ context: BanditContext) -> ArmChoice {
        let arm = argmaxDraw()
        guard propensityDraws > 0 else { return ArmChoice(arm: arm, propensity: nil) }
        var wins = 1  // the choice itself is one draw
        for _ in 0..<propensityDraws where argmaxDraw() == arm { wins += 1 }
        return ArmChoice(arm: arm, propensity: Double(wins) / Double(propensityDraws + 1))
    }

    public mutating func learn(_ feedback: BanditFeedback) throws(LearningError) {
        try validate(feedback)
        if case .beta = prior, !(0...1).contains(feedback.reward) {
            throw .outOfRange("reward \(feedback.reward) outside [0, 1] for a Beta–Bernoulli prior")
        }
        statistics.record(arm: feedback.arm, reward: feedback.reward)
    }
}

/// EXP3 (Auer et al. 2002), for adversarial rewards in [0, 1]: play arm i with probability
/// (1 − γ)·wᵢ/Σw + γ/K; update the played arm's weight by exp(γ·r̂/K) with r̂ = r / pᵢ. Log-weights keep it finite
/// over any horizon. The propensity is exact.
public struct EXP3: BanditPolicy, Hashable {
    public static let snapshotKind = "bandit-exp3"
    public static let snapshotVersion = 1

    /// The exploration rate γ in (0, 1]. Default 0.1.
    public let gamma: Double
    public private(set) var logWeights: [Double]
    public private(set) var random: SeededRandom

    public var armCount: Int { logWeights.count }

    public init(arms: Int, gamma: Double = 0.1, seed: UInt64) throws(LearningError) {
        try ArmStatistics.validate(arms: arms, discount: 1)
        guard gamma > 0, gamma <= 1 else {
            throw .invalidConfiguration(key: "gamma", reason: "must be in (0, 1], got \(gamma)")
        }
        self.gamma = gamma
        logWeights = Array(repeating: 0, count: arms)
        random = SeededRandom(seed: seed)
    }

    /// The probability of playing `arm` now.
    public func probability(of arm: Int) -> Double {
        let top = logWeights.max() ?? 0
        var total = 0.0
        for value in logWeights { total += exp(value - top) }
        return (1 - gamma) * exp(logWeights[arm] - top) / total + gamma / Double(armCount)
    }

    /// O(arms).
    public mutating func predict(_ context: BanditContext) -> ArmChoice {
        let top = logWeights.max() ?? 0
        var total = 0.0
        for value in logWeights { total += exp(value - top) }
        let u = random.nextUnitDouble()
        var cumulative = 0.0
        let uniform = gamma / Double(armCount)
        for arm in 0..<armCount {
            let p = (1 - gamma) * exp(logWeights[arm] - top) / total + uniform
            cumulative += p
            if u < cumulative || arm == armCount - 1 { return ArmChoice(arm: arm, propensity: p) }
        }
        return ArmChoice(arm: armCount - 1, propensity: uniform)
    }

    public mutating func learn(_ feedback: BanditFeedback) throws(LearningError) {
        try validate(feedback)
        guard (0...1).contains(feedback.reward) else {
            throw .outOfRange("reward \(feedback.reward) outside [0, 1] for EXP3")
        }
        let p = probability(of: feedback.arm)
        logWeights[feedback.arm] += gamma * (feedback.reward / p) / Double(armCount)
        let top = logWeights.max() ?? 0
        if top > 500 {
            for index in logWeights.indices { logWeights[index] -= top }
        }
    }
}
