/// Exact ROC-AUC and KS over every event of an unbounded stream, append-only: scores are buffered and merged into
/// a sorted run of distinct scores with per-class counts when the buffer reaches the run's size (at least
/// 65,536), so the run doubles per merge, an update is amortised O(1) (a radix sort and at most two copies of
/// the run) and memory is touched sequentially. Reading ``value`` merges a sorted copy of the buffer: O(n + b).
/// Memory O(distinct scores + buffer); use the rolling ``ExactROCAUC`` for a bounded window.
public struct CumulativeROCAUC: Sendable, Equatable {
    /// Distinct scores, ascending, with their positive and negative counts.
    private var scores: [Double] = []
    private var positiveCounts: [Int] = []
    private var negativeCounts: [Int] = []
    /// Scores not merged yet, by class: plain `Double`s sort several times faster than (score, label) pairs.
    private var pendingPositives: [Double] = []
    private var pendingNegatives: [Double] = []
    /// The radix sort's buffer, reused; not state.
    private var sortScratch: [UInt64] = []
    public private(set) var positives = 0
    public private(set) var negatives = 0

    public init() {}

    public static func == (lhs: CumulativeROCAUC, rhs: CumulativeROCAUC) -> Bool {
        var left = lhs
        var right = rhs
        left.compact()
        right.compact()
        return left.scores == right.scores && left.positiveCounts == right.positiveCounts
            && left.negativeCounts == right.negativeCounts
    }

    /// Adds one scored event (`NaN` is ignored).
    public mutating func update(score: Double, label: Bool) {
        guard !score.isNaN else { return }
        let score = score == 0 ? 0 : score  // −0 and +0 are one score
        if label {
            positives += 1
            pendingPositives.append(score)
        } else {
            negatives += 1
            pendingNegatives.append(score)
        }
        if pendingPositives.count + pendingNegatives.count >= max(65_536, scores.count) { compact() }
    }

    /// Merges the buffer into the sorted run.
    mutating func compact() {
        guard !pendingPositives.isEmpty || !pendingNegatives.isEmpty else { return }
        DoubleRadixSort.sort(&pendingPositives, scratch: &sortScratch)
        DoubleRadixSort.sort(&pendingNegatives, scratch: &sortScratch)
        let merged = Self.merge(scores, positiveCounts, negativeCounts, pendingPositives, pendingNegatives)
        scores = merged.scores
        positiveCounts = merged.positives
        negativeCounts = merged.negatives
        pendingPositives.removeAll(keepingCapacity: true)
        pendingNegatives.removeAll(keepingCapacity: true)
    }

    /// The run with the buffered scores merged in; `sortedPositives` and `sortedNegatives` ascend. O(run + buffer).
    private static func merge(
        _ scores: [Double], _ positiveCounts: [Int], _ negativeCounts: [Int],
        _ sortedPositives: [Double], _ sortedNegatives: [Double]
    ) -> (scores: [Double], positives: [Int], negatives: [Int]) {
        let capacity = scores.count + sortedPositives.count + sortedNegatives.count
        var used = 0
        var outPositives: [Int] = []
        var outNegatives: [Int] = []
        let outScores = [Double](unsafeUninitializedCapacity: capacity) { outScores, scoresCount in
            outPositives = [Int](unsafeUninitializedCapacity: capacity) { outPositives, positivesCount in
                outNegatives = [Int](unsafeUninitializedCapacity: capacity) { outNegatives, negativesCount in
                    scores.withUnsafeBufferPointer { run in
                        positiveCounts.withUnsafeBufferPointer { runPositives in
                            negativeCounts.withUnsafeBufferPointer { runNegatives in
                                sortedPositives.withUnsafeBufferPointer { positives in
                                    sortedNegatives.withUnsafeBufferPointer { negatives in
                                        used = mergeRuns(
                                            run: (run, runPositives, runNegatives), positives: positives,
                                            negatives: negatives,
                                            into: (outScores.baseAddress!, outPositives.baseAddress!, outNegatives.baseAddress!))
                                    }
                                }
                            }
                        }
                    }
                    negativesCount = used
                }
                positivesCount = used
            }
            scoresCount = used
        }
        return (outScores, outPositives, outNegatives)
    }

