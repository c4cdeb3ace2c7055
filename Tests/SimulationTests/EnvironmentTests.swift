import Foundation
import OnlineLearning
import Simulation
import Testing

@Suite("Gymnasium-faithful environments")
struct EnvironmentTests {
    @Test("FrozenLake 4x4: 16 states, 4 actions, the 1/3 slip split, absorbing holes and goal, uniform start on S")
    func frozenLakeTable() throws {
        let table = try Environments.frozenLake().dynamics
        #expect(table.stateCount == 16 && table.actionCount == 4)
        #expect(table.initialDistribution == [1] + Array(repeating: 0, count: 15))
        // From 0, action 1 (down): left → 0, down → 4, right → 1, in Gymnasium's order, with Gymnasium 1.x's
        // probabilities to the bit: 1/3 for the intended direction, (1 − 1/3) / 2 for each slip.
        let slip = (1 - 1.0 / 3.0) / 2
        #expect(slip == 0.33333333333333337)
        #expect(Array(table.outcomes(state: 0, action: 1)) == [
            Outcome(probability: slip, nextState: 0, reward: 0, terminated: false),
            Outcome(probability: 1.0 / 3.0, nextState: 4, reward: 0, terminated: false),
            Outcome(probability: slip, nextState: 1, reward: 0, terminated: false),
        ])
        // From 14, action 2 (right): down stays (bottom wall), right reaches the goal 15 (reward 1, terminated),
        // up goes to 10.
        #expect(Array(table.outcomes(state: 14, action: 2)) == [
            Outcome(probability: slip, nextState: 14, reward: 0, terminated: false),
            Outcome(probability: 1.0 / 3.0, nextState: 15, reward: 1, terminated: true),
            Outcome(probability: slip, nextState: 10, reward: 0, terminated: false),
        ])
        // Stepping into hole 5 terminates with reward 0.
        #expect(table.outcomes(state: 1, action: 1).contains(Outcome(probability: 1.0 / 3.0, nextState: 5, reward: 0, terminated: true)))
        // Holes (5, 7, 11, 12) and the goal are absorbing.
        for state in [5, 7, 11, 12, 15] {
            for action in 0..<4 {
                #expect(Array(table.outcomes(state: state, action: action)) == [Outcome(probability: 1, nextState: state, reward: 0, terminated: true)])
            }
        }
        // Every (s, a) sums to probability 1.
        for state in 0..<16 {
            for action in 0..<4 {
                #expect(abs(table.outcomes(state: state, action: action).map(\.probability).reduce(0, +) - 1) < 1e-12)
            }
        }
        let still = try Environments.frozenLake(slippery: false).dynamics
        #expect(Array(still.outcomes(state: 0, action: 2)) == [Outcome(probability: 1, nextState: 1, reward: 0, terminated: false)])
        #expect(try Environments.frozenLake().maxEpisodeSteps == 100)
        #expect(try Environments.frozenLake(map: Environments.frozenLake8x8).maxEpisodeSteps == 200)
        #expect(try Environments.frozenLake(map: Environments.frozenLake8x8).dynamics.stateCount == 64)
        #expect(throws: SimulationError.self) { try Environments.frozenLake(map: ["SFX"]) }
        #expect(throws: SimulationError.self) { try Environments.frozenLake(map: ["FF", "FG"]) }
        #expect(throws: SimulationError.self) { try Environments.frozenLake(map: ["SF", "F"]) }
    }

    @Test("CliffWalking: start 36, goal 47, the cliff costs −100 and returns to the start without terminating")
    func cliffWalkingTable() throws {
        let table = Environments.cliffWalking().dynamics
        #expect(table.stateCount == 48 && table.actionCount == 4)
        #expect(table.initialDistribution[36] == 1 && table.initialDistribution.reduce(0, +) == 1)
        // From the start, right (1) steps into the cliff.
        #expect(Array(table.outcomes(state: 36, action: 1)) == [Outcome(probability: 1, nextState: 36, reward: -100, terminated: false)])
        // From 25 (row 2, column 1), down (2) falls too.
        #expect(Array(table.outcomes(state: 25, action: 2)) == [Outcome(probability: 1, nextState: 36, reward: -100, terminated: false)])
        // From 35, down reaches the goal: −1 and terminated.
        #expect(Array(table.outcomes(state: 35, action: 2)) == [Outcome(probability: 1, nextState: 47, reward: -1, terminated: true)])
        // Up from the start, and walls keep the agent in place.
        #expect(Array(table.outcomes(state: 36, action: 0)) == [Outcome(probability: 1, nextState: 24, reward: -1, terminated: false)])
        #expect(Array(table.outcomes(state: 0, action: 3)) == [Outcome(probability: 1, nextState: 0, reward: -1, terminated: false)])
        #expect(Environments.cliffWalking().maxEpisodeSteps == nil)
        var environment = Environments.cliffWalking()
        #expect(environment.reset(seed: 3) == 36)
        let fall = try environment.step(1)
        #expect(fall == StepResult(observation: 36, reward: -100, terminated: false, truncated: false))
    }

    @Test("Taxi: 500 states, 6 actions, Gymnasium's encoding, rewards, walls and 300 uniform start states")
    func taxiTable() {
        let table = Environments.taxi().dynamics
        #expect(table.stateCount == 500 && table.actionCount == 6)
        func encode(_ row: Int, _ column: Int, _ passenger: Int, _ destination: Int) -> Int {
            ((row * 5 + column) * 5 + passenger) * 4 + destination
        }
        #expect(table.initialDistribution.filter { $0 > 0 }.count == 300)
        #expect(abs(table.initialDistribution.reduce(0, +) - 1) < 1e-12)
        // Illegal pickup: −10, nothing changes.
        let s = encode(2, 2, 0, 1)
        #expect(Array(table.outcomes(state: s, action: 4)) == [Outcome(probability: 1, nextState: s, reward: -10, terminated: false)])
        // Legal pickup at R (0,0): the passenger is in the taxi.
        let atR = encode(0, 0, 0, 1)
        #expect(table.outcomes(state: atR, action: 4).first == Outcome(probability: 1, nextState: encode(0, 0, 4, 1), reward: -1, terminated: false))
        // Correct drop-off at G (0,4): +20, terminated.
        let atG = encode(0, 4, 4, 1)
        #expect(table.outcomes(state: atG, action: 5).first == Outcome(probability: 1, nextState: encode(0, 4, 1, 1), reward: 20, terminated: true))
        // Drop-off at another location: the passenger stays there, −1, not terminated.
        let atY = encode(4, 0, 4, 1)
        #expect(table.outcomes(state: atY, action: 5).first == Outcome(probability: 1, nextState: encode(4, 0, 2, 1), reward: -1, terminated: false))
        // Illegal drop-off away from any location: −10.
        #expect(table.outcomes(state: encode(2, 2, 4, 1), action: 5).first?.reward == -10)
        // Walls: east from (0,1) is blocked by "|", east from (0,0) is open.
        #expect(table.outcomes(state: encode(0, 1, 0, 1), action: 2).first?.nextState == encode(0, 1, 0, 1))
        #expect(table.outcomes(state: encode(0, 0, 0, 1), action: 2).first?.nextState == encode(0, 1, 0, 1))
        // South and north are bounded by the grid.
        #expect(table.outcomes(state: encode(4, 2, 0, 1), action: 0).first?.nextState == encode(4, 2, 0, 1))
        #expect(table.outcomes(state: encode(0, 2, 0, 1), action: 1).first?.nextState == encode(0, 2, 0, 1))
        #expect(Environments.taxi().maxEpisodeSteps == 200)
    }

    @Test("Steps follow the table; truncation at the time limit; the same seed gives the same episode")
    func stepping() throws {
        var environment = try Environments.frozenLake(slippery: false)
        #expect(environment.reset(seed: 1) == 0)
        var result = try environment.step(2)
        #expect(result == StepResult(observation: 1, reward: 0, terminated: false, truncated: false))
        for _ in 0..<98 { result = try environment.step(3) }  // bump against the top wall
        #expect(!result.truncated)
        result = try environment.step(3)
        #expect(result.truncated && !result.terminated)

        func trajectory(_ seed: UInt64) throws -> [Int] {
            var slippery = try Environments.frozenLake()
            var states = [slippery.reset(seed: seed)]
            for _ in 0..<30 {
                let step = try slippery.step(2)
                states.append(step.observation)
                if step.terminated || step.truncated { states.append(slippery.reset(seed: nil)) }
            }
            return states
        }
        #expect(try trajectory(5) == trajectory(5))
        #expect(try trajectory(5) != trajectory(6))

        // Slips happen at about 1/3 each way.
        var slippery = try Environments.frozenLake(map: ["SFF", "FFF", "FFG"], slippery: true)
        var counts = [0: 0, 1: 0, 3: 0]
        for trial in 0..<30_000 {
            _ = slippery.reset(seed: trial == 0 ? 9 : nil)
            counts[try slippery.step(1).observation, default: 0] += 1
        }
        for (_, count) in counts { #expect(abs(Double(count) / 30_000 - 1.0 / 3.0) < 0.015) }
    }

    @Test("An action outside the table is refused and changes nothing; a map without a goal, and an agent sized for another environment, are refused")
    func refusals() throws {
        var lake = try Environments.frozenLake(slippery: false)
        _ = lake.reset(seed: 1)
        for action in [-1, 4, 5] {
            #expect(throws: SimulationError.invalidAction(action, actions: 4)) { try lake.step(action) }
        }
        #expect(lake.state == 0 && lake.elapsedSteps == 0)
        #expect(try lake.step(2).observation == 1)
        var taxi = Environments.taxi()
        _ = taxi.reset(seed: 1)
        #expect(throws: SimulationError.invalidAction(6, actions: 6)) { try taxi.step(6) }
        #expect(throws: SimulationError.invalidMap("the map needs a goal cell G")) {
            try Environments.frozenLake(map: ["SFF", "FHF", "FFF"])
        }
        var agent = try TabularAgent(states: 16, actions: 6, seed: 1)
        #expect(throws: SimulationError.self) { try Training.train(&agent, in: &lake, episodes: 1, seed: 1) }
        #expect(throws: SimulationError.invalidAction(5, actions: 4)) {
            try Training.evaluate(policy: { _ in 5 }, in: &lake, episodes: 1, seed: 1)
        }
    }

    @Test("The dynamics dump is Gymnasium's P as JSON")
    func dynamicsJSON() throws {
        let object = try Environments.frozenLake().dynamics.jsonObject()
        #expect(object["n_states"] as? Int == 16)
        #expect(object["n_actions"] as? Int == 4)
        #expect((object["initial_states"] as? [String: Double]) == ["0": 1])
        let p = object["P"] as? [String: [String: [[Any]]]]
        let cell = p?["14"]?["2"]?[1]
        #expect(cell?[1] as? Int == 15)
        #expect(cell?[2] as? Double == 1)
        #expect(cell?[3] as? Bool == true)
    }
}

