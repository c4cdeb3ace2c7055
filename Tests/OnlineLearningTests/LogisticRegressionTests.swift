import Foundation
import OnlineLearning
import Simulation
import StreamCore
import Testing

@Suite("Logistic regression")
struct LogisticRegressionTests {
    /// Progressive ROC-AUC of a classifier with `model` over `events` events of the known-model stream, and the
    /// true model's ROC-AUC on the same events.
    static func progressive(
        _ model: LogisticRegressionConfiguration, events: Int = 50_000, seed: UInt64 = 7
    ) throws -> (learned: Double, truth: Double, classifier: ProgressiveClassifier) {
        var generator = LogisticStreamGenerator(seed: seed)
        var features = FeatureSpaceConfiguration()
        features.hashBits = model.hashBits
        var classifier = try ProgressiveClassifier(features: features, model: model, window: nil)
        var truth = CumulativeROCAUC()
        let decoder = EventDecoder()
        let event = DecodedEvent()
        for _ in 0..<events {
            let (json, probability, label) = generator.next()
            try decoder.decode(Array(json.utf8), into: event)
            try classifier.process(event)
            truth.update(score: probability, label: label)
        }
        return (classifier.metrics.cumulative.rocAUC ?? 0, truth.value ?? 0, classifier)
    }

    @Test(
        "Progressive ROC-AUC is within 0.02 of the true model's on unscaled features, with default settings",
        arguments: [Optimizer.defaultSGD, .defaultAdaGrad, .defaultFTRL])
    func rocAUCNearTruth(optimizer: Optimizer) throws {
        var model = LogisticRegressionConfiguration()
        model.optimizer = optimizer
        let (learned, truth, classifier) = try Self.progressive(model)
        #expect(truth > 0.85)
        #expect(learned > truth - 0.02, "\(optimizer.name): progressive AUC \(learned) vs true model \(truth)")
        #expect(classifier.metrics.cumulative.count == 50_000)
        #expect(classifier.model.denseWeights.allSatisfy { $0.isFinite })
    }

    @Test("Without standardisation, unscaled features make SGD much worse (why standardisation is on by default)")
    func unscaledHurts() throws {
        var model = LogisticRegressionConfiguration()
        model.optimizer = .defaultSGD
        model.standardize = false
        let (raw, truth, _) = try Self.progressive(model, events: 20_000)
        model.standardize = true
        let (scaled, _, _) = try Self.progressive(model, events: 20_000)
        #expect(raw < scaled - 0.05, "unstandardised \(raw), standardised \(scaled), truth \(truth)")
    }

    @Test("FTRL-Proximal with L1 leaves exact zeros on irrelevant features and keeps the relevant ones")
    func ftrlSparsity() throws {
        var model = LogisticRegressionConfiguration()
        model.optimizer = .ftrl(alpha: 0.1, beta: 1)
        model.l1 = 300
        let (learned, truth, classifier) = try Self.progressive(model)
        let weights = classifier.model.denseWeights
        #expect(weights.count == 20)
        // The stream's features f10…f19 have true weight 0.
        #expect(weights[10...].allSatisfy { $0 == 0 }, "irrelevant weights \(Array(weights[10...])), relevant \(Array(weights[..<10]))")
        #expect(weights[..<10].allSatisfy { $0 != 0 }, "relevant weights \(Array(weights[..<10]))")
        for index in 0..<10 {
            let truthSign = index % 2 == 0 ? 1.0 : -1.0
            #expect(weights[index] * truthSign > 0, "weight \(index) has the wrong sign: \(weights[index])")
        }
        #expect(learned > truth - 0.02)
    }

    @Test("Plain SGD with the same L1 does not zero weights exactly (only FTRL's closed form does)")
    func sgdL1NotSparse() throws {
        var model = LogisticRegressionConfiguration()
        model.optimizer = .defaultSGD
        model.l1 = 0.0001
        let (_, _, classifier) = try Self.progressive(model, events: 5_000)
        #expect(classifier.model.denseWeights[10...].contains { $0 != 0 })
    }

