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

    public init() {}

    /// Adds one vector's dense values to the running statistics.
    /// - Complexity: O(dense features), no allocation once grown.
    public mutating func update(_ vector: FeatureVector) {
        if counts.count < vector.dense.count {
            let extra = vector.dense.count - counts.count
            counts.append(contentsOf: repeatElement(0, count: extra))
            means.append(contentsOf: repeatElement(0, count: extra))
            squaredDeviations.append(contentsOf: repeatElement(0, count: extra))
        }
        for index in vector.dense.indices {
            let x = vector.dense[index]
            guard !x.isNaN else { continue }
            counts[index] += 1
            let delta = x - means[index]
            means[index] += delta / counts[index]
            squaredDeviations[index] += delta * (x - means[index])
        }
    }

    /// Population variance of feature `index` (0 before two observations).
    public func variance(at index: Int) -> Double {
        guard index < counts.count, counts[index] >= 2 else { return 0 }
        return squaredDeviations[index] / counts[index]
    }

    /// Replaces each dense value by `(x − mean) / standard deviation`; 0 where the deviation is 0 or unknown.
    public func standardize(_ vector: inout FeatureVector) {
        for index in vector.dense.indices {
            let x = vector.dense[index]
            guard !x.isNaN else { continue }
            let variance = variance(at: index)
            vector.dense[index] = variance > 0 ? (x - means[index]) / variance.squareRoot() : 0
        }
    }
}
