public import DriftDetection
public import Foundation

/// One alert on the ops feed, as one JSON object (see README, "Alerts"):
///
/// ```json
/// {"id":"fraud-model/drift.psi/amount/1","kind":"drift.psi","severity":"critical","state":"firing",
///  "detector":"psi","feature":"amount","value":0.4083,"threshold":0.2,"window":{"start":30000,"end":40000},
///  "model":{"name":"fraud-model","version":"1"},"snapshot":null,"offsets":{},
///  "at":"2026-11-22T21:15:00Z"}
/// ```
///
/// `id` is stable for one episode of one detector and feature: the firing, escalated and resolved messages of an
/// episode share it. `window` is half-open `[start, end)` in 0-based event indices. `offsets` maps
/// `topic/partition` to the next offset to consume at detection (empty offline).
public struct Alert: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable {
        case firing, resolved
    }

    public struct Window: Sendable, Hashable, Codable {
        public var start: Int
        public var end: Int

        public init(start: Int, end: Int) {
            self.start = start
            self.end = end
        }
    }

    public struct Model: Sendable, Hashable, Codable {
        public var name: String
        public var version: String

        public init(name: String, version: String) {
            self.name = name
            self.version = version
        }
    }

    public var id: String
    /// `drift.psi`, `drift.f1`, …
    public var kind: String
    public var severity: Severity
    public var state: State
    /// `psi`, `f1`, `page-hinkley`, …
    public var detector: String
    /// The feature, or `score` / `f1`.
    public var feature: String
    public var value: Double
    public var threshold: Double
    public var window: Window
    public var model: Model
    /// The snapshot written for this alert, if any.
    public var snapshot: String?
    public var offsets: [String: Int64]
    /// When the alert changed state (from the injected clock).
    public var at: Date

    public init(
        id: String, kind: String, severity: Severity, state: State, detector: String, feature: String, value: Double,
        threshold: Double, window: Window, model: Model, snapshot: String? = nil, offsets: [String: Int64] = [:],
        at: Date
    ) {
        self.id = id
        self.kind = kind
        self.severity = severity
        self.state = state
        self.detector = detector
        self.feature = feature
        self.value = value
        self.threshold = threshold
        self.window = window
        self.model = model
        self.snapshot = snapshot
        self.offsets = offsets
        self.at = at
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, severity, state, detector, feature, value, threshold, window, model, snapshot, offsets, at
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(kind, forKey: .kind)
        try container.encode(severity, forKey: .severity)
        try container.encode(state, forKey: .state)
        try container.encode(detector, forKey: .detector)
        try container.encode(feature, forKey: .feature)
        try container.encode(value, forKey: .value)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(window, forKey: .window)
        try container.encode(model, forKey: .model)
        try container.encode(snapshot, forKey: .snapshot)  // null when absent, as the schema says
        try container.encode(offsets, forKey: .offsets)
        try container.encode(at, forKey: .at)
    }

    /// The alert as one line of JSON (sorted keys, ISO 8601 time).
    public func jsonLine() -> String {
        String(decoding: (try? Self.encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// The alert for a lifecycle change of one detector and feature, or `nil` when the change is not one ops
    /// needs (none is dropped: fired, escalated and resolved all produce one).
    public static func from(
        _ change: AlertChange, detector: String, feature: String, value: Double, policy: AlertPolicy,
        window: Window, model: Model, offsets: [String: Int64] = [:], at: Date
    ) -> Alert {
        let (severity, state, episode): (Severity, State, Int) =
            switch change {
            case .fired(let severity, let episode): (severity, .firing, episode)
            case .escalated(let episode): (.critical, .firing, episode)
            case .resolved(let episode): (.warning, .resolved, episode)
            }
        let threshold =
            switch (change, severity) {
            case (.resolved, _): policy.higherIsWorse ? policy.warning - policy.resolveMargin : policy.warning + policy.resolveMargin
            case (_, .critical): policy.critical
            case (_, .warning): policy.warning
            }
        return Alert(
            id: "\(model.name)/drift.\(detector)/\(feature)/\(episode)", kind: "drift.\(detector)", severity: severity,
            state: state, detector: detector, feature: feature, value: value, threshold: threshold, window: window,
            model: model, offsets: offsets, at: at)
    }
}
