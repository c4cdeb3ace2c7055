import OnlineLearning
import StreamCore
import Testing

/// A deterministic 4×4 grid: start 0 (top left), goal 15 (bottom right), actions 0 left, 1 down, 2 right, 3 up;
/// −1 per step, 0 on reaching the goal, which terminates. Walls keep the agent in place.
struct DeterministicGrid {
    static let size = 4

    static func step(_ state: Int, _ action: Int) -> (next: Int, reward: Double, done: Bool) {
        var row = state / size
        var column = state % size
        switch action {
        case 0: column = max(column - 1, 0)
        case 1: row = min(row + 1, size - 1)
        case 2: column = min(column + 1, size - 1)
        default: row = max(row - 1, 0)
        }
        let next = row * size + column
        return (next, next == 15 ? 0 : -1, next == 15)
    }
}

@Suite("Tabular agents")
struct ReinforcementTests {
    @Test("Q-learning, SARSA and Expected SARSA find the 6-step optimal path of a deterministic grid",
          arguments: TabularAgent.Algorithm.allCases)
    func findsOptimalPath(algorithm: TabularAgent.Algorithm) throws {
        var agent = try TabularAgent(
            algorithm: algorithm, states: 16, actions: 4, learningRate: 0.5, discount: 0.95,
            exploration: .exponential(start: 1, end: 0.01, rate: 0.99), seed: 42)
        for _ in 0..<500 {
            var state = 0
            var action = agent.predict(state)
            for step in 1...100 {
                let (next, reward, done) = DeterministicGrid.step(state, action)
                let nextAction = agent.predict(next)
                try agent.learn(
                    Transition(
                        state: state, action: action, reward: reward, nextState: next, terminated: done,
                        truncated: !done && step == 100, nextAction: nextAction))
                if done { break }
                state = next
                action = nextAction
            }
        }
        #expect(agent.episodes == 500)
        #expect(agent.epsilon < 0.01 + 1e-12)
        // The greedy policy reaches the goal in the Manhattan distance, 6 steps.
        var state = 0
        var steps = 0
        while state != 15 && steps < 50 {
            state = DeterministicGrid.step(state, agent.greedyAction(state)).next
            steps += 1
        }
        #expect(steps == 6, "\(algorithm.rawValue): greedy path took \(steps) steps")
        // Q(start, best) ≈ −(1 + γ + … + γ⁴) = −4.52 for 5 penalised steps.
        let best = agent.value(state: 0, action: agent.greedyAction(0))
        #expect(abs(best - (-(1 - pow(0.95, 5)) / 0.05)) < 0.05, "Q(0) = \(best)")
    }

    @Test("Learning from a recorded stream of transitions alone converges too (off-policy Q-learning)")
    func learnsFromTransitionStream() throws {
        var agent = try TabularAgent(states: 16, actions: 4, learningRate: 0.5, discount: 0.95, seed: 1)
        var state = 0
        var random = 12_345 as UInt64
        for _ in 0..<50_000 {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let action = Int(random >> 62)  // a uniformly random behaviour policy
            let (next, reward, done) = DeterministicGrid.step(state, action)
            try agent.learn(Transition(state: state, action: action, reward: reward, nextState: next, terminated: done))
            state = done ? 0 : next
        }
        var steps = 0
        state = 0
        while state != 15 && steps < 50 {
            state = DeterministicGrid.step(state, agent.greedyAction(state)).next
            steps += 1
        }
        #expect(steps == 6)
    }

