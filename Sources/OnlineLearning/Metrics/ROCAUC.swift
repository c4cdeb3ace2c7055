/// Exact ROC-AUC over a changing set of scored events: the probability that a random positive scores above a
/// random negative, ties counting one half (the Mann–Whitney U statistic over P·N pairs, as scikit-learn's
/// `roc_auc_score` computes it). Supports removal, so it serves rolling windows exactly.
///
/// Keeps twice the concordant-pair count as an integer, so adding and reverting are exact.
///
/// - Complexity: ``update(score:label:)`` and ``revert(score:label:)`` O(log n); ``value`` O(1);
///   ``ksStatistic`` O(n). Memory O(distinct scores).
public struct ExactROCAUC: Sendable, Codable, Equatable {
    public private(set) var positives = ScoreMultiset()
    public private(set) var negatives = ScoreMultiset()
    /// 2 × (pairs with the positive above the negative) + (tied pairs).
    public private(set) var doubledConcordantPairs = 0

    public init() {}

    /// Adds one scored event.
    public mutating func update(score: Double, label: Bool) {
        guard !score.isNaN else { return }
        doubledConcordantPairs += pairs(score: score, label: label)
        if label { positives.insert(score) } else { negatives.insert(score) }
    }

    /// Removes one event previously added with the same score and label.
    public mutating func revert(score: Double, label: Bool) {
        guard !score.isNaN else { return }
        let removed = label ? positives.remove(score) : negatives.remove(score)
        guard removed else { return }
        doubledConcordantPairs -= pairs(score: score, label: label)
    }

    /// Twice the pairs the event wins against the other class, plus its ties.
    @inline(__always)
    private func pairs(score: Double, label: Bool) -> Int {
        if label {
            let (less, equal) = negatives.rank(of: score)
            return 2 * less + equal
        }
        let (less, equal) = positives.rank(of: score)
        return 2 * (positives.count - less - equal) + equal
    }

    /// The ROC-AUC, or `nil` until there is at least one positive and one negative.
    public var value: Double? {
        guard positives.count > 0, negatives.count > 0 else { return nil }
        return Double(doubledConcordantPairs) / (2 * Double(positives.count) * Double(negatives.count))
    }

    /// The Kolmogorov–Smirnov statistic: the largest gap between the score distributions (CDFs) of positives and
    /// negatives over all thresholds; `nil` until both classes are present. O(n).
    public var ksStatistic: Double? {
        guard positives.count > 0, negatives.count > 0 else { return nil }
        let p = positives.sortedCounts()
        let n = negatives.sortedCounts()
        var i = 0
        var j = 0
        var belowP = 0
        var belowN = 0
        var best = 0.0
        let totalP = Double(positives.count)
        let totalN = Double(negatives.count)
        while i < p.count || j < n.count {
            let next = min(i < p.count ? p[i].score : .infinity, j < n.count ? n[j].score : .infinity)
            if i < p.count && p[i].score == next {
                belowP += p[i].count
                i += 1
            }
            if j < n.count && n[j].score == next {
                belowN += n[j].count
                j += 1
            }
            best = max(best, abs(Double(belowP) / totalP - Double(belowN) / totalN))
        }
        return best
    }
}