@Suite("Tabular agents reach Gymnasium's solved levels")
struct SolvedLevelTests {
    @Test("FrozenLake 4x4 slippery: greedy success rate ≥ 0.70 over 1,000 episodes")
    func frozenLake() throws {
        var environment = try Environments.frozenLake()
        var agent = try TabularAgent(
            states: 16, actions: 4, learningRate: 0.1, discount: 0.99,
            exploration: .linear(start: 1, end: 0.01, episodes: 10_000), seed: 1)
        _ = try Training.train(&agent, in: &environment, episodes: 20_000, seed: 1)
        let evaluation = try Training.evaluate(agent, in: &environment, episodes: 1_000, seed: 1_000_004)
        #expect(evaluation.successRate >= 0.70, "success rate \(evaluation.successRate)")
    }

    @Test("Taxi: greedy mean return ≥ 8 over 100 episodes")
    func taxi() throws {
        var environment = Environments.taxi()
        var agent = try TabularAgent(
            states: 500, actions: 6, learningRate: 0.5, discount: 0.99,
            exploration: .linear(start: 1, end: 0.01, episodes: 5_000), seed: 1)
        _ = try Training.train(&agent, in: &environment, episodes: 10_000, seed: 1)
        let evaluation = try Training.evaluate(agent, in: &environment, episodes: 100, seed: 1_000_004)
        #expect(evaluation.meanReturn >= 8, "mean return \(evaluation.meanReturn)")
        #expect(evaluation.successRate == 1)
    }

