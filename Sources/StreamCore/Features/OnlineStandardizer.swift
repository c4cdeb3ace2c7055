/// Running mean and variance per dense feature (Welford 1962), to scale unscaled features such as `amount` so
/// they do not saturate a logistic model (River issue #286). Its state is `Codable` for snapshots.
///
/// Missing values (`NaN`) are skipped by ``update(_:)`` and stay `NaN` through ``standardize(_:)``.
public struct OnlineStandardizer: Sendable, Hashable, Codable {
    /// Observations per feature.
    public private(set) var counts: [Double] = []
    /// Running means.
    public private(set) var means: [Double] = []
    /// Running sums of squared deviations (Welford's M2).
    public private(set) var squaredDeviations: [Double] = []
    /// `1 / standard deviation` per feature, 0 while the deviation is 0 or unknown; derived, not encoded.
    public private(set) var inverseDeviations: [Double] = []

    public init() {}

    enum CodingKeys: String, CodingKey {
        case counts, means, squaredDeviations
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        counts = try container.decode([Double].self, forKey: .counts)
        means = try container.decode([Double].self, forKey: .means)
        squaredDeviations = try container.decode([Double].self, forKey: .squaredDeviations)
        guard counts.count == means.count, means.count == squaredDeviations.count else {
            throw DecodingError.dataCorruptedError(
                forKey: .counts, in: container, debugDescription: "counts, means and squaredDeviations differ in length")
        }
        inverseDeviations = counts.indices.map { Self.inverseDeviation(count: counts[$0], m2: squaredDeviations[$0]) }
    }

    /// Number of features tracked.
    public var count: Int { counts.count }

    /// Tracks at least `count` features (new ones unobserved).
    public mutating func grow(to count: Int) {
        guard counts.count < count else { return }
        let extra = count - counts.count
        counts.append(contentsOf: repeatElement(0, count: extra))
        means.append(contentsOf: repeatElement(0, count: extra))
        squaredDeviations.append(contentsOf: repeatElement(0, count: extra))
        inverseDeviations.append(contentsOf: repeatElement(0, count: extra))
    }

    /// Adds one vector's dense values to the running statistics, four features at a time (``DoubleLanes``; each
    /// lane computes exactly what the scalar formulas give).
    /// - Complexity: O(dense features), no allocation once grown.
    public mutating func update(_ vector: FeatureVector) {
        grow(to: vector.dense.count)
        let limit = vector.dense.count
        vector.dense.withUnsafeBufferPointer { x in
            counts.withUnsafeMutableBufferPointer { counts in
                means.withUnsafeMutableBufferPointer { means in
                    squaredDeviations.withUnsafeMutableBufferPointer { squares in
                        inverseDeviations.withUnsafeMutableBufferPointer { inverses in
                            guard let x = x.baseAddress, let counts = counts.baseAddress,
                                let means = means.baseAddress, let squares = squares.baseAddress,
                                let inverses = inverses.baseAddress
                            else { return }
                            var index = 0
                            while index < limit {
                                let value = x.lanes(at: index, limit: limit)
                                let observed = value .== value
                                let oldCount = counts.lanes(at: index, limit: limit)
                                let oldMean = means.lanes(at: index, limit: limit)
                                let oldSquares = squares.lanes(at: index, limit: limit)
                                let count = oldCount + 1
                                let delta = value - oldMean
                                let mean = oldMean + delta / count
                                let m2 = oldSquares + delta * (value - mean)
                                var inverse = (count / m2).squareRootOfMagnitude()  // 1 / √(m2 / count), one division
                                inverse.replace(
                                    with: 0, where: .!((count .>= 2) .& (m2 .> 0) .& (inverse .< .infinity)))
                                counts.storeLanes(oldCount.replacing(with: count, where: observed), at: index, limit: limit)
                                means.storeLanes(oldMean.replacing(with: mean, where: observed), at: index, limit: limit)
                                squares.storeLanes(oldSquares.replacing(with: m2, where: observed), at: index, limit: limit)
                                let oldInverse = inverses.lanes(at: index, limit: limit)
                                inverses.storeLanes(
                                    oldInverse.replacing(with: inverse, where: observed), at: index, limit: limit)
                                index += DoubleLanes.scalarCount
                            }
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func inverseDeviation(count: Double, m2: Double) -> Double {
        guard count >= 2, m2 > 0 else { return 0 }
        let inverse = (count / m2).squareRootOfMagnitude()  // 1 / √(m2 / count), one division
        return inverse.isFinite ? inverse : 0
    }

    /// Population variance of feature `index` (0 before two observations).
    public func variance(at index: Int) -> Double {
        guard index < counts.count, counts[index] >= 2 else { return 0 }
        return squaredDeviations[index] / counts[index]
    }

    /// `(x − mean) / standard deviation` of feature `index`; 0 where the deviation is 0 or unknown.
    @inlinable
    public func scaled(_ x: Double, at index: Int) -> Double {
        index < inverseDeviations.count ? (x - means[index]) * inverseDeviations[index] : 0
    }

    /// Replaces each dense value by `(x − mean) / standard deviation`; 0 where the deviation is 0 or unknown.
    /// Missing values (`NaN`) stay `NaN`: `(NaN − mean) · 1/σ` is `NaN` in every lane.
    /// - Complexity: O(dense features), four at a time.
    public func standardize(_ vector: inout FeatureVector) {
        let known = min(vector.dense.count, count)
        vector.dense.withUnsafeMutableBufferPointer { x in
            guard let values = x.baseAddress else { return }
            means.withUnsafeBufferPointer { means in
                inverseDeviations.withUnsafeBufferPointer { inverses in
                    guard let means = means.baseAddress, let inverses = inverses.baseAddress else { return }
                    var index = 0
                    while index < known {
                        let scaled = (values.lanes(at: index, limit: known) - means.lanes(at: index, limit: known))
                            * inverses.lanes(at: index, limit: known)
                        values.storeLanes(scaled, at: index, limit: known)
                        index += DoubleLanes.scalarCount
                    }
                }
            }
            for index in known..<x.count where !x[index].isNaN { x[index] = 0 }
        }
    }
}