    @Test("Exploration schedules")
    func schedules() {
        let linear = ExplorationSchedule.linear(start: 1, end: 0.1, episodes: 10)
        #expect(linear.epsilon(afterEpisodes: 0) == 1)
        #expect(abs(linear.epsilon(afterEpisodes: 5) - 0.55) < 1e-12)
        #expect(linear.epsilon(afterEpisodes: 10) == 0.1)
        #expect(linear.epsilon(afterEpisodes: 1_000) == 0.1)
        let exponential = ExplorationSchedule.exponential(start: 1, end: 0.05, rate: 0.5)
        #expect(exponential.epsilon(afterEpisodes: 2) == 0.25)
        #expect(exponential.epsilon(afterEpisodes: 10) == 0.05)
        #expect(ExplorationSchedule.inverseVisits.epsilon(afterEpisodes: 50, visits: 3) == 0.25)
        let alpha = StepSizeSchedule.linear(start: 0.5, end: 0.1, episodes: 4)
        #expect(abs(alpha.stepSize(afterEpisodes: 2, update: 9) - 0.3) < 1e-12 && alpha.stepSize(afterEpisodes: 9, update: 1) == 0.1)
        #expect(StepSizeSchedule.exponential(start: 0.5, end: 0.1, rate: 0.5).stepSize(afterEpisodes: 1, update: 1) == 0.25)
        #expect(StepSizeSchedule.inverseVisits.stepSize(afterEpisodes: 0, update: 4) == 0.25)
        #expect(throws: LearningError.self) {
            try TabularAgent(states: 2, actions: 2, stepSizes: .constant(1.5), seed: 1)
        }
    }

    @Test("α as 1/n makes each Q-value the mean of its targets; ε as 1/(1+n) falls with a state's visits; both survive a snapshot bit for bit")
    func visitSchedules() throws {
        var agent = try TabularAgent(states: 3, actions: 2, exploration: .inverseVisits, stepSizes: .inverseVisits, seed: 5)
        let rewards = [1.0, 4, -2, 7, 0.5]
        for reward in rewards {
            try agent.learn(Transition(state: 0, action: 1, reward: reward, nextState: 2, terminated: true))
        }
        #expect(abs(agent.value(state: 0, action: 1) - rewards.reduce(0, +) / Double(rewards.count)) < 1e-12)
        #expect(agent.pairUpdates?[1] == 5)
        #expect(agent.epsilon(in: 1) == 1)
        for _ in 0..<3 { _ = agent.predict(1) }
        #expect(agent.epsilon(in: 1) == 0.25 && agent.epsilon(in: 2) == 1)

        // A snapshot taken half way continues exactly as the original.
        var grid = agent
        var random = SeededRandom(seed: 9)
        func drive(_ agent: inout TabularAgent, steps: Int) throws {
            for _ in 0..<steps {
                let state = Int(random.next() % 3)
                let action = agent.predict(state)
                try agent.learn(Transition(
                    state: state, action: action, reward: random.nextUnitDouble(), nextState: Int(random.next() % 3),
                    terminated: random.next() % 5 == 0))
            }
        }
        try drive(&grid, steps: 500)
        var restored = try Snapshot.decode(TabularAgent.self, from: try Snapshot.encode(grid))
        #expect(restored == grid)
        let state = random
        try drive(&grid, steps: 500)
        random = state
        try drive(&restored, steps: 500)
        #expect(try Snapshot.encode(restored) == Snapshot.encode(grid))
        // An agent without these schedules writes no visit counts: its snapshots are as before.
        let plain = String(decoding: try Snapshot.encode(try TabularAgent(states: 2, actions: 2, seed: 1)), as: UTF8.self)
        #expect(!plain.contains("pairUpdates") && !plain.contains("stateVisits") && !plain.contains("stepSizes"))
    }
}

#if canImport(Glibc)
import Glibc
#endif

@Suite("Tile coding")
struct TileCodingTests {
    /// The active features of `observation`.
    func features(_ coder: TileCoder, _ observation: [Double]) -> [Int32] {
        var features = [Int32](repeating: -1, count: coder.tilings)
        observation.withUnsafeBufferPointer { o in features.withUnsafeMutableBufferPointer { coder.encode(o, into: $0) } }
        return features
    }