    @Test(
        "CliffWalking: Q-learning's greedy policy walks the 13-step edge path (−13); the on-policy agents a safer one",
        arguments: TabularAgent.Algorithm.allCases)
    func cliffWalking(algorithm: TabularAgent.Algorithm) throws {
        var environment = Environments.cliffWalking()
        var agent = try TabularAgent(
            algorithm: algorithm, states: 48, actions: 4, learningRate: 0.5, discount: 1,
            exploration: .linear(start: 1, end: 0.01, episodes: 250), seed: 1)
        _ = try Training.train(&agent, in: &environment, episodes: 500, seed: 1)
        let evaluation = try Training.evaluate(agent, in: &environment, episodes: 1, seed: 7)
        if algorithm == .qLearning {
            #expect(evaluation.meanReturn == -13, "\(algorithm.rawValue): return \(evaluation.meanReturn)")
        } else {
            // SARSA and Expected SARSA value the exploration they do, so they keep away from the edge (Sutton and
            // Barto, example 6.6): a longer path, never the cliff.
            #expect((-17 ... -13).contains(evaluation.meanReturn), "\(algorithm.rawValue): return \(evaluation.meanReturn)")
        }
        #expect(evaluation.successRate == 1)
    }
}

@Suite("Fraud stream generator")
struct FraudStreamTests {
    static func lines(_ configure: (inout FraudStreamGenerator.Configuration) -> Void = { _ in }, events: Int) -> [String] {
        var configuration = FraudStreamGenerator.Configuration()
        configure(&configuration)
        var generator = FraudStreamGenerator(configuration: configuration)
        var lines: [String] = []
        for _ in 0..<events { lines += generator.next() }
        return lines + generator.finish()
    }