    @Test("A positive-class weight raises recall on a rare-positive stream")
    func classWeightRaisesRecall() throws {
        func recall(_ weight: Double) throws -> Double {
            var model = LogisticRegressionConfiguration()
            model.optimizer = .defaultSGD
            model.positiveClassWeight = weight
            var generator = LogisticStreamGenerator(seed: 3, bias: -6)  // about 3% positives
            var learner = try LogisticRegression(configuration: model)
            var metrics = BinaryClassificationMetrics()
            let decoder = EventDecoder()
            let event = DecodedEvent()
            var vectorizer = FeatureVectorizer()
            var vector = FeatureVector()
            for _ in 0..<30_000 {
                let (json, _, label) = generator.next()
                try decoder.decode(Array(json.utf8), into: event)
                vectorizer.vectorize(event, into: &vector)
                metrics.update(probability: try learner.predictThenLearn(vector, label: label), label: label)
            }
            let positives = metrics.counts.truePositives + metrics.counts.falseNegatives
            #expect(Double(positives) / 30_000 < 0.06, "\(positives) positives")
            return metrics.counts.recall
        }
        let plain = try recall(1)
        let weighted = try recall(20)
        #expect(weighted > plain + 0.2, "recall \(plain) unweighted, \(weighted) with weight 20")
    }

    @Test("Missing values have their own learned weight; they are not read as zero")
    func missingIndicator() throws {
        var model = try LogisticRegression()
        var random = SeededRandom(seed: 9)
        // When x0 is missing the label is always 1; otherwise the label follows x0's sign.
        for _ in 0..<20_000 {
            var vector = FeatureVector()
            let missing = random.next() % 4 == 0
            let x = random.nextGaussian()
            vector.dense = [missing ? .nan : x]
            try model.learn(LabeledExample(features: vector, label: missing || x > 0))
        }
        var probe = FeatureVector()
        probe.dense = [.nan]
        #expect(model.predict(probe) > 0.8)
        #expect(model.missingWeights[0] > 1)
        probe.dense = [0]
        #expect(abs(model.predict(probe) - 0.5) < 0.2)
    }

    /// The model's semantics one coordinate at a time, as the paper and the documentation state them: the oracle
    /// for the four-lane dense path (tail lanes, missing lanes, masks).
    struct ScalarReference {
        let configuration: LogisticRegressionConfiguration
        var bias = 0.0, biasState = [0.0, 0.0]
        var weights: [Double], states: [[Double]]
        var missing: [Double], missingStates: [[Double]]
        var counts: [Double], means: [Double], squares: [Double]

        init(_ configuration: LogisticRegressionConfiguration, features: Int) {
            self.configuration = configuration
            weights = Array(repeating: 0, count: features)
            states = Array(repeating: [0, 0], count: features)
            missing = weights
            missingStates = states
            counts = weights
            means = weights
            squares = weights
        }

        func scaled(_ x: Double, _ i: Int) -> Double {
            guard configuration.standardize else { return x }
            guard counts[i] >= 2, squares[i] > 0 else { return 0 }
            return (x - means[i]) * (counts[i] / squares[i]).squareRoot()
        }

        func score(_ x: [Double]) -> Double {
            var score = bias
            for i in x.indices {
                if x[i].isNaN {
                    if configuration.missingIndicators { score += missing[i] }
                } else {
                    score += weights[i] * scaled(x[i], i)
                }
            }
            return score
        }

        func step(_ w: inout Double, _ state: inout [Double], _ g: Double, l1: Double, l2: Double) {
            let g = min(max(g, -configuration.gradientClip), configuration.gradientClip)
            func shrink(_ w: Double, _ t: Double) -> Double { w > t ? w - t : (w < -t ? w + t : 0) }
            switch configuration.optimizer {
            case .sgd(let schedule):
                let rate = schedule.rate(atStep: 1)
                w = shrink(w - rate * (g + l2 * w), l1 > 0 ? rate * l1 : 0)
            case .adaGrad(let rate, let epsilon):
                let gradient = g + l2 * w
                state[0] += gradient * gradient
                let coordinateRate = rate / (state[0].squareRoot() + epsilon)
                w = shrink(w - coordinateRate * gradient, l1 > 0 ? coordinateRate * l1 : 0)
            case .ftrl(let alpha, let beta):
                let sigma = ((state[1] + g * g).squareRoot() - state[1].squareRoot()) / alpha
                state[0] += g - sigma * w
                state[1] += g * g
                let z = state[0]
                w = abs(z) <= l1 ? 0 : -(z - (z < 0 ? -l1 : l1)) / ((beta + state[1].squareRoot()) / alpha + l2)
            }
        }

