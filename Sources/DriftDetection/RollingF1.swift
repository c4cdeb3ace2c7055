/// Windowed F1 of a model's predictions against a baseline: precision, recall and F1 at a threshold over the last
/// `windowSize` labelled events (labels may arrive late: feed each event when its label does), compared with the
/// F1 over the first `referenceSize` labelled events. Evaluated every `step` labelled events once the window is
/// full, and only when the window holds at least `minimumPositives` positives (no alerts from tiny samples).
///
/// Made for imbalanced streams (fraud at 2%), where F1 at 0.5 is near 0 and its noise is all there is to see:
///
/// - **The threshold is chosen on the reference** by default: the one that maximises the reference's F1 (kept in
///   ``threshold``), so the baseline measures what the model can do, not where 0.5 happens to fall.
/// - **A drop is judged against the sampling noise of a window.** F1 is a ratio over D = 2TP + FP + FN outcomes;
///   its standard error is taken as σ = √(2·F1·(1 − F1) / D), with D the reference's count scaled to the window.
///   Warning needs a drop of both `warningDrop` and `noiseFactor`·σ; critical both `criticalDrop` and
///   (`noiseFactor` + 1)·σ. A window with few positives has a large σ, so only a fall that sampling cannot explain
///   alerts; a baseline within the noise of 0 cannot fall far enough to alert at all.
///
/// - Complexity: O(1) per event; memory O(window + reference); choosing the threshold sorts the reference once.
public struct RollingF1: Sendable, Codable {
    public struct Configuration: Sendable, Hashable, Codable {
        /// Labelled events in the baseline. Default 5,000.
        public var referenceSize = 5_000
        /// Labelled events in the window. Default 5,000.
        public var windowSize = 5_000
        /// Labelled events between evaluations. Default 1,000.
        public var step = 1_000
        /// Probability threshold of a positive prediction; `nil` (default): the one that maximises the
        /// reference's F1.
        public var threshold: Double? = nil
        /// Positives the window must hold before an evaluation counts. Default 30.
        public var minimumPositives = 30
        /// Warning when F1 falls this far below the baseline (and past the noise). Default 0.1.
        public var warningDrop = 0.1
        /// Critical when F1 falls this far below the baseline (and past the noise). Default 0.2.
        public var criticalDrop = 0.2
        /// How many standard errors of a window's F1 a warning's drop must also exceed (critical: one more).
        /// Default 4; 0 judges drops by `warningDrop` and `criticalDrop` alone.
        public var noiseFactor = 4.0
        /// Warning whenever F1 is at or below this, whatever the baseline. Default 0 (off).
        public var floor = 0.0

        public init() {}

        public func validate() throws(DriftError) {
            for (key, value) in [("reference", referenceSize), ("window", windowSize), ("step", step)] where value < 1 {
                throw .invalidConfiguration(key: key, reason: "must be at least 1, got \(value)")
            }
            guard warningDrop > 0, criticalDrop >= warningDrop else {
                throw .invalidConfiguration(
                    key: "critical_drop", reason: "need 0 < warning_drop ≤ critical_drop, got \(warningDrop), \(criticalDrop)")
            }
            guard noiseFactor >= 0, noiseFactor.isFinite else {
                throw .invalidConfiguration(key: "noise_factor", reason: "must be 0 or more, got \(noiseFactor)")
            }
            if let threshold, !(0...1).contains(threshold) {
                throw .invalidConfiguration(key: "threshold", reason: "must be in [0, 1], got \(threshold)")
            }
        }
    }

    /// One evaluation over labelled events `[start, end)` (0-based, counting labelled events).
    public struct Evaluation: Sendable, Hashable {
        public var start: Int
        public var end: Int
        public var f1: Double
        public var precision: Double
        public var recall: Double
        public var baseline: Double
    }

    public let configuration: Configuration
    /// Labelled events seen.
    public private(set) var index = 0
    /// F1 over the reference, once complete.
    public private(set) var baseline: Double?
    /// The threshold in use: the configured one, or the one chosen on the reference once it is complete.
    public private(set) var threshold: Double
    /// The standard error of a window's F1 around the baseline (0 until the reference is complete).
    public private(set) var noise = 0.0
    private var counts = Counts()

    struct Counts: Sendable, Hashable, Codable {
        var tp = 0
        var fp = 0
        var fn = 0
    }
    /// The reference's scores and labels, while it is being collected.
    private var referenceScores: [Double] = []
    private var referenceLabels: [Bool] = []
    /// Per window slot: bit 0 predicted, bit 1 actual.
    private var window: [UInt8] = []
    private var head = 0
    private var sinceEvaluation = 0
    private var evaluated = false

    public init(configuration: Configuration = .init()) throws(DriftError) {
        try configuration.validate()
        self.configuration = configuration
        threshold = configuration.threshold ?? 0.5
    }

    /// The alert policy this detector's evaluations feed: warning and critical below the baseline by the drops and
    /// the noise (or at the floor).
    public var policy: AlertPolicy? {
        baseline.map {
            let warningDrop = max(configuration.warningDrop, configuration.noiseFactor * noise)
            let criticalDrop = max(configuration.criticalDrop, (configuration.noiseFactor + 1) * noise, warningDrop)
            return AlertPolicy(
                warning: max($0 - warningDrop, configuration.floor),
                critical: max($0 - criticalDrop, min(configuration.floor, $0 - warningDrop)),
                higherIsWorse: false)
        }
    }