    static func objects(_ lines: [String]) throws -> [[String: Any]] {
        try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    @Test("Byte-identical for a seed, unique ids, the documented fields, about 2% fraud")
    func reproducible() throws {
        let first = Self.lines(events: 20_000)
        #expect(first == Self.lines(events: 20_000))
        #expect(first != Self.lines({ $0.seed = 2 }, events: 20_000))
        let objects = try Self.objects(first)
        #expect(Set(objects.map { $0["id"] as! Int }).count == 20_000)
        #expect(Set(objects[0].keys) == [
            "id", "ts", "amount", "merchant_category", "country", "device", "channel", "hour", "customer_age_days",
            "txn_count_1h", "txn_count_24h", "distance_km", "card_present", "failed_logins_24h", "ip_risk",
            "merchant_risk", "label",
        ])
        let rate = Double(objects.filter { $0["label"] as! Int == 1 }.count) / 20_000
        #expect((0.012...0.03).contains(rate), "fraud rate \(rate)")
        let stamps = objects.map { $0["ts"] as! Int }
        #expect(zip(stamps, stamps.dropFirst()).allSatisfy { $0 < $1 })
    }

    static func mean(_ objects: ArraySlice<[String: Any]>, _ key: String) -> Double {
        objects.map { ($0[key] as! NSNumber).doubleValue }.reduce(0, +) / Double(objects.count)
    }

    @Test("Covariate drift moves the inputs after the drift point; concept drift changes who is fraud")
    func visibleDrift() throws {
        let covariate = try Self.objects(Self.lines({ $0.driftAt = 20_000; $0.drift = .covariate }, events: 40_000))
        let before = covariate[..<20_000]
        let after = covariate[20_000...]
        #expect(Self.mean(after, "amount") > 1.6 * Self.mean(before, "amount"))
        #expect(Self.mean(after, "distance_km") > 2 * Self.mean(before, "distance_km"))
        let nightBefore = Double(before.filter { ($0["hour"] as! Int) < 6 }.count) / 20_000
        let nightAfter = Double(after.filter { ($0["hour"] as! Int) < 6 }.count) / 20_000
        #expect(nightAfter > nightBefore + 0.15)

        let concept = try Self.objects(Self.lines({ $0.driftAt = 20_000; $0.drift = .concept }, events: 40_000))
        func fraudShare(_ slice: ArraySlice<[String: Any]>, cardPresent: Int) -> Double {
            let frauds = slice.filter { $0["label"] as! Int == 1 }
            return Double(frauds.filter { $0["card_present"] as! Int == cardPresent }.count) / Double(frauds.count)
        }
        // Before: fraud is mostly card-not-present; after: mostly card-present. Inputs stay put.
        #expect(fraudShare(concept[..<20_000], cardPresent: 0) > 0.6)
        #expect(fraudShare(concept[20_000...], cardPresent: 1) > 0.6)
        #expect(abs(Self.mean(concept[20_000...], "amount") / Self.mean(concept[..<20_000], "amount") - 1) < 0.1)

        // Gradual drift phases in: the middle of the window is between the two regimes.
        let gradual = try Self.objects(
            Self.lines({ $0.driftAt = 10_000; $0.drift = .covariate; $0.driftWidth = 10_000 }, events: 30_000))
        let early = Self.mean(gradual[..<10_000], "distance_km")
        let middle = Self.mean(gradual[13_000..<17_000], "distance_km")
        let late = Self.mean(gradual[20_000...], "distance_km")
        #expect(early < middle && middle < late)
    }

    @Test("Delayed labels arrive exactly D events later as {id, label}, one per event")
    func labelDelay() throws {
        let lines = Self.lines({ $0.labelDelay = 100 }, events: 1_000)
        let objects = try Self.objects(lines)
        let events = objects.filter { $0.count > 2 }
        let labels = objects.filter { $0.count == 2 }
        #expect(events.count == 1_000 && labels.count == 1_000)
        #expect(events.allSatisfy { $0["label"] == nil })
        #expect(labels.map { $0["id"] as! Int } == Array(1...1_000))
        // The label of event i comes right after event i + 100.
        let position = Dictionary(uniqueKeysWithValues: objects.enumerated().compactMap { index, object in
            object.count > 2 ? (object["id"] as! Int, index) : nil
        })
        let firstLabel = objects.firstIndex { $0.count == 2 }!
        #expect(firstLabel == position[101]! + 1)
        // Same labels as without delay.
        let plain = try Self.objects(Self.lines(events: 1_000))
        #expect(plain.map { $0["label"] as! Int } == labels.map { $0["label"] as! Int })
    }
}

