import StreamCore

/// A k-armed Bernoulli bandit: arm i pays 1 with probability `means[i]`, else 0. Means are drawn uniformly from
/// [0, 1) with the seed unless given. Rewards come from its own seeded generator, so a run is reproducible.
public struct BernoulliBandit: Sendable {
    public let means: [Double]
    private var random: SeededRandom

    public init(arms: Int, seed: UInt64) {
        var random = SeededRandom(seed: seed)
        means = (0..<arms).map { _ in random.nextUnitDouble() }
        self.random = random
    }

    public init(means: [Double], seed: UInt64) {
        self.means = means
        random = SeededRandom(seed: seed)
    }

    /// The best arm's mean.
    public var bestMean: Double { means.max() ?? 0 }

    /// The reward of one pull of `arm`: 1 or 0.
    public mutating func pull(_ arm: Int) -> Double {
        random.nextUnitDouble() < means[arm] ? 1 : 0
    }
}

/// A linear contextual bandit for LinUCB: each round draws a context x with `dimension` standard-normal
/// features; arm i pays θᵢ·x plus N(0, `noise`²) noise. Each θᵢ is drawn from N(0, I/d) with the seed, so the
/// best arm depends on the context and no single arm is best on average.
public struct LinearContextualBandit: Sendable {
    public let parameters: [[Double]]
    public let noise: Double
    private var random: SeededRandom

    public init(arms: Int, dimension: Int, noise: Double = 0.1, seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let scale = 1 / Double(dimension).squareRoot()
        parameters = (0..<arms).map { _ in (0..<dimension).map { _ in scale * random.nextGaussian() } }
        self.noise = noise
        self.random = random
    }

    public var dimension: Int { parameters.first?.count ?? 0 }

    /// The next round's context.
    public mutating func context() -> [Double] {
        (0..<dimension).map { _ in random.nextGaussian() }
    }

    /// The expected reward of `arm` in `context`.
    public func expectedReward(arm: Int, context: [Double]) -> Double {
        zip(parameters[arm], context).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// The best expected reward in `context`.
    public func bestExpectedReward(context: [Double]) -> Double {
        parameters.indices.map { expectedReward(arm: $0, context: context) }.max() ?? 0
    }

    /// A noisy reward for pulling `arm` in `context`.
    public mutating func pull(_ arm: Int, context: [Double]) -> Double {
        expectedReward(arm: arm, context: context) + noise * random.nextGaussian()
    }
}

/// A k-armed Gaussian bandit: arm i pays `means[i]` plus N(0, `noise`²). Means are drawn from N(0, 1) with the
/// seed (the Sutton and Barto 10-armed testbed) unless given.
public struct GaussianBandit: Sendable {
    public let means: [Double]
    public let noise: Double
    private var random: SeededRandom

    public init(arms: Int, noise: Double = 1, seed: UInt64) {
        var random = SeededRandom(seed: seed)
        means = (0..<arms).map { _ in random.nextGaussian() }
        self.noise = noise
        self.random = random
    }

    /// Arms with the given means.
    public init(means: [Double], noise: Double = 1, seed: UInt64) {
        self.means = means
        self.noise = noise
        random = SeededRandom(seed: seed)
    }

    public var bestMean: Double { means.max() ?? 0 }

    public mutating func pull(_ arm: Int) -> Double {
        means[arm] + noise * random.nextGaussian()
    }
}

/// A non-stationary Bernoulli bandit, to exercise drift: the arm means in force change at given pull indices.
/// `regimes[0]` holds from pull 0; `regimes[k]` from pull `changes[k − 1]` on.
public struct NonStationaryBernoulliBandit: Sendable {
    public let regimes: [[Double]]
    public let changes: [Int]
    /// Pulls so far.
    public private(set) var pulls = 0
    private var random: SeededRandom

    /// - Precondition: one more regime than changes, ascending changes, every regime with the same arm count.
    public init(regimes: [[Double]], changes: [Int], seed: UInt64) {
        precondition(regimes.count == changes.count + 1, "one more regime than changes")
        precondition(zip(changes, changes.dropFirst()).allSatisfy { $0 < $1 }, "changes must ascend")
        precondition(Set(regimes.map(\.count)).count == 1, "every regime needs the same arms")
        self.regimes = regimes
        self.changes = changes
        random = SeededRandom(seed: seed)
    }

    /// The means in force for the next pull.
    public var means: [Double] { regimes[changes.firstIndex { pulls < $0 } ?? changes.count] }

    public var bestMean: Double { means.max() ?? 0 }

    public mutating func pull(_ arm: Int) -> Double {
        let reward: Double = random.nextUnitDouble() < means[arm] ? 1 : 0
        pulls += 1
        return reward
    }
}