    @Test("Each tiling is offset by t·(2d + 1)/tilings of a tile; values outside the box (and NaN) are clamped to it")
    func offsets() throws {
        // 2 dimensions over [0, 4) × [0, 8), 4 tiles each (widths 1 and 2), 4 tilings of 5 × 5 = 25 features.
        let coder = try TileCoder(low: [0, 0], high: [4, 8], tilings: 4, tiles: 4)
        #expect(coder.featureCount == 100)
        // (1.3, 2.9) scales to (1.3, 1.45) tiles. Offsets (1/4 steps): dimension 0 by t·1, dimension 1 by t·3 (mod 4).
        // t0: (1.3, 1.45) → (1, 1) → 1 + 5·1 = 6; t1: (1.55, 2.2) → (1, 2) → 25 + 11 = 36;
        // t2: (1.8, 1.95) → (1, 1) → 50 + 6 = 56; t3: (2.05, 1.7) → (2, 1) → 75 + 7 = 82.
        #expect(features(coder, [1.3, 2.9]) == [6, 36, 56, 82])
        #expect(features(coder, [-5, .nan]) == features(coder, [0, 0]))
        #expect(features(coder, [100, .infinity]) == features(coder, [4, 8]))
        // The far corner lands in the extra tile of each dimension: 4 + 5·4 = 24 in tiling 0.
        #expect(features(coder, [4, 8])[0] == 24)
    }

    @Test("Nearby observations share most tiles, distant ones none")
    func generalisation() throws {
        let coder = try TileCoder(low: [-1.2, -0.07], high: [0.6, 0.07], tilings: 8, tiles: 8)
        let a = Set(features(coder, [-0.5, 0.0]))
        #expect(a.count == 8)
        #expect(a.intersection(features(coder, [-0.49, 0.001])).count >= 5)
        #expect(a.intersection(features(coder, [0.4, 0.06])).isEmpty)
    }

    @Test("A coder refuses bounds, tilings and sizes it cannot hold, naming the key")
    func refusals() {
        func key(_ body: () throws(LearningError) -> TileCoder) -> String? {
            do {
                _ = try body()
                return nil
            } catch {
                if case .invalidConfiguration(let key, _) = error { return key }
                return "?"
            }
        }
        #expect(key { () throws(LearningError) in try TileCoder(low: [0], high: [0, 1]) } == "low")
        #expect(key { () throws(LearningError) in try TileCoder(low: [0, 2], high: [1, 1]) } == "low[1]")
        #expect(key { () throws(LearningError) in try TileCoder(low: [0], high: [.infinity]) } == "low[0]")
        #expect(key { () throws(LearningError) in try TileCoder(low: [0], high: [1], tilings: 0) } == "tilings")
        #expect(key { () throws(LearningError) in try TileCoder(low: [0, 0, 0, 0, 0, 0], high: [1, 1, 1, 1, 1, 1], tiles: 20) } == "tiles")
        #expect(throws: LearningError.self) {
            try TileCodedAgent(coder: try TileCoder(low: [0], high: [1]), actions: 2, exploration: .inverseVisits, seed: 1)
        }
    }

    @Test("The agent's Q-value is the sum of its active weights, and a SARSA update moves each by α/tilings of the TD error")
    func update() throws {
        let coder = try TileCoder(low: [0], high: [1], tilings: 2, tiles: 2)
        var agent = try TileCodedAgent(
            algorithm: .sarsa, coder: coder, actions: 2, learningRate: 0.5, discount: 1, initialValue: 1, seed: 1)
        #expect(agent.value([0.3], action: 1) == 1)
        try agent.learn(ContinuousTransition(observation: [0.3], action: 1, reward: -3, nextObservation: [0.9], terminated: true))
        // Target −3, current 1: each of the 2 weights moves 0.5/2 · (−4) = −1, so Q = 1 − 2 = −1.
        #expect(agent.value([0.3], action: 1) == -1)
        #expect(agent.value([0.3], action: 0) == 1)
        #expect(agent.episodes == 1)
        #expect(agent.greedyAction([0.3]) == 0)
    }
}
