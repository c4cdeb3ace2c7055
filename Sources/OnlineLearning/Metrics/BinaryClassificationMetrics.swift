#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cumulative progressive-validation metrics of a binary classifier over a whole stream: the confusion matrix at
/// a threshold (accuracy, precision, recall, F1), log-loss, and ROC-AUC and KS — in fixed memory by default
/// (``BinnedROCAUC``, within its stated error bound), or exact (``CumulativeROCAUC``, memory growing with the
/// distinct scores seen: for replays, not for a process that runs for months).
///
/// - Complexity: ``update(probability:label:)`` O(1) bounded, amortised O(log n) exact; reading ROC-AUC or KS
///   O(bins) bounded, O(n) exact.
public struct BinaryClassificationMetrics: Sendable, Codable, Equatable {
    public private(set) var counts: ThresholdMetrics
    /// ROC-AUC in fixed memory (`nil` when exact).
    public private(set) var binnedROCAUC: BinnedROCAUC?
    /// Exact ROC-AUC (`nil` unless asked for).
    public private(set) var exactROCAUC: CumulativeROCAUC?

    /// - Parameter exactROCAUC: keep every distinct score for an exact ROC-AUC (memory grows with the stream).
    public init(threshold: Double = 0.5, exactROCAUC: Bool = false) {
        counts = ThresholdMetrics(threshold: threshold)
        if exactROCAUC { self.exactROCAUC = CumulativeROCAUC() } else { binnedROCAUC = BinnedROCAUC() }
    }

    /// The decision threshold.
    public var threshold: Double { counts.threshold }
    /// Events counted.
    public var count: Int { counts.count }
    /// Whether ROC-AUC and KS are exact.
    public var isExact: Bool { exactROCAUC != nil }

    /// Adds one prediction and its outcome. A `NaN` probability is ignored.
    public mutating func update(probability: Double, label: Bool) {
        guard !probability.isNaN else { return }
        counts.record(probability: probability, label: label, sign: 1)
        if exactROCAUC != nil {
            exactROCAUC!.update(score: probability, label: label)
        } else {
            binnedROCAUC!.update(score: probability, label: label)
        }
    }

    /// ROC-AUC, or `nil` until both classes are present.
    public var rocAUC: Double? { statistics?.rocAUC }

    /// ROC-AUC and KS, or `nil` until both classes are present.
    public var statistics: (rocAUC: Double, ks: Double)? {
        if let exactROCAUC { return exactROCAUC.statistics }
        return binnedROCAUC?.statistics.map { ($0.rocAUC, $0.ks) }
    }

    /// Every figure at once, for reports and JSON.
    public var summary: MetricsSummary {
        let statistics = statistics
        var summary = counts.summary(rocAUC: statistics?.rocAUC, ks: statistics?.ks)
        if let ranking {
            summary.averagePrecision = ranking.averagePrecision
            summary.recallAtFPR = ranking.recallAtFPR
        }
        return summary
    }

    /// Average precision (PR-AUC) and the recall at a 1% false-positive rate, or `nil` until both classes are
    /// present: exact with the exact ROC-AUC, within the bins' resolution otherwise.
    public var ranking: (averagePrecision: Double, recallAtFPR: Double)? {
        if let exactROCAUC { return exactROCAUC.ranking }
        return binnedROCAUC?.ranking
    }
}

/// The confusion matrix at a threshold and the log-loss sum; every record can be reverted exactly (counts) or
/// to rounding (the log-loss sum).
public struct ThresholdMetrics: Sendable, Codable, Equatable {
    /// A probability at or above this predicts the positive class. Default 0.5.
    public let threshold: Double
    public private(set) var truePositives = 0
    public private(set) var falsePositives = 0
    public private(set) var trueNegatives = 0
    public private(set) var falseNegatives = 0
    /// Sum of per-event log-losses (probabilities clipped to [1e-15, 1 − 1e-15]).
    public private(set) var logLossSum = 0.0

    public init(threshold: Double = 0.5) {
        self.threshold = threshold
    }

    /// Adds (`sign` 1) or removes (`sign` −1) one prediction.
    @inline(__always)
    mutating func record(probability: Double, label: Bool, sign: Int) {
        let predicted = probability >= threshold
        switch (predicted, label) {
        case (true, true): truePositives += sign
        case (true, false): falsePositives += sign
        case (false, false): trueNegatives += sign
        case (false, true): falseNegatives += sign
        }
        let clipped = min(max(probability, 1e-15), 1 - 1e-15)
        logLossSum -= Double(sign) * log(label ? clipped : 1 - clipped)
    }

    /// Events counted.
    public var count: Int { truePositives + falsePositives + trueNegatives + falseNegatives }

    /// Fraction predicted correctly (0 with no events).
    public var accuracy: Double { count == 0 ? 0 : Double(truePositives + trueNegatives) / Double(count) }
    /// TP / (TP + FP), 0 when nothing was predicted positive (scikit-learn's `zero_division=0`).
    public var precision: Double {
        truePositives + falsePositives == 0 ? 0 : Double(truePositives) / Double(truePositives + falsePositives)
    }
    /// TP / (TP + FN), 0 with no positives.
    public var recall: Double {
        truePositives + falseNegatives == 0 ? 0 : Double(truePositives) / Double(truePositives + falseNegatives)
    }
    /// Harmonic mean of precision and recall: 2TP / (2TP + FP + FN), 0 when undefined.
    public var f1: Double {
        let denominator = 2 * truePositives + falsePositives + falseNegatives
        return denominator == 0 ? 0 : Double(2 * truePositives) / Double(denominator)
    }
    /// Mean log-loss (0 with no events).
    public var logLoss: Double { count == 0 ? 0 : logLossSum / Double(count) }

