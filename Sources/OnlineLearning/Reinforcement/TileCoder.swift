/// Tile coding (Sutton and Barto 2018, §9.5.4): a continuous observation becomes one active tile in each of
/// `tilings` grids that cover the observation box, each grid offset from the others by a fraction of a tile
/// (asymmetrically, 1, 3, 5, … in successive dimensions, as Sutton's `tiles3`). A linear function over the active
/// tiles generalises between nearby observations and discriminates at 1/`tilings` of a tile.
///
/// Dense, not hashed: tiling `t` owns `(tiles + 1)^dimensions` consecutive features (one extra tile per dimension
/// for the offset), so every observation in the box has distinct features and none collide. Values outside the
/// box are clamped to it.
///
/// - Complexity: ``encode(_:into:)`` O(tilings × dimensions), no allocation.
public struct TileCoder: Sendable, Hashable, Codable {
    /// The lower and upper bounds of each dimension.
    public let low: [Double]
    public let high: [Double]
    /// The number of grids.
    public let tilings: Int
    /// Tiles across each dimension of one grid.
    public let tiles: Int
    /// Features in all: tilings × (tiles + 1)^dimensions.
    public let featureCount: Int

    /// The most features a coder may have (the weights are features × actions doubles).
    public static let maxFeatures = 1 << 24

    public init(low: [Double], high: [Double], tilings: Int = 8, tiles: Int = 8) throws(LearningError) {
        guard !low.isEmpty, low.count == high.count else {
            throw .invalidConfiguration(
                key: "low", reason: "needs one bound per dimension, as many as 'high' (\(low.count) and \(high.count))")
        }
        for index in low.indices {
            guard low[index].isFinite, high[index].isFinite, low[index] < high[index] else {
                throw .invalidConfiguration(
                    key: "low[\(index)]",
                    reason: "must be finite and below high[\(index)], got \(low[index]) and \(high[index])")
            }
        }
        guard (1...1024).contains(tilings) else {
            throw .invalidConfiguration(key: "tilings", reason: "must be in 1...1024, got \(tilings)")
        }
        guard (1...10_000).contains(tiles) else {
            throw .invalidConfiguration(key: "tiles", reason: "must be in 1...10000, got \(tiles)")
        }
        var perTiling = 1
        for _ in low {
            let (product, overflow) = perTiling.multipliedReportingOverflow(by: tiles + 1)
            guard !overflow, product <= Self.maxFeatures else {
                throw .invalidConfiguration(
                    key: "tiles",
                    reason: "\(tiles) tiles across \(low.count) dimensions is more than \(Self.maxFeatures) features")
            }
            perTiling = product
        }
        guard perTiling * tilings <= Self.maxFeatures else {
            throw .invalidConfiguration(
                key: "tilings", reason: "\(tilings) tilings of \(perTiling) tiles is more than \(Self.maxFeatures) features")
        }
        self.low = low
        self.high = high
        self.tilings = tilings
        self.tiles = tiles
        featureCount = perTiling * tilings
    }

    /// The number of dimensions.
    public var dimensions: Int { low.count }

    /// Writes the active feature of each tiling (`tilings` of them, ascending) for `observation`, which has
    /// ``dimensions`` values (a non-finite one counts as the bound it is nearest, NaN as the lower one).
    @inlinable
    public func encode(_ observation: UnsafeBufferPointer<Double>, into features: UnsafeMutableBufferPointer<Int32>) {
        let dimensions = low.count
        let tiles = Double(self.tiles)
        let span = self.tiles + 1
        let tilings = self.tilings
        let perTiling = featureCount / tilings
        let inverseTilings = 1 / Double(tilings)
        for tiling in 0..<tilings { features[tiling] = Int32(truncatingIfNeeded: tiling &* perTiling) }
        low.withUnsafeBufferPointer { low in
            high.withUnsafeBufferPointer { high in
                var stride = 1
                for dimension in 0..<dimensions {
                    var scaled = (observation[dimension] - low[dimension]) / (high[dimension] - low[dimension]) * tiles
                    scaled = scaled >= 0 ? min(scaled, tiles) : 0  // NaN fails `>= 0`
                    // Tiling t is shifted by t·(2d + 1)/tilings of a tile in dimension d (mod one tile).
                    let shift = (2 * dimension + 1) % tilings
                    var numerator = 0
                    for tiling in 0..<tilings {
                        // In [0, tiles]: the sum is at most tiles + (tilings − 1)/tilings.
                        let tile = Int(scaled + Double(numerator) * inverseTilings)
                        features[tiling] &+= Int32(truncatingIfNeeded: tile &* stride)
                        numerator += shift
                        if numerator >= tilings { numerator -= tilings }
                    }
                    stride *= span
                }
            }
        }
    }
}