@Suite("Statistics over seeds: Student's t and Welch's test")
struct StatisticsTests {
    @Test("t quantiles and the distribution function equal SciPy's (scipy.stats.t) to 1e-9")
    func studentT() {
        let quantiles: [(Double, Double)] = [(1, 12.706204736174694), (2, 4.302652729749462), (9, 2.262157162798205), (2.5, 3.5746548420036817)]
        for (df, expected) in quantiles {
            #expect(abs(StudentT.quantile(0.975, degreesOfFreedom: df) - expected) < 1e-9, "df \(df)")
        }
        #expect(abs(StudentT.cdf(-1.7, degreesOfFreedom: 3.3) - 0.08966163945354028) < 1e-9)
        #expect(StudentT.cdf(0, degreesOfFreedom: 4) == 0.5)
    }

    @Test("Welch's test and the mean's interval equal SciPy's ttest_ind(equal_var=False) on three seeds each")
    func welch() throws {
        let forgetting = [1441.088, 1785.794, 1723.873]
        let remembering = [2194.232, 4388.997, 2208.922]
        let test = try #require(WelchComparison(forgetting, remembering))
        #expect(abs(test.t - -1.7378004481677676) < 1e-9)
        #expect(abs(test.degreesOfFreedom - 2.084653855248958) < 1e-9)
        #expect(abs(test.pValue - 0.21926973795364677) < 1e-9)
        #expect(abs(test.confidenceInterval95.lowerBound - -4330.5621960921535) < 1e-6)
        #expect(abs(test.confidenceInterval95.upperBound - 1769.631529425487) < 1e-6)
        #expect(WelchComparison([1], [2, 3]) == nil)
        // The mean's interval: mean ± t(0.975, n − 1) · sd / √n.
        let summary = SeedSummary(forgetting)
        let interval = try #require(summary.confidenceInterval95)
        let half = 4.302652729749462 * summary.standardDeviation / 3.0.squareRoot()
        #expect(abs(interval.lowerBound - (summary.mean - half)) < 1e-9 && abs(interval.upperBound - (summary.mean + half)) < 1e-9)
        #expect(SeedSummary([4]).confidenceInterval95 == nil)
    }
}

@Suite("Classic control")
struct ClassicControlTests {
    @Test("Resets draw Gymnasium's ranges, and an action outside the environment's is refused without a step")
    func resetsAndActions() throws {
        var car = MountainCar(seed: 3)
        var pole = CartPole(seed: 3)
        var observation: [Double] = []
        for _ in 0..<1_000 {
            car.reset(seed: nil, into: &observation)
            #expect(observation.count == 2 && (-0.6..<(-0.4)).contains(observation[0]) && observation[1] == 0)
            pole.reset(seed: nil, into: &observation)
            #expect(observation.count == 4 && observation.allSatisfy { abs($0) <= 0.05 })
        }
        let before = car.state
        #expect(throws: SimulationError.invalidAction(3, actions: 3)) { try car.step(3, into: &observation) }
        #expect(throws: SimulationError.invalidAction(-1, actions: 2)) { try pole.step(-1, into: &observation) }
        #expect(car.state == before && car.elapsedSteps == 0)
    }

