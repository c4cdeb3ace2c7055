/// Windowed F1 of a model's predictions against a baseline: precision, recall and F1 at a threshold over the last
/// `windowSize` labelled events (labels may arrive late: feed each event when its label does), compared with the
/// F1 over the first `referenceSize` labelled events. Evaluated every `step` labelled events once the window is
/// full, and only when the window holds at least `minimumPositives` positives (no alerts from tiny samples).
///
/// - Complexity: O(1) per event; memory O(window).
public struct RollingF1: Sendable, Codable {
    public struct Configuration: Sendable, Hashable, Codable {
        /// Labelled events in the baseline. Default 5,000.
        public var referenceSize = 5_000
        /// Labelled events in the window. Default 5,000.
        public var windowSize = 5_000
        /// Labelled events between evaluations. Default 1,000.
        public var step = 1_000
        /// Probability threshold of a positive prediction. Default 0.5.
        public var threshold = 0.5
        /// Positives the window must hold before an evaluation counts. Default 30.
        public var minimumPositives = 30
        /// Warning when F1 falls this far below the baseline. Default 0.1.
        public var warningDrop = 0.1
        /// Critical when F1 falls this far below the baseline. Default 0.2.
        public var criticalDrop = 0.2
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
    private var counts = Counts()

    struct Counts: Sendable, Hashable, Codable {
        var tp = 0
        var fp = 0
        var fn = 0
    }
    /// Per window slot: bit 0 predicted, bit 1 actual.
    private var window: [UInt8] = []
    private var head = 0
    private var sinceEvaluation = 0
    private var evaluated = false

    public init(configuration: Configuration = .init()) throws(DriftError) {
        try configuration.validate()
        self.configuration = configuration
    }

    /// The alert policy this detector's evaluations feed: warning and critical below the baseline (or the floor).
    public var policy: AlertPolicy? {
        baseline.map {
            AlertPolicy(
                warning: max($0 - configuration.warningDrop, configuration.floor),
                critical: max($0 - configuration.criticalDrop, min(configuration.floor, $0 - configuration.warningDrop)),
                higherIsWorse: false)
        }
    }

    private static func f1(_ tp: Int, _ fp: Int, _ fn: Int) -> Double {
        2 * tp + fp + fn == 0 ? 0 : Double(2 * tp) / Double(2 * tp + fp + fn)
    }

    /// Observes one labelled prediction; returns an evaluation when one is due.
    public mutating func observe(probability: Double, label: Bool) -> Evaluation? {
        let predicted = probability >= configuration.threshold
        let code = UInt8(predicted ? 1 : 0) | UInt8(label ? 2 : 0)
        index += 1
        add(code, sign: 1)
        if baseline == nil {
            window.append(code)
            if index == configuration.referenceSize {
                baseline = Self.f1(counts.tp, counts.fp, counts.fn)
                counts = Counts()
                window.removeAll(keepingCapacity: true)
            }
            return nil
        }
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
