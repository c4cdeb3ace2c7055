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
/// learned "missing" weight. Inputs with a value beyond ±``maxMagnitude`` (infinities included), a non-finite
/// hashed value or an out-of-range bucket are refused before anything changes, so weights, the standardiser's
/// sums and every snapshot stay finite.
///
/// - Complexity: ``predict(_:)`` and ``learn(_:)`` are O(features of the event); no allocation once the model has
///   grown to the stream's dense schema (the 2^`hashBits` hashed weights are allocated on the first hashed
///   feature).
public struct LogisticRegression: OnlineLearner, Hashable {
    /// The largest magnitude of a feature value that is learned: ``LearnableValue/maxMagnitude`` (1e100), the
    /// range every learner shares. The standardiser sums squared deviations, which overflow to infinity past about
    /// 1e154, so a larger value is refused, naming the feature, rather than clipped.
    public static let maxMagnitude = LearnableValue.maxMagnitude

    public static let snapshotKind = "logistic-regression"
    public static let snapshotVersion = 1

    public let configuration: LogisticRegressionConfiguration
    var intercept: ParameterBlock<InterleavedLayout>
    var dense: ParameterBlock<PlanarLayout>
    var missing: ParameterBlock<PlanarLayout>
    var hashed: ParameterBlock<InterleavedLayout>
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

    /// What dense feature `index` with `value` adds to the score: its weight × the standardised value, or its
    /// missing weight when `value` is `NaN` (0 for a feature the model has no weight for yet).
    public func denseContribution(at index: Int, value: Double) -> Double {
        guard index < dense.count, index < missing.count else { return 0 }
        if value.isNaN { return configuration.missingIndicators ? missing.weight(index) : 0 }
        let scaled = configuration.standardize && index < standardizer.count ? standardizer.scaled(value, at: index) : value
        return dense.weight(index) * scaled
    }

    /// What hashed bucket `bucket` with `value` adds to the score.
    public func hashedContribution(bucket: UInt32, value: Double) -> Double {
        guard Int(bucket) < hashed.count else { return 0 }
        return hashed.weight(Int(bucket)) * value
    }

    /// The probability that `features` belong to the positive class.
    public func predict(_ features: FeatureVector) -> Double {
        let (score, _) = margin(features)
        return Self.sigmoid(score.isNaN ? 0 : score)
    }

    /// ``predict(_:)`` for features whose label comes later: throws, as learning them would, when they can never
    /// be learned. The check is the score's own (one pass), plus the dense values the model has no weights for yet.
    public func predictLearnable(_ features: FeatureVector) throws(LearningError) -> Double {
        let (score, valid) = margin(features)
        var learnable = valid
        for value in features.dense[denseLimit(features)...] where abs(value) > Self.maxMagnitude { learnable = false }
        guard learnable else { try Self.rejectInvalid(features, hashBits: configuration.hashBits) }
        return Self.sigmoid(score.isNaN ? 0 : score)
    }

    /// Learns from one labelled event.
    public mutating func learn(_ example: LabeledExample) throws(LearningError) {
        _ = try predictThenLearn(example.features, label: example.label, weight: example.weight)
    }

    /// Progressive validation in one pass: the probability before learning, then one learning step.
    ///
    /// Throws (changing nothing) when a value is beyond ±``maxMagnitude``, a hashed value is not finite, a bucket is beyond
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

    /// How many of the vector's dense values the model covers (its blocks and standardiser grow together; the
    /// smallest bounds every pointer read).
    @inline(__always)
    func denseLimit(_ features: FeatureVector) -> Int {
        min(features.dense.count, dense.count, missing.count, standardizer.count)
    }

