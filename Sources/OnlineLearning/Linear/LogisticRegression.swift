public import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Binary logistic regression learned online, one event at a time, over dense and hashed sparse features.
///
/// Optimizers: SGD (constant or inverse-scaling rate), AdaGrad and FTRL-Proximal (``Optimizer``), with L1/L2,
/// an intercept, a positive-class weight, per-coordinate gradient clipping and optional online standardisation
/// (``LogisticRegressionConfiguration``). Dense missing values (`NaN`) are explicit: each dense feature has a
/// learned "missing" weight. Inputs with an infinite value, a non-finite hashed value or an out-of-range bucket
/// are refused before anything changes, so weights stay finite.
///
/// - Complexity: ``predict(_:)`` and ``learn(_:)`` are O(features of the event); no allocation once the model has
///   grown to the stream's dense schema (the 2^`hashBits` hashed weights are allocated on the first hashed
///   feature).
public struct LogisticRegression: OnlineLearner, Hashable {
    public static let snapshotKind = "logistic-regression"
    public static let snapshotVersion = 1

    public let configuration: LogisticRegressionConfiguration
    var intercept: ParameterBlock
    var dense: ParameterBlock
    var missing: ParameterBlock
    var hashed: ParameterBlock
    /// Running mean and deviation of the dense features (unused when standardisation is off).
    public private(set) var standardizer = OnlineStandardizer()
    /// Learning steps taken (the `t` of inverse-scaling SGD).
    public private(set) var steps: Int = 0

    /// Throws ``LearningError/invalidConfiguration(key:reason:)`` for a bad configuration.
    public init(configuration: LogisticRegressionConfiguration = .init()) throws(LearningError) {
        try configuration.validate()
        self.configuration = configuration
        let arrays = configuration.optimizer.stateArrays
        intercept = ParameterBlock(count: 1, stateArrays: arrays)
        dense = ParameterBlock(count: 0, stateArrays: arrays)
        missing = ParameterBlock(count: 0, stateArrays: arrays)
        hashed = ParameterBlock(count: 0, stateArrays: arrays)
    }

    /// The intercept.
    public var bias: Double { intercept.weight(0) }
    /// Dense feature weights by schema index.
    public var denseWeights: [Double] { dense.weights }
    /// Per dense feature, the weight used when it is missing.
    public var missingWeights: [Double] { missing.weights }
    /// Hashed weights by bucket (empty until the first hashed feature).
    public var hashedWeights: [Double] { hashed.weights }

    /// The probability that `features` belong to the positive class.
    public func predict(_ features: FeatureVector) -> Double {
        let (score, _) = margin(features)
        return Self.sigmoid(score.isNaN ? 0 : score)
    }

    /// Learns from one labelled event.
    public mutating func learn(_ example: LabeledExample) throws(LearningError) {
        _ = try predictThenLearn(example.features, label: example.label, weight: example.weight)
    }

    /// Progressive validation in one pass: the probability before learning, then one learning step.
    ///
    /// Throws (changing nothing) when a dense value is infinite, a hashed value is not finite, a bucket is beyond
    /// 2^`hashBits`, the weight is not positive and finite, or the score overflows.
    @discardableResult
    public mutating func predictThenLearn(
        _ features: FeatureVector, label: Bool, weight: Double = 1
    ) throws(LearningError) -> Double {
        guard weight > 0, weight.isFinite else { throw .nonFinite("weight = \(weight) (must be positive)") }
        prepare(for: features)
        let (score, valid) = margin(features)
        guard valid else { try Self.rejectInvalid(features, hashBits: configuration.hashBits) }
        guard score.isFinite else { throw .nonFinite("score = \(score) (feature values overflow)") }
        let probability = Self.sigmoid(score)
        var learningProbability = probability
        if configuration.standardize {
            // The scaler learns first (River's pipeline order): an event's own scaled value is then at most
            // √(n − 1) in size, so early events cannot produce huge gradients.
            standardizer.update(features)
            let rescored = margin(features).score
            if rescored.isFinite { learningProbability = Self.sigmoid(rescored) }
        }
        let classWeight = label ? configuration.positiveClassWeight : 1
        let gradient = (learningProbability - (label ? 1 : 0)) * classWeight * weight
        steps += 1
        switch configuration.optimizer {
        case .sgd(let schedule):
            apply(SGDRule(rate: schedule.rate(atStep: steps)), features, gradient)
        case .adaGrad(let rate, let epsilon):
            apply(AdaGradRule(rate: rate, epsilon: epsilon), features, gradient)
        case .ftrl(let alpha, let beta):
            apply(FTRLRule(alpha: alpha, beta: beta), features, gradient)
        }
        return probability
    }

    @inline(__always)
    static func sigmoid(_ score: Double) -> Double {
        1 / (1 + exp(-score))
    }

    /// Grows dense blocks to the vector's schema and allocates hashed weights on first use.
    @inline(__always)
    mutating func prepare(for features: FeatureVector) {
        let denseCount = features.dense.count
        if denseCount > dense.count {
            dense.grow(to: denseCount)
            missing.grow(to: denseCount)
            standardizer.grow(to: denseCount)
        }
        if hashed.count == 0 && !features.hashedIndices.isEmpty {
            hashed.grow(to: 1 << configuration.hashBits)
        }
    }

