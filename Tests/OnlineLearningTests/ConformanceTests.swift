import Foundation
import OnlineLearning
import StreamCore
import Testing

/// What the conformance check needs to drive one learner: a fresh learner, a stream of queries, the feedback to a
/// prediction, and feedback that must be refused.
struct ConformanceSubject<Learner: OnlineLearner> where Learner.Prediction: Equatable {
    var name: String
    var make: () throws -> Learner
    var query: (inout SeededRandom) -> Learner.Query
    var feedback: (inout SeededRandom, Learner.Query, Learner.Prediction) -> Learner.Feedback
    var invalidFeedback: () -> [Learner.Feedback]
}

/// Feeds `count` events to `learner`, returning its predictions.
func drive<Learner: OnlineLearner>(
    _ learner: inout Learner, _ subject: ConformanceSubject<Learner>, count: Int, seed: UInt64
) throws -> [Learner.Prediction] {
    var random = SeededRandom(seed: seed)
    var predictions: [Learner.Prediction] = []
    predictions.reserveCapacity(count)
    for _ in 0..<count {
        let query = subject.query(&random)
        let prediction = learner.predict(query)
        predictions.append(prediction)
        try learner.learn(subject.feedback(&random, query, prediction))
    }
    return predictions
}

/// The checks every learner passes: determinism for a seed, a bit-identical snapshot round trip mid-stream (the
/// copy and the original agree on the next 10,000 events: every prediction and the final snapshot bytes), and
/// refusal of non-finite or out-of-range feedback without any change.
func checkConformance<Learner: OnlineLearner>(_ subject: ConformanceSubject<Learner>) throws
where Learner.Prediction: Equatable {
    // Determinism: two fresh learners, same stream.
    var first = try subject.make()
    var second = try subject.make()
    let firstPredictions = try drive(&first, subject, count: 3_000, seed: 11)
    let secondPredictions = try drive(&second, subject, count: 3_000, seed: 11)
    #expect(firstPredictions == secondPredictions, "\(subject.name): predictions differ for the same seed")
    #expect(try Snapshot.encode(first) == Snapshot.encode(second), "\(subject.name): state differs for the same seed")

    // Mid-stream snapshot round trip, then 10,000 more events on both.
    let bytes = try Snapshot.encode(first)
    var restored = try Snapshot.decode(Learner.self, from: bytes)
    #expect(try Snapshot.encode(restored) == bytes, "\(subject.name): re-encoding a decoded snapshot changed it")
    let originalNext = try drive(&first, subject, count: 10_000, seed: 12)
    let restoredNext = try drive(&restored, subject, count: 10_000, seed: 12)
    #expect(originalNext == restoredNext, "\(subject.name): the restored copy predicts differently")
    let finalOriginal = try Snapshot.encode(first)
    #expect(finalOriginal == (try Snapshot.encode(restored)), "\(subject.name): the restored copy diverged")

    // Bad feedback is refused and changes nothing.
    for bad in subject.invalidFeedback() {
        #expect(throws: LearningError.self, "\(subject.name): accepted invalid feedback") { try first.learn(bad) }
        #expect(try Snapshot.encode(first) == finalOriginal, "\(subject.name): refused feedback changed the state")
    }
}

