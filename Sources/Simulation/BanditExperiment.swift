public import OnlineLearning
import StreamCore

/// A bandit policy played on a testbed for a number of pulls, seed after seed: the pseudo-regret (the best arm's
/// mean minus the chosen arm's, summed over pulls) at given checkpoints, for each seed. What
/// `streamlearn simulate bandit` runs.
public struct BanditExperiment: Sendable {
    public enum Testbed: String, Sendable, CaseIterable {
        /// Each seed draws arm means uniform in [0, 1); `shifts` re-draw them at those pulls.
        case bernoulli
        /// N(0, 1) means, unit noise.
        case gaussian
    }

    public var policy: BanditSettings.Policy
    public var arms: Int
    public var pulls: Int
    public var testbed: Testbed = .bernoulli
    /// ε of epsilon-greedy.
    public var epsilon = 0.1
    /// Discount of epsilon-greedy, UCB1 and Thompson statistics (1: none).
    public var discount = 1.0
    /// Pulls at which a Bernoulli testbed re-draws its means.
    public var shifts: [Int] = []
    /// The arms' means, the same for every seed (`nil`: drawn per seed). Bernoulli means are in [0, 1].
    public var armMeans: [Double]?

    public init(policy: BanditSettings.Policy, arms: Int, pulls: Int) {
        self.policy = policy
        self.arms = arms
        self.pulls = pulls
    }

    /// The checkpoints reported by default: 1,000, 10,000 and `pulls` (those not beyond it, each once).
    public var defaultCheckpoints: [Int] { Array(Set([1_000, 10_000, pulls].filter { $0 <= pulls })).sorted() }

    /// Pseudo-regret at each checkpoint (ascending) for one seed. LinUCB plays a linear contextual bandit
    /// (8 context features).
    public func regret(seed: UInt64, checkpoints: [Int]) throws(LearningError) -> [Double] {
        var regret = 0.0
        var marks: [Double] = []
        marks.reserveCapacity(checkpoints.count)
        var next = 0
        @inline(__always) func mark(_ pull: Int) {
            while next < checkpoints.count && checkpoints[next] == pull {
                marks.append(regret)
                next += 1
            }
        }
        if policy == .linucb {
            var testbed = LinearContextualBandit(arms: arms, dimension: 8, seed: seed)
            var learner = try LinUCB(arms: arms, dimension: 8, alpha: 0.5)
            for pull in 1...pulls {
                let context = testbed.context()
                let arm = learner.predict(BanditContext(context)).arm
                regret += testbed.bestExpectedReward(context: context) - testbed.expectedReward(arm: arm, context: context)
                try learner.learn(BanditFeedback(arm: arm, reward: testbed.pull(arm, context: context), context: BanditContext(context)))
                mark(pull)
            }
            return marks
        }
        func play<P: BanditPolicy>(_ learner: P) throws(LearningError) -> [Double] {
            var learner = learner
            var bandit = makeTestbed(seed: seed)
            for pull in 1...pulls {
                let arm = learner.select().arm
                regret += bandit.bestMean - bandit.means[arm]
                try learner.update(arm: arm, reward: bandit.pull(arm))
                mark(pull)
            }
            return marks
        }
        switch policy {
        case .epsilonGreedy: return try play(EpsilonGreedy(arms: arms, epsilon: epsilon, discount: discount, seed: seed))
        case .ucb1: return try play(UCB1(arms: arms, discount: discount))
        case .thompson:
            return try play(
                ThompsonSampling(
                    arms: arms, prior: testbed == .bernoulli ? .beta(alpha: 1, beta: 1) : .gaussian(variance: 1),
                    discount: discount, seed: seed))
        case .exp3: return try play(EXP3(arms: arms, gamma: 0.05, seed: seed))
        case .linucb: return []
        }
    }

    /// The arm means one seed plays, regime by regime: each with the first pull it holds from (0, then each shift).
    /// `nil` for LinUCB, whose expected rewards depend on each request's context.
    public func armMeans(seed: UInt64) -> [(from: Int, means: [Double])]? {
        guard policy != .linucb else { return nil }
        switch makeTestbed(seed: seed) {
        case .gaussian(let bandit): return [(0, bandit.means)]
        case .bernoulli(let bandit):
            let starts = [0] + shifts.sorted()
            return zip(starts, bandit.regimes).map { ($0, $1) }
        }
    }

    /// The arm means in force and the rewards, for one seed.
    public enum Bandit: Sendable {
        case bernoulli(NonStationaryBernoulliBandit)
        case gaussian(GaussianBandit)

        public var means: [Double] {
            switch self {
            case .bernoulli(let bandit): bandit.means
            case .gaussian(let bandit): bandit.means
            }
        }

        public var bestMean: Double { means.max() ?? 0 }

        public mutating func pull(_ arm: Int) -> Double {
            switch self {
            case .bernoulli(var bandit):
                let reward = bandit.pull(arm)
                self = .bernoulli(bandit)
                return reward
            case .gaussian(var bandit):
                let reward = bandit.pull(arm)
                self = .gaussian(bandit)
                return reward
            }
        }
    }

    /// The testbed one seed plays (the same for every policy).
    public func makeTestbed(seed: UInt64) -> Bandit {
        switch testbed {
        case .gaussian:
            if let armMeans { return .gaussian(GaussianBandit(means: armMeans, seed: seed &* 7_919)) }
            return .gaussian(GaussianBandit(arms: arms, seed: seed &* 7_919))
        case .bernoulli:
            var random = SeededRandom(seed: seed &* 7_919)
            let changes = shifts.sorted()
            let regimes = (0...changes.count).map { _ in
                armMeans ?? (0..<arms).map { _ in random.nextUnitDouble() }
            }
            return .bernoulli(NonStationaryBernoulliBandit(regimes: regimes, changes: changes, seed: random.next()))
        }
    }
}

/// Mean, standard deviation (n − 1) and range of per-seed figures.
public struct SeedSummary: Sendable, Hashable {
    public var count: Int
    public var mean: Double
    public var standardDeviation: Double
    public var min: Double
    public var max: Double

    public init(_ values: [Double]) {
        precondition(!values.isEmpty, "a summary of no values")
        count = values.count
        let mean = values.reduce(0, +) / Double(values.count)
        self.mean = mean
        let deviations = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        standardDeviation = (deviations / Double(Swift.max(values.count - 1, 1))).squareRoot()
        min = values.min()!
        max = values.max()!
    }
}
