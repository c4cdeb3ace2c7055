/// ROC-AUC and KS over every event of an unbounded stream in fixed memory: scores in [0, 1] are counted per class
/// in 5,890 bins that are finer the closer a score is to 0 or 1, so the state (and its snapshot, about 126 KB)
/// never grows with the stream.
///
/// A score `p` is binned by `q = min(p, 1 − p)` (exact for `p ≥ 0.5`): its binary exponent from 2⁻²⁴ to 2⁻² and
/// the top 7 bits of its mantissa, mirrored for `p ≥ 0.5`; everything within 2⁻²⁴ (6e-8) of 0 or 1 shares an end
/// bin.
/// A bin spans under 0.8% of `q` (about 0.0078 in log-odds near 0.5, less towards the ends), and binning is
/// monotone, so only pairs of a positive and a negative *in the same bin* may be ordered wrongly. They count one
/// half, as ties do, and ``errorBound`` is exactly their share of all pairs over two: the exact ROC-AUC lies within
/// `value ± errorBound`. KS is the largest CDF gap at bin edges, a lower bound of the exact one.
///
/// - Complexity: ``update(score:label:)`` O(1) without allocation; reading ``statistics`` O(bins).
public struct BinnedROCAUC: Sendable, Equatable {
    /// Mantissa bits per exponent.
    static let mantissaBits = 7
    /// Exponents 2⁻²⁴ … 2⁻² of `q`.
    static let exponents = 23
    /// Bins on each side of 0.5: the exponent ranges and one for `q < 2⁻²⁴`.
    static let sideBins = exponents << mantissaBits + 1
    /// All bins.
    public static let binCount = 2 * sideBins

    /// Positives and negatives per bin (`2 × binCount`, interleaved).
    private var counts: [UInt64]
    public private(set) var positives = 0
    public private(set) var negatives = 0

    public init() {
        counts = Array(repeating: 0, count: 2 * Self.binCount)
    }

    /// The bin of `score` (in [0, 1]): non-decreasing in the score.
    @inline(__always)
    static func bin(_ score: Double) -> Int {
        let upper = score >= 0.5
        let q = upper ? 1 - score : score
        let bits = q.bitPattern
        let exponent = Int(bits >> 52) - 1023
        var index: Int
        if exponent < -24 || q <= 0 {
            index = 0
        } else if exponent >= -1 {
            index = sideBins - 1  // q == 0.5
        } else {
            index = ((exponent + 24) << mantissaBits | Int((bits >> UInt64(52 - mantissaBits)) & UInt64((1 << mantissaBits) - 1))) + 1
        }
        return upper ? binCount - 1 - index : index
    }

    /// Adds one scored event (`NaN` is ignored; a score outside [0, 1] counts at the nearest end).
    @inline(__always)
    public mutating func update(score: Double, label: Bool) {
        guard !score.isNaN else { return }
        let slot = 2 &* Self.bin(min(max(score, 0), 1)) &+ (label ? 0 : 1)
        counts.withUnsafeMutableBufferPointer { $0[slot] &+= 1 }
        if label { positives += 1 } else { negatives += 1 }
    }

    /// ROC-AUC (pairs in one bin count one half), its error bound and KS at bin edges, or `nil` until both classes
    /// are present. O(bins).
    public var statistics: (rocAUC: Double, errorBound: Double, ks: Double)? {
        guard positives > 0, negatives > 0 else { return nil }
        var negativesBelow: UInt64 = 0
        var positivesBelow: UInt64 = 0
        // In Doubles: products of counts may pass 2^64 on very long streams; the sums stay exact below 2^53.
        var beaten = 0.0
        var tied = 0.0
        var best = 0.0
        let (p, n) = (Double(positives), Double(negatives))
        for bin in 0..<Self.binCount {
            let positivesHere = counts[2 * bin]
            let negativesHere = counts[2 * bin + 1]
            guard positivesHere | negativesHere != 0 else { continue }
            beaten += Double(positivesHere) * Double(negativesBelow)
            tied += Double(positivesHere) * Double(negativesHere)
            negativesBelow += negativesHere
            positivesBelow += positivesHere
            best = max(best, abs(Double(positivesBelow) / p - Double(negativesBelow) / n))
        }
        let pairs = p * n
        return ((beaten + tied / 2) / pairs, tied / (2 * pairs), best)
    }

    /// ROC-AUC, or `nil` until both classes are present.
    public var value: Double? { statistics?.rocAUC }

    /// Average precision and the recall at a 1% false-positive rate, each bin taken as one threshold (so within
    /// the bins' resolution), or `nil` until both classes are present. O(bins).
    public var ranking: (averagePrecision: Double, recallAtFPR: Double)? {
        guard positives > 0, negatives > 0 else { return nil }
        var figures = RankingFigures(positives: positives, negatives: negatives)
        for bin in 0..<Self.binCount where counts[2 * bin] | counts[2 * bin + 1] != 0 {
            figures.group(positives: Double(counts[2 * bin]), negatives: Double(counts[2 * bin + 1]))
        }
        return (figures.averagePrecision, figures.recallAtFPR)
    }
}

extension BinnedROCAUC: Codable {
    enum CodingKeys: String, CodingKey {
        case positives, negatives
    }

    /// Encodes every bin's count per class (base64 of little-endian UInt64s), so the size is the same whatever
    /// the stream.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let bins = 0..<Self.binCount
        try container.encode(LittleEndianBase64.encode(bins.lazy.map { counts[2 * $0] }, count: Self.binCount), forKey: .positives)
        try container.encode(LittleEndianBase64.encode(bins.lazy.map { counts[2 * $0 + 1] }, count: Self.binCount), forKey: .negatives)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let positiveCounts = LittleEndianBase64.decode(try container.decode(String.self, forKey: .positives), as: UInt64.self),
            let negativeCounts = LittleEndianBase64.decode(try container.decode(String.self, forKey: .negatives), as: UInt64.self),
            positiveCounts.count == Self.binCount, negativeCounts.count == Self.binCount,
            (positiveCounts + negativeCounts).allSatisfy({ $0 < 1 << 53 })
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .positives, in: container, debugDescription: "one count per class for each of \(Self.binCount) bins expected")
        }
        self.init()
        for bin in 0..<Self.binCount {
            counts[2 * bin] = positiveCounts[bin]
            counts[2 * bin + 1] = negativeCounts[bin]
        }
        positives = Int(positiveCounts.reduce(0, +))
        negatives = Int(negativeCounts.reduce(0, +))
    }
}
