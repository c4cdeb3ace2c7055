import StreamCore

/// LinUCB with disjoint linear models (Li, Chu, Langford, Schapire 2010, algorithm 1): each arm keeps
/// A⁻¹ = (λI + Σxxᵀ)⁻¹ and b = Σ r·x; play the arm maximising θᵀx + α·√(xᵀA⁻¹x) with θ = A⁻¹b.
///
/// A⁻¹ is kept directly and updated by Sherman–Morrison rank-one updates, never inverted: O(d²) per update and
/// O(arms × d²) per choice (River's LinUCB inverts per pull). Deterministic (ties go to the lowest arm), so its
/// propensity is 1. A context shorter than `dimension` is padded with zeros; a longer one is refused by ``learn(_:)``.
public struct LinUCB: BanditPolicy, Hashable {
    public static let snapshotKind = "bandit-linucb"
    public static let snapshotVersion = 1

    public let dimension: Int
    /// The exploration width α. Default 1.
    public let alpha: Double
    /// Per arm, A⁻¹ row-major (d × d).
    public private(set) var inverseCovariances: [[Double]]
    /// Per arm, b.
    public private(set) var rewardVectors: [[Double]]
    /// Per arm, θ = A⁻¹b (kept current by every update).
    public private(set) var coefficients: [[Double]]
    /// Scratch for A⁻¹x; not part of the state.
    private var scratch: [Double]

    public var armCount: Int { inverseCovariances.count }

    /// - Parameter regularization: λ, the ridge prior (A starts as λI). Default 1.
    public init(arms: Int, dimension: Int, alpha: Double = 1, regularization: Double = 1) throws(LearningError) {
        try ArmStatistics.validate(arms: arms, discount: 1)
        guard dimension >= 1 else {
            throw .invalidConfiguration(key: "dimension", reason: "must be at least 1, got \(dimension)")
        }
        guard alpha >= 0, alpha.isFinite else {
            throw .invalidConfiguration(key: "alpha", reason: "must be at least 0, got \(alpha)")
        }
        guard regularization > 0, regularization.isFinite else {
            throw .invalidConfiguration(key: "regularization", reason: "must be positive, got \(regularization)")
        }
        self.dimension = dimension
        self.alpha = alpha
        var identity = Array(repeating: 0.0, count: dimension * dimension)
        for i in 0..<dimension { identity[i * dimension + i] = 1 / regularization }
        inverseCovariances = Array(repeating: identity, count: arms)
        rewardVectors = Array(repeating: Array(repeating: 0, count: dimension), count: arms)
        coefficients = rewardVectors
        scratch = Array(repeating: 0, count: dimension)
    }