    /// The raw score, and whether every value was acceptable (no infinite dense value, finite in-range hashed).
    @inline(__always)
    func margin(_ features: FeatureVector) -> (score: Double, valid: Bool) {
        var score = configuration.fitIntercept ? intercept.weight(0) : 0
        var valid = true
        let stride = dense.stride
        let standardize = configuration.standardize
        let useMissing = configuration.missingIndicators
        features.dense.withUnsafeBufferPointer { x in
            dense.storage.withUnsafeBufferPointer { w in
                missing.storage.withUnsafeBufferPointer { m in
                    standardizer.means.withUnsafeBufferPointer { mean in
                        standardizer.inverseDeviations.withUnsafeBufferPointer { inverse in
                            let n = min(x.count, w.count / stride)
                            for i in 0..<n {
                                let value = x[i]
                                if value.isNaN {
                                    if useMissing { score += m[i * stride] }
                                    continue
                                }
                                valid = valid && value.isFinite
                                let scaled = standardize ? (value - mean[i]) * inverse[i] : value
                                score += w[i * stride] * scaled
                            }
                        }
                    }
                }
            }
        }
        features.hashedIndices.withUnsafeBufferPointer { indices in
            features.hashedValues.withUnsafeBufferPointer { values in
                hashed.storage.withUnsafeBufferPointer { w in
                    let buckets = w.count / stride
                    for j in 0..<min(indices.count, values.count) {
                        let index = Int(indices[j])
                        let value = values[j]
                        guard index < buckets, value.isFinite else {
                            valid = valid && !(index >= (1 << configuration.hashBits) || !value.isFinite)
                            continue
                        }
                        score += w[index * stride] * value
                    }
                }
            }
        }
        if features.hashedIndices.count != features.hashedValues.count { valid = false }
        return (score, valid)
    }

    /// Throws the error naming the first unacceptable value.
    static func rejectInvalid(_ features: FeatureVector, hashBits: Int) throws(LearningError) -> Never {
        for (index, value) in features.dense.enumerated() where value.isInfinite {
            throw .nonFinite("dense feature \(index) = \(value)")
        }
        guard features.hashedIndices.count == features.hashedValues.count else {
            throw .outOfRange(
                "\(features.hashedIndices.count) hashed indices but \(features.hashedValues.count) hashed values")
        }
        for (position, value) in features.hashedValues.enumerated() {
            guard value.isFinite else { throw .nonFinite("hashed feature \(features.hashedIndices[position]) = \(value)") }
            guard features.hashedIndices[position] < 1 << hashBits else {
                throw .outOfRange(
                    "hashed bucket \(features.hashedIndices[position]) beyond 2^\(hashBits)")
            }
        }
        throw .outOfRange("invalid feature vector")
    }

    /// One optimizer step over the event's coordinates, given the loss gradient with respect to the score.
    @inline(__always)
    mutating func apply<Rule: CoordinateRule>(_ rule: Rule, _ features: FeatureVector, _ gradient: Double) {
        let clip = configuration.gradientClip
        let l1 = configuration.l1
        let l2 = configuration.l2
        @inline(__always) func clipped(_ g: Double) -> Double { g > clip ? clip : (g < -clip ? -clip : g) }

        if configuration.fitIntercept {
            Self.step(rule, &intercept, 0, clipped(gradient), 0, 0)
        }
        let standardize = configuration.standardize
        let useMissing = configuration.missingIndicators
        features.dense.withUnsafeBufferPointer { x in
            standardizer.means.withUnsafeBufferPointer { mean in
                standardizer.inverseDeviations.withUnsafeBufferPointer { inverse in
                    dense.withPointer { w, stride in
                        missing.withPointer { m, _ in
                            for i in 0..<x.count {
                                let value = x[i]
                                if value.isNaN {
                                    if useMissing {
                                        rule.step(m + i * stride, gradient: clipped(gradient), l1: l1, l2: l2)
                                    }
                                    continue
                                }
                                let scaled = standardize ? (value - mean[i]) * inverse[i] : value
                                guard scaled != 0 else { continue }
                                rule.step(w + i * stride, gradient: clipped(gradient * scaled), l1: l1, l2: l2)
                            }
                        }
                    }
                }
            }
        }
        guard !features.hashedIndices.isEmpty else { return }
        features.hashedIndices.withUnsafeBufferPointer { indices in
            features.hashedValues.withUnsafeBufferPointer { values in
                hashed.withPointer { w, stride in
                    for j in 0..<indices.count {
                        let value = values[j]
                        guard value != 0 else { continue }
                        rule.step(w + Int(indices[j]) * stride, gradient: clipped(gradient * value), l1: l1, l2: l2)
                    }
                }
            }
        }
    }

    @inline(__always)
    static func step<Rule: CoordinateRule>(
        _ rule: Rule, _ block: inout ParameterBlock, _ index: Int, _ g: Double, _ l1: Double, _ l2: Double
    ) {
        block.withPointer { w, stride in rule.step(w + index * stride, gradient: g, l1: l1, l2: l2) }
    }
}

extension ParameterBlock {
    /// The interleaved storage's base pointer and stride; nothing is called for an empty block.
    @inline(__always)
    mutating func withPointer(_ body: (UnsafeMutablePointer<Double>, Int) -> Void) {
        let stride = self.stride
        storage.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            body(base, stride)
        }
    }
}