@Suite("Every learner: determinism, bit-identical snapshots, refusal of bad input")
struct ConformanceTests {
    @Test("Values at the edge of the shared range are learned and every state stays finite")
    func edgeOfRange() throws {
        var linucb = try LinUCB(arms: 2, dimension: 2, alpha: 1)
        var agent = try TabularAgent(
            algorithm: .qLearning, states: 2, actions: 1, learningRate: 1, discount: 0.99, exploration: .constant(0), seed: 1)
        for step in 0..<1_000 {
            let sign = step % 2 == 0 ? 1.0 : -1.0
            try linucb.learn(BanditFeedback(arm: step % 2, reward: sign * 1e100, context: BanditContext([1e100, sign * 1e100])))
            try agent.learn(Transition(state: 0, action: 0, reward: 1e100, nextState: 0, terminated: false))
        }
        #expect(agent.values.allSatisfy { $0.isFinite })
        for arm in 0..<2 {
            #expect(linucb.upperConfidenceBound(arm: arm, context: BanditContext([1, 1])).isFinite)
            #expect(linucb.upperConfidenceBound(arm: arm, context: BanditContext([1e100, -1e100])).isFinite)
        }
        // The snapshots load back (a snapshot holding a non-finite value is refused on load).
        _ = try Snapshot.decode(LinUCB.self, from: Snapshot.encode(linucb))
    }

    static func logistic(_ optimizer: Optimizer, standardize: Bool) -> ConformanceSubject<LogisticRegression> {
        ConformanceSubject(
            name: "logreg \(optimizer.name)\(standardize ? " standardised" : "")",
            make: {
                var configuration = LogisticRegressionConfiguration()
                configuration.optimizer = optimizer
                configuration.standardize = standardize
                configuration.l1 = 0.001
                configuration.l2 = 0.001
                configuration.hashBits = 10
                return try LogisticRegression(configuration: configuration)
            },
            query: { random in
                var vector = FeatureVector()
                vector.dense = (0..<5).map { index in
                    random.next() % 10 == 0 ? .nan : Double(index + 1) * 10 * random.nextGaussian()
                }
                vector.hashedIndices = [UInt32(random.next() % 1024), UInt32(random.next() % 1024)]
                vector.hashedValues = [1, random.nextUnitDouble()]
                return vector
            },
            feedback: { random, vector, _ in
                let signal = (vector.dense[0].isNaN ? 0 : vector.dense[0] / 10) - (vector.dense[1].isNaN ? 0 : vector.dense[1] / 20)
                return LabeledExample(features: vector, label: random.nextUnitDouble() < 1 / (1 + exp(-signal)))
            },
            invalidFeedback: {
                var infinite = FeatureVector()
                infinite.dense = [1, .infinity]
                var notFinite = FeatureVector()
                notFinite.hashedIndices = [3]
                notFinite.hashedValues = [.nan]
                var outOfRange = FeatureVector()
                outOfRange.hashedIndices = [1 << 12]
                outOfRange.hashedValues = [1]
                var huge = FeatureVector()
                huge.dense = [1, 1e308]
                return [
                    LabeledExample(features: infinite, label: true), LabeledExample(features: notFinite, label: false),
                    LabeledExample(features: huge, label: true),
                    LabeledExample(features: outOfRange, label: true),
                    LabeledExample(features: FeatureVector(), label: true, weight: .nan),
                ]
            })
    }

    @Test(
        "Logistic regression conforms with every optimizer",
        arguments: [Optimizer.defaultSGD, .sgd(.inverseScaling(initial: 0.1, power: 0.5)), .defaultAdaGrad, .defaultFTRL])
    func logisticConforms(optimizer: Optimizer) throws {
        try checkConformance(Self.logistic(optimizer, standardize: true))
        try checkConformance(Self.logistic(optimizer, standardize: false))
    }

    static let banditMeans = [0.1, 0.3, 0.5, 0.45, 0.2]

    static func bandit<Policy: BanditPolicy>(
        _ name: String, context dimension: Int = 0, _ make: @escaping () throws -> Policy
    ) -> ConformanceSubject<Policy> {
        ConformanceSubject(
            name: name, make: make,
            query: { random in BanditContext((0..<dimension).map { _ in random.nextGaussian() }) },
            feedback: { random, context, choice in
                BanditFeedback(
                    arm: choice.arm, reward: random.nextUnitDouble() < banditMeans[choice.arm] ? 1 : 0, context: context)
            },
            invalidFeedback: {
                [
                    BanditFeedback(arm: 0, reward: .nan, context: BanditContext(Array(repeating: 0, count: dimension))),
                    BanditFeedback(arm: 0, reward: .infinity), BanditFeedback(arm: 5, reward: 1),
                    BanditFeedback(arm: -1, reward: 0),
                    // Finite but beyond the range every learner shares.
                    BanditFeedback(arm: 0, reward: 1e308, context: BanditContext(Array(repeating: 0, count: dimension))),
                    BanditFeedback(arm: 1, reward: -1.7e308, context: BanditContext(Array(repeating: 1, count: dimension))),
                ]
            })
    }