    private static func f1(_ tp: Int, _ fp: Int, _ fn: Int) -> Double {
        2 * tp + fp + fn == 0 ? 0 : Double(2 * tp) / Double(2 * tp + fp + fn)
    }

    /// Observes one labelled prediction (a `NaN` probability is ignored); returns an evaluation when one is due.
    public mutating func observe(probability: Double, label: Bool) -> Evaluation? {
        guard !probability.isNaN else { return nil }
        index += 1
        if baseline == nil {
            referenceScores.append(probability)
            referenceLabels.append(label)
            if index == configuration.referenceSize { completeReference() }
            return nil
        }
        let code = Self.code(predicted: probability >= threshold, label: label)
        add(code, sign: 1)
        if window.count < configuration.windowSize {
            window.append(code)
        } else {
            add(window[head], sign: -1)
            window[head] = code
            head = head + 1 == configuration.windowSize ? 0 : head + 1
        }
        guard window.count == configuration.windowSize else { return nil }
        sinceEvaluation += 1
        guard !evaluated || sinceEvaluation >= configuration.step else { return nil }
        guard counts.tp + counts.fn >= configuration.minimumPositives else { return nil }
        evaluated = true
        sinceEvaluation = 0
        let precision = counts.tp + counts.fp == 0 ? 0 : Double(counts.tp) / Double(counts.tp + counts.fp)
        let recall = counts.tp + counts.fn == 0 ? 0 : Double(counts.tp) / Double(counts.tp + counts.fn)
        return Evaluation(
            start: index - configuration.windowSize, end: index, f1: Self.f1(counts.tp, counts.fp, counts.fn),
            precision: precision, recall: recall, baseline: baseline!)
    }

    /// Chooses the threshold (unless configured), takes the baseline at it and the noise of a window.
    private mutating func completeReference() {
        if configuration.threshold == nil { threshold = Self.bestThreshold(referenceScores, referenceLabels) }
        // The reference counted as the window is, then the window starts empty.
        for (score, label) in zip(referenceScores, referenceLabels) {
            add(Self.code(predicted: score >= threshold, label: label), sign: 1)
        }
        let f1 = Self.f1(counts.tp, counts.fp, counts.fn)
        baseline = f1
        let outcomes = Double(2 * counts.tp + counts.fp + counts.fn)
            * Double(configuration.windowSize) / Double(configuration.referenceSize)
        noise = outcomes > 0 ? (2 * f1 * (1 - f1) / outcomes).squareRoot() : 0
        counts = Counts()
        referenceScores = []
        referenceLabels = []
    }

    /// The score threshold with the highest F1 on `scores` (ties: the higher threshold); 0.5 without positives.
    static func bestThreshold(_ scores: [Double], _ labels: [Bool]) -> Double {
        let positives = labels.reduce(0) { $0 + ($1 ? 1 : 0) }
        guard positives > 0 else { return 0.5 }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var tp = 0
        var predicted = 0
        var best = (f1: -1.0, threshold: 0.5)
        var position = 0
        while position < order.count {
            // Every score equal to this one is predicted positive together.
            let score = scores[order[position]]
            while position < order.count && scores[order[position]] == score {
                if labels[order[position]] { tp += 1 }
                predicted += 1
                position += 1
            }
            let f1 = Double(2 * tp) / Double(predicted + positives)
            if f1 > best.f1 { best = (f1, score) }
        }
        return best.threshold
    }

    /// A window slot: bit 0 predicted, bit 1 actual.
    private static func code(predicted: Bool, label: Bool) -> UInt8 { UInt8(predicted ? 1 : 0) | UInt8(label ? 2 : 0) }

    private mutating func add(_ code: UInt8, sign: Int) {
        switch code {
        case 3: counts.tp += sign
        case 1: counts.fp += sign
        case 2: counts.fn += sign
        default: break
        }
    }
}

/// Page-Hinkley change detection (Page 1954), two-sided (River issue #810): flags a rise or a fall of a stream's
/// mean by more than `threshold` cumulative deviation beyond a tolerance `delta`; resets after each detection.
/// O(1) per value.
public struct PageHinkley: Sendable, Hashable, Codable {
    public enum Change: String, Sendable, Hashable, Codable {
        case increase, decrease
    }

    /// Tolerated deviation. Default 0.005.
    public let delta: Double
    /// Detection threshold (λ). Default 50.
    public let threshold: Double
    /// Values before detection may fire. Default 30.
    public let minimumValues: Int
    public private(set) var count = 0
    public private(set) var mean = 0.0
    private var upward = 0.0
    private var upwardMinimum = 0.0
    private var downward = 0.0
    private var downwardMaximum = 0.0

    public init(delta: Double = 0.005, threshold: Double = 50, minimumValues: Int = 30) {
        self.delta = delta
        self.threshold = threshold
        self.minimumValues = minimumValues
    }

    /// Adds one value; returns the change detected, if any (and starts over).
    public mutating func update(_ value: Double) -> Change? {
        guard value.isFinite else { return nil }
        count += 1
        mean += (value - mean) / Double(count)
        upward += value - mean - delta
        upwardMinimum = min(upwardMinimum, upward)
        downward += value - mean + delta
        downwardMaximum = max(downwardMaximum, downward)
        guard count >= minimumValues else { return nil }
        let change: Change? =
            upward - upwardMinimum > threshold ? .increase : (downwardMaximum - downward > threshold ? .decrease : nil)
        if change != nil { self = PageHinkley(delta: delta, threshold: threshold, minimumValues: minimumValues) }
        return change
    }
}
