/// How a detector's values become alerts: thresholds, hysteresis and a cooldown, so one sustained drift gives one
/// alert and one resolution (River issue #574), not a storm.
public struct AlertPolicy: Sendable, Hashable, Codable {
    /// Warning when the value reaches this (at or above for PSI, at or below for F1).
    public var warning: Double
    /// Critical when the value reaches this.
    public var critical: Double
    /// `true` when larger values are worse (PSI); `false` when smaller are (F1).
    public var higherIsWorse: Bool
    /// A firing alert resolves only once the value is back past `warning` by this margin (absolute). Default:
    /// 20% of `warning` for PSI; 0.02 for F1.
    public var resolveMargin: Double
    /// Consecutive evaluations past the margin needed to resolve. Default 2.
    public var resolveAfter: Int = 2
    /// Evaluations after a resolution during which no new alert fires. Default 2.
    public var cooldown: Int = 2

    public init(warning: Double, critical: Double, higherIsWorse: Bool, resolveMargin: Double? = nil) {
        self.warning = warning
        self.critical = critical
        self.higherIsWorse = higherIsWorse
        self.resolveMargin = resolveMargin ?? (higherIsWorse ? 0.2 * warning : 0.02)
    }

    /// PSI: warning 0.1, critical 0.2, resolves below 0.08.
    public static let psi = AlertPolicy(warning: 0.1, critical: 0.2, higherIsWorse: true)
}

/// An alert's severity.
public enum Severity: String, Sendable, Hashable, Codable {
    case warning, critical
}

/// The state of one detector's alert (per detector and feature).
public enum AlertState: String, Sendable, Hashable, Codable {
    case ok, warning, critical
}

/// What one evaluation changed.
public enum AlertChange: Sendable, Hashable {
    /// A new alert (episode number, from 1).
    case fired(Severity, episode: Int)
    /// The firing alert of this episode grew more severe.
    case escalated(episode: Int)
    /// The firing alert of this episode is over.
    case resolved(episode: Int)
}

/// The alert lifecycle of one detector and feature: ok → warning → critical → resolved (→ ok), with hysteresis
/// and a cooldown. A warning that turns critical is the same alert, escalated (same episode).
public struct AlertTracker: Sendable, Hashable, Codable {
    public let policy: AlertPolicy
    public private(set) var state: AlertState = .ok
    /// Alerts fired so far; the current or last one's episode number.
    public private(set) var episodes = 0
    private var calmEvaluations = 0
    private var cooldownLeft = 0

    public init(policy: AlertPolicy) {
        self.policy = policy
    }

    private func worse(_ value: Double, than threshold: Double) -> Bool {
        policy.higherIsWorse ? value >= threshold : value <= threshold
    }

    /// Feeds one evaluation's value; returns what changed, if anything.
    public mutating func evaluate(_ value: Double) -> AlertChange? {
        let severity: Severity? =
            worse(value, than: policy.critical) ? .critical : (worse(value, than: policy.warning) ? .warning : nil)
        switch state {
        case .ok:
            if cooldownLeft > 0 {
                cooldownLeft -= 1
                return nil
            }
            guard let severity else { return nil }
            episodes += 1
            state = severity == .critical ? .critical : .warning
            calmEvaluations = 0
            return .fired(severity, episode: episodes)
        case .warning, .critical:
            if state == .warning && severity == .critical {
                state = .critical
                calmEvaluations = 0
                return .escalated(episode: episodes)
            }
            let resolveLine = policy.higherIsWorse ? policy.warning - policy.resolveMargin : policy.warning + policy.resolveMargin
            let calm = policy.higherIsWorse ? value < resolveLine : value > resolveLine
            calmEvaluations = calm ? calmEvaluations + 1 : 0
            guard calmEvaluations >= policy.resolveAfter else { return nil }
            state = .ok
            calmEvaluations = 0
            cooldownLeft = policy.cooldown
            return .resolved(episode: episodes)
        }
    }
}