    @Test("Bandit policies conform")
    func banditsConform() throws {
        let arms = Self.banditMeans.count
        try checkConformance(Self.bandit("epsilon-greedy") { try EpsilonGreedy(arms: arms, epsilon: 0.2, decay: 0.999, seed: 3) })
        try checkConformance(Self.bandit("epsilon-greedy discounted") { try EpsilonGreedy(arms: arms, discount: 0.99, seed: 3) })
        try checkConformance(Self.bandit("ucb1") { try UCB1(arms: arms) })
        try checkConformance(Self.bandit("ucb1 discounted") { try UCB1(arms: arms, discount: 0.995) })
        try checkConformance(Self.bandit("thompson beta") { try ThompsonSampling(arms: arms, propensityDraws: 4, seed: 3) })
        try checkConformance(Self.bandit("thompson gaussian") { try ThompsonSampling(arms: arms, prior: .gaussian(variance: 1), seed: 3) })
        try checkConformance(Self.bandit("exp3") { try EXP3(arms: arms, gamma: 0.2, seed: 3) })
        var linucb = Self.bandit("linucb", context: 3) { try LinUCB(arms: arms, dimension: 3, alpha: 0.5) }
        let base = linucb.invalidFeedback
        linucb.invalidFeedback = {
            base() + [
                BanditFeedback(arm: 0, reward: 1, context: BanditContext([1, .nan, 0])),
                BanditFeedback(arm: 0, reward: 1, context: BanditContext([1, 2, 3, 4])),
                BanditFeedback(arm: 0, reward: 1, context: BanditContext([1e308, 1e308, 1e308])),
                BanditFeedback(arm: 2, reward: 1e101, context: BanditContext([1, 0, 0])),
            ]
        }
        try checkConformance(linucb)
    }

    @Test("Tabular agents conform", arguments: TabularAgent.Algorithm.allCases)
    func tabularConforms(algorithm: TabularAgent.Algorithm) throws {
        try checkConformance(
            ConformanceSubject<TabularAgent>(
                name: algorithm.rawValue,
                make: {
                    try TabularAgent(
                        algorithm: algorithm, states: 16, actions: 4, learningRate: 0.2, discount: 0.9,
                        exploration: .linear(start: 1, end: 0.05, episodes: 200), seed: 5)
                },
                query: { random in Int(random.next() % 16) },
                feedback: { random, state, action in
                    Transition(
                        state: state, action: action, reward: random.nextGaussian(), nextState: Int(random.next() % 16),
                        terminated: random.next() % 20 == 0, truncated: random.next() % 50 == 0,
                        nextAction: Int(random.next() % 4))
                },
                invalidFeedback: {
                    [
                        Transition(state: 0, action: 0, reward: .nan, nextState: 1, terminated: false, nextAction: 0),
                        Transition(state: 16, action: 0, reward: 1, nextState: 1, terminated: false, nextAction: 0),
                        Transition(state: 0, action: 4, reward: 1, nextState: 1, terminated: false, nextAction: 0),
                        Transition(state: 0, action: 0, reward: 1, nextState: -1, terminated: true),
                        Transition(state: 0, action: 0, reward: 1.7e308, nextState: 1, terminated: true),
                        Transition(state: 3, action: 1, reward: -1e101, nextState: 1, terminated: false, nextAction: 0),
                    ] + (algorithm == .sarsa
                        ? [Transition(state: 0, action: 0, reward: 1, nextState: 1, terminated: false)] : [])
                }))
    }