    enum CodingKeys: String, CodingKey {
        case dimension, alpha, inverseCovariances = "inverse_covariances", rewardVectors = "reward_vectors"
        case coefficients
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        dimension = try container.decode(Int.self, forKey: .dimension)
        alpha = try container.decode(Double.self, forKey: .alpha)
        inverseCovariances = try container.decode([PackedDoubles].self, forKey: .inverseCovariances).map(\.values)
        rewardVectors = try container.decode([PackedDoubles].self, forKey: .rewardVectors).map(\.values)
        coefficients = try container.decode([PackedDoubles].self, forKey: .coefficients).map(\.values)
        let d = dimension
        guard d >= 1, !inverseCovariances.isEmpty, inverseCovariances.allSatisfy({ $0.count == d * d }),
            rewardVectors.count == inverseCovariances.count, coefficients.count == inverseCovariances.count,
            rewardVectors.allSatisfy({ $0.count == d }), coefficients.allSatisfy({ $0.count == d })
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .inverseCovariances, in: container, debugDescription: "arm matrices do not match dimension \(d)")
        }
        scratch = Array(repeating: 0, count: d)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(dimension, forKey: .dimension)
        try container.encode(alpha, forKey: .alpha)
        try container.encode(inverseCovariances.map(PackedDoubles.init), forKey: .inverseCovariances)
        try container.encode(rewardVectors.map(PackedDoubles.init), forKey: .rewardVectors)
        try container.encode(coefficients.map(PackedDoubles.init), forKey: .coefficients)
    }

    public static func == (lhs: LinUCB, rhs: LinUCB) -> Bool {
        lhs.dimension == rhs.dimension && lhs.alpha == rhs.alpha && lhs.inverseCovariances == rhs.inverseCovariances
            && lhs.rewardVectors == rhs.rewardVectors && lhs.coefficients == rhs.coefficients
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(dimension)
        hasher.combine(inverseCovariances)
    }

    /// The upper confidence bound of `arm` for `context`. O(d²).
    public func upperConfidenceBound(arm: Int, context: BanditContext) -> Double {
        let d = dimension
        let n = min(context.features.count, d)
        guard n > 0 else { return 0 }
        var mean = 0.0
        var variance = 0.0
        context.features.withUnsafeBufferPointer { x in
            inverseCovariances[arm].withUnsafeBufferPointer { a in
                coefficients[arm].withUnsafeBufferPointer { theta in
                    let x = x.baseAddress!, a = a.baseAddress!
                    mean = Self.dot(theta.baseAddress!, x, count: n)
                    for i in 0..<n {
                        let xi = x[i]
                        guard xi != 0 else { continue }
                        variance += xi * Self.dot(a + i * d, x, count: n)
                    }
                }
            }
        }
        return mean + alpha * max(variance, 0).squareRoot()
    }

    /// `Σ a[j]·x[j]` over `j < count`, four lanes at a time (each lane sums its own terms in order, then the lanes
    /// are added): rows of A⁻¹ become independent short chains instead of one add after another.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Double>, _ x: UnsafePointer<Double>, count: Int) -> Double {
        var sum = DoubleLanes(repeating: 0)
        var j = 0
        while j < count {
            sum += a.lanes(at: j, limit: count) * x.lanes(at: j, limit: count)
            j += DoubleLanes.scalarCount
        }
        return sum.sum()
    }

    /// O(arms × d²).
    public func predict(_ context: BanditContext) -> ArmChoice {
        ArmChoice(arm: Argmax.first(armCount) { upperConfidenceBound(arm: $0, context: context) }, propensity: 1)
    }

    /// Sherman–Morrison update of the arm's A⁻¹, then b and θ. O(d²). An update whose result would not be finite
    /// (values within range whose products still overflow) is refused before anything changes.
    public mutating func learn(_ feedback: BanditFeedback) throws(LearningError) {
        try validate(feedback)
        let x = feedback.context.features
        guard x.count <= dimension else {
            throw .outOfRange("context has \(x.count) features, LinUCB was built for \(dimension)")
        }
        let d = dimension
        let n = x.count
        let arm = feedback.arm
        let reward = feedback.reward
        guard n > 0 else { return }
        // u = A⁻¹x (A⁻¹ is symmetric, so xᵀA⁻¹ = uᵀ); then check that A⁻¹ − s·uuᵀ and b + r·x stay finite.
        let scale = scratch.withUnsafeMutableBufferPointer { u in
            inverseCovariances[arm].withUnsafeBufferPointer { a in
                x.withUnsafeBufferPointer { x in
                    let u = u.baseAddress!, a = a.baseAddress!, x = x.baseAddress!
                    for i in 0..<d { u[i] = Self.dot(a + i * d, x, count: n) }
                    return 1 / (1 + Self.dot(x, u, count: n))
                }
            }
        }
        var largest = 0.0
        for value in scratch { largest = max(largest, abs(value)) }
        var finite = scale.isFinite && scale > 0 && (largest * largest * scale).isFinite
        for i in 0..<n where !(rewardVectors[arm][i] + reward * x[i]).isFinite { finite = false }
        guard finite else {
            throw .outOfRange("reward \(reward) with this context would overflow arm \(arm)'s statistics")
        }
        scratch.withUnsafeMutableBufferPointer { u in
            inverseCovariances[arm].withUnsafeMutableBufferPointer { a in
                let u = u.baseAddress!, a = a.baseAddress!
                for i in 0..<d {
                    let ui = DoubleLanes(repeating: u[i] * scale)
                    guard ui[0] != 0 else { continue }
                    let row = a + i * d
                    var j = 0
                    while j < d {
                        row.storeLanes(row.lanes(at: j, limit: d) - ui * u.lanes(at: j, limit: d), at: j, limit: d)
                        j += DoubleLanes.scalarCount
                    }
                }
            }
            rewardVectors[arm].withUnsafeMutableBufferPointer { b in
                for i in 0..<n { b[i] += reward * x[i] }
            }
        }
        inverseCovariances[arm].withUnsafeBufferPointer { a in
            rewardVectors[arm].withUnsafeBufferPointer { b in
                coefficients[arm].withUnsafeMutableBufferPointer { theta in
                    for i in 0..<d { theta[i] = Self.dot(a.baseAddress! + i * d, b.baseAddress!, count: d) }
                }
            }
        }
    }
}
