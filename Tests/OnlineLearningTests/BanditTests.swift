import OnlineLearning
import Simulation
import StreamCore
import Testing

@Suite("Bandits")
struct BanditTests {
    /// Mean pseudo-regret (Σ best mean − chosen arm's mean) after 1k, 10k and `pulls` pulls, over `seeds` seeds of
    /// a 10-armed Bernoulli bandit with uniform arm means.
    static func regret<Policy: BanditPolicy>(
        pulls: Int = 100_000, seeds: Int = 20, _ make: (UInt64) throws -> Policy
    ) throws -> (atThousand: Double, atTenThousand: Double, atEnd: Double) {
        var totals = (0.0, 0.0, 0.0)
        for seed in 1...UInt64(seeds) {
            var bandit = BernoulliBandit(arms: 10, seed: seed)
            var policy = try make(seed)
            var regret = 0.0
            for pull in 1...pulls {
                let arm = policy.select().arm
                regret += bandit.bestMean - bandit.means[arm]
                try policy.update(arm: arm, reward: bandit.pull(arm))
                if pull == 1_000 { totals.0 += regret }
                if pull == 10_000 { totals.1 += regret }
            }
            totals.2 += regret
        }
        let n = Double(seeds)
        return (totals.0 / n, totals.1 / n, totals.2 / n)
    }

    @Test("10-armed Bernoulli, 100,000 pulls, 20 seeds: UCB1 and Thompson regret is sub-linear and below epsilon-greedy's")
    func regretOrdering() throws {
        let greedy = try Self.regret { try EpsilonGreedy(arms: 10, epsilon: 0.1, seed: $0) }
        let ucb = try Self.regret { _ in try UCB1(arms: 10) }
        let thompson = try Self.regret { try ThompsonSampling(arms: 10, seed: $0) }
        // Linear regret grows 10× from 10k to 100k pulls; logarithmic about 1.25×.
        #expect(ucb.atEnd / ucb.atTenThousand < 3, "UCB1 \(ucb)")
        #expect(thompson.atEnd / thompson.atTenThousand < 3, "Thompson \(thompson)")
        #expect(greedy.atEnd / greedy.atTenThousand > 7, "epsilon-greedy \(greedy) should grow linearly")
        #expect(ucb.atEnd < greedy.atEnd, "UCB1 \(ucb.atEnd) vs epsilon-greedy \(greedy.atEnd)")
        #expect(thompson.atEnd < greedy.atEnd, "Thompson \(thompson.atEnd) vs epsilon-greedy \(greedy.atEnd)")
        #expect(thompson.atEnd < ucb.atEnd, "Thompson \(thompson.atEnd) vs UCB1 \(ucb.atEnd)")
    }

    @Test("LinUCB beats non-contextual policies on a linear contextual bandit")
    func linUCBWins() throws {
        func meanRegret<Policy: BanditPolicy>(_ make: (UInt64) throws -> Policy, contextual: Bool) throws -> Double {
            var total = 0.0
            for seed in 1...UInt64(5) {
                var bandit = LinearContextualBandit(arms: 5, dimension: 6, seed: seed)
                var policy = try make(seed)
                for _ in 0..<3_000 {
                    let features = bandit.context()
                    let context = contextual ? BanditContext(features) : .none
                    let arm = policy.predict(context).arm
                    total += bandit.bestExpectedReward(context: features) - bandit.expectedReward(arm: arm, context: features)
                    try policy.learn(BanditFeedback(arm: arm, reward: bandit.pull(arm, context: features), context: context))
                }
            }
            return total / 5
        }
        let linucb = try meanRegret({ _ in try LinUCB(arms: 5, dimension: 6, alpha: 0.5) }, contextual: true)
        let ucb = try meanRegret({ _ in try UCB1(arms: 5) }, contextual: false)
        let thompson = try meanRegret(
            { try ThompsonSampling(arms: 5, prior: .gaussian(variance: 1), seed: $0) }, contextual: false)
        #expect(linucb < 0.3 * ucb, "LinUCB \(linucb) vs UCB1 \(ucb)")
        #expect(linucb < 0.3 * thompson, "LinUCB \(linucb) vs Thompson \(thompson)")
    }