    /// Three ascending sequences into one run of distinct scores, smallest head first (equal scores land on one
    /// entry); returns the run's length.
    private static func mergeRuns(
        run: (scores: UnsafeBufferPointer<Double>, positives: UnsafeBufferPointer<Int>, negatives: UnsafeBufferPointer<Int>),
        positives: UnsafeBufferPointer<Double>, negatives: UnsafeBufferPointer<Double>,
        into out: (scores: UnsafeMutablePointer<Double>, positives: UnsafeMutablePointer<Int>, negatives: UnsafeMutablePointer<Int>)
    ) -> Int {
        var count = 0
        @inline(__always)
        func add(_ score: Double, _ p: Int, _ n: Int) {
            if count > 0 && out.scores[count - 1] == score {
                out.positives[count - 1] &+= p
                out.negatives[count - 1] &+= n
            } else {
                (out.scores + count).initialize(to: score)
                (out.positives + count).initialize(to: p)
                (out.negatives + count).initialize(to: n)
                count &+= 1
            }
        }
        var i = 0
        var p = 0
        var n = 0
        while i < run.scores.count || p < positives.count || n < negatives.count {
            let head = i < run.scores.count ? run.scores[i] : .infinity
            let positive = p < positives.count ? positives[p] : .infinity
            let negative = n < negatives.count ? negatives[n] : .infinity
            if i < run.scores.count && head <= positive && head <= negative {
                add(head, run.positives[i], run.negatives[i])
                i &+= 1
            } else if p < positives.count && positive <= negative {
                add(positive, 1, 0)
                p &+= 1
            } else {
                add(negative, 0, 1)
                n &+= 1
            }
        }
        return count
    }

    /// The sorted distinct scores with per-class counts, buffer included.
    private func merged() -> (scores: [Double], positives: [Int], negatives: [Int]) {
        pendingPositives.isEmpty && pendingNegatives.isEmpty
            ? (scores, positiveCounts, negativeCounts)
            : Self.merge(
                scores, positiveCounts, negativeCounts, Self.sorted(pendingPositives), Self.sorted(pendingNegatives))
    }

    private static func sorted(_ values: [Double]) -> [Double] {
        var values = values
        var scratch: [UInt64] = []
        DoubleRadixSort.sort(&values, scratch: &scratch)
        return values
    }

    /// The exact ROC-AUC (ties count one half), or `nil` until both classes are present.
    public var value: Double? { statistics?.rocAUC }

    /// The largest gap between the positives' and negatives' score CDFs, or `nil` until both classes are present.
    public var ksStatistic: Double? { statistics?.ks }

    /// ROC-AUC and KS from one merge of the buffer (reading ``value`` and ``ksStatistic`` apart merges twice), or
    /// `nil` until both classes are present. O(n + b).
    public var statistics: (rocAUC: Double, ks: Double)? {
        guard positives > 0, negatives > 0 else { return nil }
        let run = merged()
        // For each distinct score: its positives beat every negative below, and tie with its negatives.
        var negativesBelow = 0
        var doubled = 0
        var p = 0
        var best = 0.0
        for index in run.scores.indices {
            doubled += run.positives[index] * (2 * negativesBelow + run.negatives[index])
            negativesBelow += run.negatives[index]
            p += run.positives[index]
            best = max(best, abs(Double(p) / Double(positives) - Double(negativesBelow) / Double(negatives)))
        }
        return (Double(doubled) / (2 * Double(positives) * Double(negatives)), best)
    }
}

extension CumulativeROCAUC: Codable {
    enum CodingKeys: String, CodingKey {
        case scores, positives, negatives
    }

    /// Encodes the merged run: ascending distinct scores (``PackedDoubles``) and per-class counts.
    public func encode(to encoder: any Encoder) throws {
        let run = merged()
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(PackedDoubles(run.scores), forKey: .scores)
        try container.encode(PackedDoubles(run.positives.map(Double.init)), forKey: .positives)
        try container.encode(PackedDoubles(run.negatives.map(Double.init)), forKey: .negatives)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let scores = try container.decode(PackedDoubles.self, forKey: .scores).values
        let positives = try container.decode(PackedDoubles.self, forKey: .positives).values
        let negatives = try container.decode(PackedDoubles.self, forKey: .negatives).values
        guard scores.count == positives.count, scores.count == negatives.count,
            zip(scores, scores.dropFirst()).allSatisfy({ $0 < $1 }),
            (positives + negatives).allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 < 9e15 })
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .scores, in: container,
                debugDescription: "scores must ascend strictly and counts be whole, non-negative, of equal length")
        }
        self.init()
        self.scores = scores
        positiveCounts = positives.map { Int($0) }
        negativeCounts = negatives.map { Int($0) }
        self.positives = positiveCounts.reduce(0, +)
        self.negatives = negativeCounts.reduce(0, +)
    }
}
