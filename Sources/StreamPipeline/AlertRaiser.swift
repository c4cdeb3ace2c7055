public import Alerting
public import DriftDetection
public import Foundation

/// Turns what detectors find into alerts, in one place for every pipeline: a tracker's change becomes an
/// ``Alert`` (with a snapshot first, when the pipeline keeps a store and the alert fires critical), is counted in
/// the Prometheus metrics and handed to the ``AlertDispatcher``, which delivers it off this thread.
public final class AlertRaiser {
    public let model: Alert.Model
    public let dispatcher: AlertDispatcher?
    public let metrics: DriftMetrics?
    /// Where ``metrics`` are rewritten after each evaluation (Prometheus text format), if anywhere.
    public let metricsFile: String?
    /// The clock alerts are stamped by.
    public let now: @Sendable () -> Date
    /// Called with a warning that stops nothing (a metrics file that cannot be written).
    public var warn: (String) -> Void = { _ in }
    /// Alerts raised so far (every state change).
    @exclusivity(unchecked) public private(set) var raised = 0
    /// Called with each alert on the raising thread, before the dispatcher gets it (the runtime writes alerts into
    /// its Kafka transaction here).
    public var onAlert: ((Alert) throws -> Void)?
    /// Called with every detector evaluation, on the raising thread (the scenario runner draws them).
    public var onReading: ((DetectorReading) -> Void)?

    public init(
        model: Alert.Model, dispatcher: AlertDispatcher? = nil, metrics: DriftMetrics? = nil, metricsFile: String? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.model = model
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.metricsFile = metricsFile
        self.now = now
    }

    /// The alert for a tracker's `change`; `snapshot`, called for a critical firing only, writes the state and
    /// returns its path, which the alert names.
    @discardableResult
    public func raise(
        _ change: AlertChange, detector: String, feature: String, value: Double, policy: AlertPolicy,
        window: Alert.Window, offsets: [String: Int64] = [:], snapshot: ((Alert) throws -> String?)? = nil
    ) throws -> Alert {
        var alert = Alert.from(
            change, detector: detector, feature: feature, value: value, policy: policy, window: window, model: model,
            offsets: offsets, at: now())
        if let snapshot, alert.state == .firing, alert.severity == .critical { alert.snapshot = try snapshot(alert) }
        try send(alert)
        return alert
    }

    /// A change-point detector's finding (ADWIN, Page-Hinkley): a warning that fires once (no resolution).
    @discardableResult
    public func raiseChange(
        detector: String, feature: String, value: Double, threshold: Double, episode: Int, window: Alert.Window,
        offsets: [String: Int64] = [:]
    ) throws -> Alert {
        let alert = Alert(
            id: "\(model.name)/drift.\(detector)/\(feature)/\(episode)", kind: "drift.\(detector)", severity: .warning,
            state: .firing, detector: detector, feature: feature, value: value, threshold: threshold, window: window,
            model: model, offsets: offsets, at: now())
        try send(alert)
        return alert
    }

    private func send(_ alert: Alert) throws {
        raised += 1
        try onAlert?(alert)
        metrics?.recordAlert(alert)
        dispatcher?.dispatch(alert)
    }

    /// Records a PSI evaluation's value in the metrics; `end` is where its window ends (as in alerts).
    public func recordPSI(_ value: Double, feature: String, end: Int) {
        metrics?.recordPSI(value, feature: feature)
        onReading?(DetectorReading(detector: "psi", feature: feature, value: value, end: end))
    }

    /// Records a rolling F1 evaluation in the metrics; `end` is where its window ends (as in alerts).
    public func recordF1(_ value: Double, baseline: Double, end: Int) {
        metrics?.recordF1(value, baseline: baseline)
        onReading?(DetectorReading(detector: "f1", feature: "f1", value: value, end: end))
    }

    /// Rewrites the metrics file (atomically); a failure is a warning, never fatal.
    public func publish() {
        guard let metrics, let metricsFile else { return }
        do {
            try metrics.write(to: metricsFile)
        } catch {
            warn("cannot write the metrics file '\(metricsFile)': \(error)")
        }
    }
}

/// One detector evaluation: which detector, on what, its value, and where its window ends (the index alerts use).
public struct DetectorReading: Sendable, Hashable {
    public var detector: String
    public var feature: String
    public var value: Double
    public var end: Int

    public init(detector: String, feature: String, value: Double, end: Int) {
        self.detector = detector
        self.feature = feature
        self.value = value
        self.end = end
    }
}

/// One thread owns a AlertRaiser (it is not shared between threads).
@available(*, unavailable)
extension AlertRaiser: Sendable {}