    @Test("Tile-coded agents conform", arguments: TabularAgent.Algorithm.allCases)
    func tileCodedConforms(algorithm: TabularAgent.Algorithm) throws {
        let coder = try TileCoder(low: [-1, -2], high: [1, 2], tilings: 4, tiles: 5)
        func observation(_ random: inout SeededRandom) -> [Double] {
            [random.nextUnitDouble() * 2.4 - 1.2, random.nextGaussian() * 2]
        }
        try checkConformance(
            ConformanceSubject<TileCodedAgent>(
                name: "tile-coded \(algorithm.rawValue)",
                make: {
                    try TileCodedAgent(
                        algorithm: algorithm, coder: coder, actions: 3, learningRate: 0.3, discount: 0.9,
                        exploration: .linear(start: 1, end: 0.05, episodes: 200), seed: 5)
                },
                query: { random in observation(&random) },
                feedback: { random, query, action in
                    ContinuousTransition(
                        observation: query, action: action, reward: random.nextGaussian(), nextObservation: observation(&random),
                        terminated: random.next() % 20 == 0, truncated: random.next() % 50 == 0,
                        nextAction: Int(random.next() % 3))
                },
                invalidFeedback: {
                    [
                        ContinuousTransition(observation: [0, 0], action: 0, reward: .nan, nextObservation: [0, 0], terminated: false, nextAction: 0),
                        ContinuousTransition(observation: [0], action: 0, reward: 1, nextObservation: [0, 0], terminated: false, nextAction: 0),
                        ContinuousTransition(observation: [0, .infinity], action: 0, reward: 1, nextObservation: [0, 0], terminated: true),
                        ContinuousTransition(observation: [0, 0], action: 0, reward: 1, nextObservation: [.nan, 0], terminated: true),
                        ContinuousTransition(observation: [0, 0], action: 3, reward: 1, nextObservation: [0, 0], terminated: false, nextAction: 0),
                        ContinuousTransition(observation: [0, 0], action: 0, reward: 1.7e308, nextObservation: [0, 0], terminated: true),
                        ContinuousTransition(observation: [0, 0], action: 0, reward: -1e101, nextObservation: [0, 0], terminated: true),
                    ] + (algorithm == .sarsa
                        ? [ContinuousTransition(observation: [0, 0], action: 0, reward: 1, nextObservation: [0, 0], terminated: false)] : [])
                }))
    }

    @Test("The progressive classifier (vectorizer + model + metrics) conforms")
    func classifierConforms() throws {
        let decoder = EventDecoder()
        try checkConformance(
            ConformanceSubject<ProgressiveClassifier>(
                name: "progressive classifier",
                make: {
                    var model = LogisticRegressionConfiguration()
                    model.hashBits = 12
                    model.optimizer = .defaultFTRL
                    var features = FeatureSpaceConfiguration()
                    features.hashBits = 12
                    return try ProgressiveClassifier(features: features, model: model, window: 500)
                },
                query: { random in
                    let amount = (100 * random.nextUnitDouble()).rounded()
                    let country = ["FR", "DE", "US"][Int(random.next() % 3)]
                    let label = random.nextUnitDouble() < (amount > 70 ? 0.8 : 0.1) ? 1 : 0
                    let missing = random.next() % 7 == 0 ? "null" : "\(random.next() % 24)"
                    let text = "{\"id\":1,\"amount\":\(amount),\"hour\":\(missing),\"country\":\"\(country)\",\"label\":\(label)}"
                    let event = DecodedEvent()
                    try! decoder.decode(Array(text.utf8), into: event)
                    return event
                },
                feedback: { _, event, _ in event },
                invalidFeedback: { [] }))
    }
}