        mutating func learn(_ x: [Double], label: Bool) {
            var probability = 1 / (1 + exp(-score(x)))
            if configuration.standardize {
                for i in x.indices where !x[i].isNaN {
                    counts[i] += 1
                    let delta = x[i] - means[i]
                    means[i] += delta / counts[i]
                    squares[i] += delta * (x[i] - means[i])
                }
                probability = 1 / (1 + exp(-score(x)))
            }
            let gradient = probability - (label ? 1 : 0)
            step(&bias, &biasState, gradient, l1: 0, l2: 0)
            for i in x.indices {
                if x[i].isNaN {
                    if configuration.missingIndicators {
                        step(&missing[i], &missingStates[i], gradient, l1: configuration.l1, l2: configuration.l2)
                    }
                } else if scaled(x[i], i) != 0 {
                    step(&weights[i], &states[i], gradient * scaled(x[i], i), l1: configuration.l1, l2: configuration.l2)
                }
            }
        }
    }

    @Test(
        "Dense features four at a time give what the rules give one coordinate at a time (7 features: a tail lane; missing values; L1 and L2)",
        arguments: [Optimizer.sgd(.constant(0.05)), .defaultAdaGrad, .defaultFTRL], [false, true])
    func lanesMatchScalarRules(optimizer: Optimizer, standardize: Bool) throws {
        var configuration = LogisticRegressionConfiguration()
        configuration.optimizer = optimizer
        configuration.standardize = standardize
        configuration.l1 = 0.001
        configuration.l2 = 0.01
        configuration.gradientClip = 2
        var model = try LogisticRegression(configuration: configuration)
        var reference = ScalarReference(configuration, features: 7)
        var random = SeededRandom(seed: 21)
        for _ in 0..<3_000 {
            let x = (0..<7).map { i in random.next() % 9 == 0 ? Double.nan : Double(i + 1) * random.nextGaussian() + Double(i) }
            let label = x[0].isNaN ? true : x[0] + (x[3].isNaN ? 0 : x[3]) > 3
            var vector = FeatureVector()
            vector.dense = x
            try model.learn(LabeledExample(features: vector, label: label))
            reference.learn(x, label: label)
        }
        func close(_ a: [Double], _ b: [Double]) -> Bool {
            zip(a, b).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) }
        }
        #expect(close(model.denseWeights, reference.weights), "\(model.denseWeights) vs \(reference.weights)")
        #expect(close(model.missingWeights, reference.missing), "\(model.missingWeights) vs \(reference.missing)")
        #expect(close([model.bias], [reference.bias]))
        #expect(model.denseWeights.contains { $0 != 0 } && model.missingWeights.contains { $0 != 0 })
    }

    @Test("Gradient clipping and refusal keep weights finite under extreme values")
    func weightsStayFinite() throws {
        var configuration = LogisticRegressionConfiguration()
        configuration.standardize = false
        configuration.optimizer = .sgd(.constant(10))
        var model = try LogisticRegression(configuration: configuration)
        var random = SeededRandom(seed: 1)
        var refused = 0
        for _ in 0..<5_000 {
            var vector = FeatureVector()
            vector.dense = [1.7e308 * (random.next() % 2 == 0 ? 1 : -1), 1e-300, -1e200]
            do {
                try model.learn(LabeledExample(features: vector, label: random.next() % 2 == 0))
            } catch {
                refused += 1
            }
        }
        #expect((model.denseWeights + [model.bias]).allSatisfy { $0.isFinite })
        #expect(refused > 0)  // scores overflow once weights grow; those events are refused, not learned
    }

    @Test(
        "Bad configuration names its key",
        arguments: ["optimizer.learning_rate", "optimizer.beta", "optimizer.epsilon", "l1", "l2", "positive_class_weight",
                    "hash_bits", "gradient_clip"])
    func badConfiguration(key: String) {
        var configuration = LogisticRegressionConfiguration()
        switch key {
        case "optimizer.learning_rate": configuration.optimizer = .sgd(.constant(-1))
        case "optimizer.beta": configuration.optimizer = .ftrl(alpha: 0.1, beta: 0)
        case "optimizer.epsilon": configuration.optimizer = .adaGrad(learningRate: 0.1, epsilon: .nan)
        case "l1": configuration.l1 = -1
        case "l2": configuration.l2 = .infinity
        case "positive_class_weight": configuration.positiveClassWeight = 0
        case "hash_bits": configuration.hashBits = 31
        default: configuration.gradientClip = 0
        }
        #expect {
            _ = try LogisticRegression(configuration: configuration)
        } throws: { error in
            guard case .invalidConfiguration(let badKey, _) = error as? LearningError else { return false }
            return badKey == key
        }
    }
}