    @Test("Observations are the state rounded to float32, as Gymnasium returns them")
    func float32Observations() throws {
        var car = MountainCar()
        var observation: [Double] = []
        car.reset(state: [-0.5, 0], into: &observation)
        _ = try car.step(2, into: &observation)
        #expect(observation == car.state.map { Double(Float($0)) })
        #expect(observation[0] != car.state[0])
    }

    @Test("Pushing with the velocity climbs MountainCar; a time limit truncates; the same seed trains the same agent")
    func episodes() throws {
        var car = MountainCar(seed: 1)
        var observation: [Double] = []
        car.reset(seed: 1, into: &observation)
        var steps = 0
        var last = ContinuousStep(reward: 0, terminated: false, truncated: false)
        while !last.terminated && !last.truncated {
            last = try car.step(observation[1] >= 0 ? 2 : 0, into: &observation)
            steps += 1
        }
        #expect(last.terminated && car.succeeded(last) && steps < 200)
        var pole = CartPole(maxEpisodeSteps: 5)
        pole.reset(state: [0, 0, 0, 0], into: &observation)
        for _ in 0..<4 { #expect(try !pole.step(0, into: &observation).truncated) }
        #expect(try pole.step(0, into: &observation).truncated)

        func trained() throws -> TileCodedAgent {
            var environment = MountainCar()
            var agent = try TileCodedAgent(
                coder: try TileCoder(low: environment.observationLow, high: environment.observationHigh), actions: 3,
                exploration: .constant(0.05), seed: 9)
            _ = try Training.train(&agent, in: &environment, episodes: 20, seed: 9)
            return agent
        }
        #expect(try trained() == trained())
        var wrong = try TileCodedAgent(coder: try TileCoder(low: [0], high: [1]), actions: 3, seed: 1)
        var environment = MountainCar()
        #expect(throws: SimulationError.self) { try Training.train(&wrong, in: &environment, episodes: 1, seed: 1) }
    }
}

@Suite("Blackjack")
struct BlackjackTests {
    @Test("Naturals: with sab (the default) a natural beats a dealer's 21 of three cards; without, it draws, or wins +1.5 with natural")
    func naturals() throws {
        // Dealer 10, 6 (draws a 5: 21); player ace and king. The player sticks.
        let cards = [10, 6, 1, 10, 5]
        var plain = Blackjack(sab: false, cards: cards)
        #expect(plain.reset(seed: nil) == Blackjack.state(sum: 21, dealerCard: 10, usableAce: true))
        #expect(try plain.step(0).reward == 0, "21 against 21 is a draw")
        var sab = Blackjack(sab: true, cards: cards)
        _ = sab.reset(seed: nil)
        #expect(try sab.step(0).reward == 1)
        // Dealer 10, 7: the natural wins; +1.5 with natural.
        var natural = Blackjack(natural: true, sab: false, cards: [10, 7, 10, 1])
        _ = natural.reset(seed: nil)
        #expect(try natural.step(0).reward == 1.5)
        // A hit that busts ends the hand at −1; the ace then counts 1.
        var bust = Blackjack(cards: [9, 9, 1, 5, 10, 10])
        #expect(bust.reset(seed: nil) == Blackjack.state(sum: 16, dealerCard: 9, usableAce: true))
        let hit = try bust.step(1)
        #expect(hit.observation == Blackjack.state(sum: 16, dealerCard: 9, usableAce: false) && !hit.terminated)
        let second = try bust.step(1)
        #expect(second.terminated && second.reward == -1 && Blackjack.observation(second.observation).sum == 26)
        #expect(throws: SimulationError.invalidAction(2, actions: 2)) { try bust.step(2) }
    }

    @Test("The deck is 1–9 and four tens in 13, drawn uniformly")
    func deck() {
        var game = Blackjack(seed: 5)
        var counts = [Int](repeating: 0, count: 11)
        for _ in 0..<50_000 {
            _ = game.reset(seed: nil)
            for card in game.player + game.dealer { counts[card] += 1 }
        }
        let total = Double(counts.reduce(0, +))
        #expect(abs(Double(counts[10]) / total - 4.0 / 13) < 0.005)
        #expect(abs(Double(counts[1]) / total - 1.0 / 13) < 0.005)
    }
}