    func summary(rocAUC: Double?, ks: Double?) -> MetricsSummary {
        MetricsSummary(
            events: count, accuracy: accuracy, precision: precision, recall: recall, f1: f1, logLoss: logLoss,
            rocAUC: rocAUC, ks: ks, truePositives: truePositives,
            falsePositives: falsePositives, trueNegatives: trueNegatives, falseNegatives: falseNegatives)
    }
}

/// A snapshot of ``BinaryClassificationMetrics`` figures; `rocAUC` and `ks` are `nil` until both classes appear.
public struct MetricsSummary: Sendable, Hashable, Codable {
    public var events: Int
    public var accuracy: Double
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var logLoss: Double
    public var rocAUC: Double?
    public var ks: Double?
    /// Average precision, the area under the precision-recall curve (cumulative metrics only).
    public var averagePrecision: Double?
    /// Recall while the false-positive rate is at most 1% (cumulative metrics only).
    public var recallAtFPR: Double?
    public var truePositives: Int
    public var falsePositives: Int
    public var trueNegatives: Int
    public var falseNegatives: Int

    enum CodingKeys: String, CodingKey {
        case events, accuracy, precision, recall, f1, logLoss = "log_loss", rocAUC = "roc_auc", ks
        case averagePrecision = "average_precision", recallAtFPR = "recall_at_1pct_fpr"
        case truePositives = "true_positives", falsePositives = "false_positives"
        case trueNegatives = "true_negatives", falseNegatives = "false_negatives"
    }
}

/// The same metrics over the last `window` events: each update past a full window reverts the oldest event
/// (River's rolling metrics). Exact, ROC-AUC included (``ExactROCAUC``), in O(log window) per update; KS O(window)
/// when read.
public struct RollingBinaryClassificationMetrics: Sendable, Codable, Equatable {
    /// Events in the window. Default 1,000.
    public let window: Int
    public private(set) var counts: ThresholdMetrics
    public private(set) var rocAUC = ExactROCAUC()
    private var scores: [Double] = []
    private var labels: [Bool] = []
    /// Where the next event goes once the ring is full.
    private var head = 0

    public init(window: Int = 1_000, threshold: Double = 0.5) {
        precondition(window >= 1, "window must be at least 1")
        self.window = window
        counts = ThresholdMetrics(threshold: threshold)
        scores.reserveCapacity(window)
        labels.reserveCapacity(window)
    }

    /// Adds one prediction, dropping the oldest once the window is full. A `NaN` probability is ignored.
    public mutating func update(probability: Double, label: Bool) {
        guard !probability.isNaN else { return }
        if scores.count < window {
            scores.append(probability)
            labels.append(label)
        } else {
            counts.record(probability: scores[head], label: labels[head], sign: -1)
            rocAUC.revert(score: scores[head], label: labels[head])
            scores[head] = probability
            labels[head] = label
            head = head + 1 == window ? 0 : head + 1
        }
        counts.record(probability: probability, label: label, sign: 1)
        rocAUC.update(score: probability, label: label)
    }

    /// Every figure over the window.
    public var summary: MetricsSummary { counts.summary(rocAUC: rocAUC.value, ks: rocAUC.ksStatistic) }

    enum CodingKeys: String, CodingKey {
        case window, threshold, scores, labels
    }

    /// Encodes the window oldest first; decoding replays it, rebuilding identical metrics.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(window, forKey: .window)
        try container.encode(counts.threshold, forKey: .threshold)
        let order = Array(head..<scores.count) + Array(0..<head)
        try container.encode(PackedDoubles(order.map { scores[$0] }), forKey: .scores)
        try container.encode(String(order.map { labels[$0] ? "1" : "0" }), forKey: .labels)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let window = try container.decode(Int.self, forKey: .window)
        let threshold = try container.decode(Double.self, forKey: .threshold)
        let scores = try container.decode(PackedDoubles.self, forKey: .scores).values
        let labels = try container.decode(String.self, forKey: .labels)
        guard window >= 1, scores.count <= window, labels.count == scores.count,
            labels.allSatisfy({ $0 == "0" || $0 == "1" })
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .scores, in: container, debugDescription: "window, scores and labels disagree")
        }
        self.init(window: window, threshold: threshold)
        for (score, label) in zip(scores, labels) { update(probability: score, label: label == "1") }
    }
}

/// Cumulative and (optionally) rolling progressive-validation metrics together (predict, then learn).
public struct ProgressiveMetrics: Sendable, Codable, Equatable {
    public private(set) var cumulative: BinaryClassificationMetrics
    /// `nil` when built without a window.
    public private(set) var rolling: RollingBinaryClassificationMetrics?

    /// - Parameters:
    ///   - threshold: the decision threshold for the confusion matrix. Default 0.5.
    ///   - window: the rolling window in events, or `nil` for cumulative metrics only. Default 1,000.
    ///   - exactROCAUC: an exact cumulative ROC-AUC whose memory grows with the stream (default: fixed memory).
    public init(threshold: Double = 0.5, window: Int? = 1_000, exactROCAUC: Bool = false) {
        cumulative = BinaryClassificationMetrics(threshold: threshold, exactROCAUC: exactROCAUC)
        rolling = window.map { RollingBinaryClassificationMetrics(window: $0, threshold: threshold) }
    }

    public mutating func update(probability: Double, label: Bool) {
        cumulative.update(probability: probability, label: label)
        rolling?.update(probability: probability, label: label)
    }
}