    /// The raw score, and whether every value was acceptable (dense values within ±``maxMagnitude`` or missing,
    /// hashed ones finite and within it, buckets in range).
    ///
    /// Dense features go four at a time (``DoubleLanes``): each lane sums its own terms and the lanes are added
    /// at the end, so the score is deterministic.
    @inline(__always)
    func margin(_ features: FeatureVector) -> (score: Double, valid: Bool) {
        var score = configuration.fitIntercept ? intercept.weight(0) : 0
        var valid = true
        let standardize = configuration.standardize
        let useMissing = configuration.missingIndicators
        let limit = denseLimit(features)
        if limit > 0 {
            features.dense.withUnsafeBufferPointer { x in
                dense.storage.withUnsafeBufferPointer { w in
                    missing.storage.withUnsafeBufferPointer { m in
                        standardizer.means.withUnsafeBufferPointer { mean in
                            standardizer.inverseDeviations.withUnsafeBufferPointer { inverse in
                                let x = x.baseAddress!, w = w.baseAddress!, m = m.baseAddress!
                                let mean = mean.baseAddress!, inverse = inverse.baseAddress!
                                var sum = DoubleLanes(repeating: 0)
                                var infinite = SIMDMask<DoubleLanes.MaskStorage>(repeating: false)
                                let bound = DoubleLanes(repeating: Self.maxMagnitude)
                                var index = 0
                                while index < limit {
                                    let value = x.lanes(at: index, limit: limit)
                                    infinite .|= (value .> bound) .| (value .< -bound)
                                    let scaled =
                                        standardize
                                        ? (value - mean.lanes(at: index, limit: limit))
                                            * inverse.lanes(at: index, limit: limit)
                                        : value
                                    let missingTerm =
                                        useMissing ? m.lanes(at: index, limit: limit) : DoubleLanes(repeating: 0)
                                    sum += (w.lanes(at: index, limit: limit) * scaled)
                                        .replacing(with: missingTerm, where: value .!= value)
                                    index += DoubleLanes.scalarCount
                                }
                                score += sum.sum()
                                valid = !any(infinite)
                            }
                        }
                    }
                }
            }
        }
        features.hashedIndices.withUnsafeBufferPointer { indices in
            features.hashedValues.withUnsafeBufferPointer { values in
                hashed.storage.withUnsafeBufferPointer { w in
                    let buckets = hashed.count
                    for j in 0..<min(indices.count, values.count) {
                        let index = Int(indices[j])
                        let value = values[j]
                        guard index < buckets, abs(value) <= Self.maxMagnitude else {
                            valid = valid && !(index >= (1 << configuration.hashBits) || !(abs(value) <= Self.maxMagnitude))
                            continue
                        }
                        score += w[hashed.offset(slot: 0, index: index)] * value
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
        for (index, value) in features.dense.enumerated() where abs(value) > maxMagnitude {
            throw .outOfRange("dense feature \(index) = \(value): beyond ±1e100, too large to learn safely")
        }
        guard features.hashedIndices.count == features.hashedValues.count else {
            throw .outOfRange(
                "\(features.hashedIndices.count) hashed indices but \(features.hashedValues.count) hashed values")
        }
        for (position, value) in features.hashedValues.enumerated() {
            guard value.isFinite else { throw .nonFinite("hashed feature \(features.hashedIndices[position]) = \(value)") }
            guard abs(value) <= maxMagnitude else {
                throw .outOfRange(
                    "hashed feature \(features.hashedIndices[position]) = \(value): beyond ±1e100, too large to learn safely")
            }
            guard features.hashedIndices[position] < 1 << hashBits else {
                throw .outOfRange(
                    "hashed bucket \(features.hashedIndices[position]) beyond 2^\(hashBits)")
            }
        }
        throw .outOfRange("invalid feature vector")
    }

    /// One optimizer step over the event's coordinates, given the loss gradient with respect to the score:
    /// dense features four at a time (a lane whose scaled value is 0 is left alone; a missing one steps the
    /// feature's missing weight instead), hashed features one at a time, in order.
    @inline(__always)
    mutating func apply<Rule: CoordinateRule>(_ rule: Rule, _ features: FeatureVector, _ gradient: Double) {
        let clip = configuration.gradientClip
        let l1 = configuration.l1
        let l2 = configuration.l2
        @inline(__always) func clipped<Lanes: CoordinateLanes>(_ g: Lanes) -> Lanes {
            g.replacing(with: Lanes(repeating: clip), where: g .> Lanes(repeating: clip))
                .replacing(with: Lanes(repeating: -clip), where: g .< Lanes(repeating: -clip))
        }

        if configuration.fitIntercept {
            intercept.step(rule, at: 0, gradient: clipped(gradient), l1: 0, l2: 0)
        }
        let standardize = configuration.standardize
        let limit = denseLimit(features)
        if limit > 0 {
            let broadcastGradient = DoubleLanes(repeating: gradient)
            var anyMissing = false
            // The block is borrowed first and the standardiser's arrays inside it: the other way round, the
            // compiler kept the arrays alive with a retain and a release each per event. (It still does for AdaGrad
            // and FTRL, two pairs per event; only SGD's loop is free of them.)
            dense.withSlots { slots in
                features.dense.withUnsafeBufferPointer { x in
                    standardizer.means.withUnsafeBufferPointer { mean in
                        standardizer.inverseDeviations.withUnsafeBufferPointer { inverse in
                            let x = x.baseAddress!, mean = mean.baseAddress!, inverse = inverse.baseAddress!
                            var absentLanes = SIMDMask<DoubleLanes.MaskStorage>(repeating: false)
                            var index = 0
                            while index < limit {
                                let value = x.lanes(at: index, limit: limit)
                                let scaled =
                                    standardize
                                    ? (value - mean.lanes(at: index, limit: limit))
                                        * inverse.lanes(at: index, limit: limit)
                                    : value
                                let absent = value .!= value
                                absentLanes .|= absent
                                slots.step(
                                    rule, at: index, limit: limit, gradient: clipped(broadcastGradient * scaled),
                                    where: .!absent .& (scaled .!= 0), l1: l1, l2: l2)
                                index += DoubleLanes.scalarCount
                            }
                            anyMissing = any(absentLanes)
                        }
                    }
                }
            }
            // Missing values are rare: their weights get a pass of their own, only when the event has one.
            if anyMissing && configuration.missingIndicators {
                let missingGradient = clipped(broadcastGradient)
                features.dense.withUnsafeBufferPointer { x in
                    missing.withSlots { slots in
                        let x = x.baseAddress!
                        var index = 0
                        while index < limit {
                            let value = x.lanes(at: index, limit: limit)
                            slots.step(
                                rule, at: index, limit: limit, gradient: missingGradient, where: value .!= value,
                                l1: l1, l2: l2)
                            index += DoubleLanes.scalarCount
                        }
                    }
                }
            }
        }
        guard !features.hashedIndices.isEmpty else { return }
        features.hashedIndices.withUnsafeBufferPointer { indices in
            features.hashedValues.withUnsafeBufferPointer { values in
                for j in 0..<indices.count {
                    let value = values[j]
                    guard value != 0 else { continue }
                    hashed.step(rule, at: Int(indices[j]), gradient: clipped(gradient * value), l1: l1, l2: l2)
                }
            }
        }
    }
}

extension ParameterBlock {
    /// One rule step on coordinate `index`.
    @inline(__always)
    mutating func step<Rule: CoordinateRule>(
        _ rule: Rule, at index: Int, gradient: Double, l1: Double, l2: Double
    ) {
        let weightOffset = offset(slot: 0, index: index)
        let firstOffset = offset(slot: 1, index: index)
        let secondOffset = offset(slot: 2, index: index)
        let thirdOffset = offset(slot: 3, index: index)
        storage.withUnsafeMutableBufferPointer { p in
            var weight = p[weightOffset]
            var first = Rule.stateSlots >= 1 ? p[firstOffset] : 0
            var second = Rule.stateSlots >= 2 ? p[secondOffset] : 0
            var third = Rule.stateSlots >= 3 ? p[thirdOffset] : 0
            rule.step(
                weight: &weight, first: &first, second: &second, third: &third, gradient: gradient, l1: l1, l2: l2)
            p[weightOffset] = weight
            if Rule.stateSlots >= 1 { p[firstOffset] = first }
            if Rule.stateSlots >= 2 { p[secondOffset] = second }
            if Rule.stateSlots >= 3 { p[thirdOffset] = third }
        }
    }
}

extension ParameterBlock where Layout == PlanarLayout {
    /// Calls `body` with pointers to the block's slots (one uniqueness check for the whole pass).
    @inline(__always)
    mutating func withSlots(_ body: (PlanarSlots) -> Void) {
        let count = self.count
        storage.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            body(PlanarSlots(base: base, count: count))
        }
    }
}

/// A planar block's slots, each `count` values long: weights at `base`, state slot k at `base + k·count`.
struct PlanarSlots {
    let base: UnsafeMutablePointer<Double>
    let count: Int

    /// One rule step on coordinates `index…index+3` below `limit`, changing only the lanes `active` selects.
    @_transparent
    func step<Rule: CoordinateRule>(
        _ rule: Rule, at index: Int, limit: Int, gradient: DoubleLanes,
        where active: SIMDMask<DoubleLanes.MaskStorage>, l1: Double, l2: Double
    ) {
        let zero = DoubleLanes(repeating: 0)
        let weights = base
        let firsts = base + count
        let seconds = base + 2 * count
        let thirds = base + 3 * count
        let oldWeight = weights.lanes(at: index, limit: limit)
        let oldFirst = Rule.stateSlots >= 1 ? firsts.lanes(at: index, limit: limit) : zero
        let oldSecond = Rule.stateSlots >= 2 ? seconds.lanes(at: index, limit: limit) : zero
        let oldThird = Rule.stateSlots >= 3 ? thirds.lanes(at: index, limit: limit) : zero
        var weight = oldWeight
        var first = oldFirst
        var second = oldSecond
        var third = oldThird
        rule.step(weight: &weight, first: &first, second: &second, third: &third, gradient: gradient, l1: l1, l2: l2)
        weights.storeLanes(oldWeight.replacing(with: weight, where: active), at: index, limit: limit)
        if Rule.stateSlots >= 1 {
            firsts.storeLanes(oldFirst.replacing(with: first, where: active), at: index, limit: limit)
        }
        if Rule.stateSlots >= 2 {
            seconds.storeLanes(oldSecond.replacing(with: second, where: active), at: index, limit: limit)
        }
        if Rule.stateSlots >= 3 {
            thirds.storeLanes(oldThird.replacing(with: third, where: active), at: index, limit: limit)
        }
    }
}
