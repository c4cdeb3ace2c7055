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
