/// Exact ROC-AUC and KS over every event of an unbounded stream, append-only: scores are buffered and merged into
/// a sorted run of distinct scores with per-class counts when the buffer reaches the run's size (at least
/// 65,536), so the run doubles per merge, an update is amortised O(1) (a radix sort and at most two copies of
/// the run) and memory is touched sequentially. Reading ``value`` walks a sorted copy of the buffer into the run
/// without copying the run: O(n + b).
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
                    let (scoresOut, positivesOut, negativesOut) =
                        (outScores.baseAddress!, outPositives.baseAddress!, outNegatives.baseAddress!)
                    forEachDistinctScore(scores, positiveCounts, negativeCounts, sortedPositives, sortedNegatives) {
                        score, positives, negatives in
                        (scoresOut + used).initialize(to: score)
                        (positivesOut + used).initialize(to: positives)
                        (negativesOut + used).initialize(to: negatives)
                        used &+= 1
                    }
                    negativesCount = used
                }
                positivesCount = used
            }
            scoresCount = used
        }
        return (outScores, outPositives, outNegatives)
    }

    /// Calls `visit` with each distinct score of the run and the two ascending buffers, ascending, and its
    /// positive and negative counts (equal scores from any of the three are visited once). O(run + buffer).
    @inline(__always)
    private static func forEachDistinctScore(
        _ scores: [Double], _ positiveCounts: [Int], _ negativeCounts: [Int],
        _ sortedPositives: [Double], _ sortedNegatives: [Double],
        _ visit: (_ score: Double, _ positives: Int, _ negatives: Int) -> Void
    ) {
        scores.withUnsafeBufferPointer { run in
            positiveCounts.withUnsafeBufferPointer { runPositives in
                negativeCounts.withUnsafeBufferPointer { runNegatives in
                    sortedPositives.withUnsafeBufferPointer { positives in
                        sortedNegatives.withUnsafeBufferPointer { negatives in
                            var current = 0.0
                            var currentPositives = 0
                            var currentNegatives = 0
                            var started = false
                            @inline(__always)
                            func add(_ score: Double, _ p: Int, _ n: Int) {
                                if started && score == current {
                                    currentPositives &+= p
                                    currentNegatives &+= n
                                } else {
                                    if started { visit(current, currentPositives, currentNegatives) }
                                    (current, currentPositives, currentNegatives, started) = (score, p, n, true)
                                }
                            }
                            var i = 0
                            var p = 0
                            var n = 0
                            while i < run.count || p < positives.count || n < negatives.count {
                                let head = i < run.count ? run[i] : .infinity
                                let positive = p < positives.count ? positives[p] : .infinity
                                let negative = n < negatives.count ? negatives[n] : .infinity
                                if i < run.count && head <= positive && head <= negative {
                                    add(head, runPositives[i], runNegatives[i])
                                    i &+= 1
                                } else if p < positives.count && positive <= negative {
                                    add(positive, 1, 0)
                                    p &+= 1
                                } else {
                                    add(negative, 0, 1)
                                    n &+= 1
                                }
                            }
                            if started { visit(current, currentPositives, currentNegatives) }
                        }
                    }
                }
            }
        }
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
        // The buffer's scores are walked into the run in order, not merged into a copy of it: a sorted copy of
        // the buffer is all this allocates.
        var negativesBelow = 0
        var doubled = 0
        var p = 0
        var best = 0.0
        let (positives, negatives) = (Double(positives), Double(negatives))
        Self.forEachDistinctScore(
            scores, positiveCounts, negativeCounts, Self.sorted(pendingPositives), Self.sorted(pendingNegatives)
        ) { _, positivesHere, negativesHere in
            // Its positives beat every negative below, and tie with its negatives.
            doubled += positivesHere * (2 * negativesBelow + negativesHere)
            negativesBelow += negativesHere
            p += positivesHere
            best = max(best, abs(Double(p) / positives - Double(negativesBelow) / negatives))
        }
        return (Double(doubled) / (2 * positives * negatives), best)
    }
}

extension CumulativeROCAUC {
    /// Average precision and the recall at a 1% false-positive rate, exactly (tied scores as one threshold), or
    /// `nil` until both classes are present. O(n + b).
    public var ranking: (averagePrecision: Double, recallAtFPR: Double)? {
        guard positives > 0, negatives > 0 else { return nil }
        var figures = RankingFigures(positives: positives, negatives: negatives)
        Self.forEachDistinctScore(
            scores, positiveCounts, negativeCounts, Self.sorted(pendingPositives), Self.sorted(pendingNegatives)
        ) { _, positivesHere, negativesHere in
            figures.group(positives: Double(positivesHere), negatives: Double(negativesHere))
        }
        return (figures.averagePrecision, figures.recallAtFPR)
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