    @Test("Propensities: exact for epsilon-greedy and EXP3 (they sum to 1 over arms), estimated for Thompson")
    func propensities() throws {
        var greedy = try EpsilonGreedy(arms: 4, epsilon: 0.2, seed: 1)
        try greedy.update(arm: 2, reward: 1)
        var counts = [0, 0, 0, 0]
        var reported = [Double](repeating: 0, count: 4)
        for _ in 0..<40_000 {
            var copy = greedy
            let choice = copy.select()
            greedy = copy  // advance the RNG only
            counts[choice.arm] += 1
            reported[choice.arm] = choice.propensity!
        }
        for (value, expected) in zip(reported, [0.05, 0.05, 0.85, 0.05]) { #expect(abs(value - expected) < 1e-12) }
        for arm in 0..<4 { #expect(abs(Double(counts[arm]) / 40_000 - reported[arm]) < 0.01) }

        var exp3 = try EXP3(arms: 3, gamma: 0.3, seed: 2)
        for _ in 0..<50 { try exp3.update(arm: 1, reward: 1) }
        let probabilities = (0..<3).map { exp3.probability(of: $0) }
        #expect(abs(probabilities.reduce(0, +) - 1) < 1e-12)
        var probe = exp3
        let choice = probe.select()
        #expect(abs(choice.propensity! - probabilities[choice.arm]) < 1e-12)

        var thompson = try ThompsonSampling(arms: 2, propensityDraws: 200, seed: 3)
        for _ in 0..<30 { try thompson.update(arm: 0, reward: 1) }
        for _ in 0..<30 { try thompson.update(arm: 1, reward: 0) }
        let sure = thompson.select()
        #expect(sure.arm == 0 && sure.propensity! > 0.99)
        var ucb = try UCB1(arms: 3)
        #expect(ucb.select() == ArmChoice(arm: 0, propensity: 1))
    }

    @Test("A discounted UCB1 follows an arm change that plain UCB1 is slow to notice (non-stationary testbed)")
    func discountedTracksChange() throws {
        func regretAfterChange(discount: Double) throws -> Double {
            var policy = try UCB1(arms: 2, discount: discount)
            var bandit = NonStationaryBernoulliBandit(regimes: [[0.7, 0.4], [0.3, 0.6]], changes: [10_000], seed: 5)
            var regret = 0.0
            for step in 0..<20_000 {
                let arm = policy.select().arm
                if step >= 10_000 { regret += bandit.bestMean - bandit.means[arm] }
                try policy.update(arm: arm, reward: bandit.pull(arm))
            }
            #expect(bandit.means == [0.3, 0.6])
            return regret
        }
        let plain = try regretAfterChange(discount: 1)
        let discounted = try regretAfterChange(discount: 0.999)
        #expect(discounted < 0.5 * plain, "discounted \(discounted) vs plain \(plain)")
    }

    @Test("Gaussian testbed: Gaussian Thompson sampling finds the best of 10 arms")
    func gaussianTestbed() throws {
        var bandit = GaussianBandit(arms: 10, seed: 4)
        var policy = try ThompsonSampling(arms: 10, prior: .gaussian(variance: 1), seed: 4)
        var bestPulls = 0
        let best = bandit.means.firstIndex(of: bandit.bestMean)!
        for step in 0..<5_000 {
            let arm = policy.select().arm
            if step >= 4_000 && arm == best { bestPulls += 1 }
            try policy.update(arm: arm, reward: bandit.pull(arm))
        }
        #expect(bestPulls > 900, "best arm pulled \(bestPulls) of the last 1,000 times")
    }
}
