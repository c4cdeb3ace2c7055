public import DriftDetection
public import OnlineLearning

/// Everything a learning pipeline carries across a restart (snapshot kind `pipeline-state`): the classifier
/// (feature schema, model, standardiser, metrics), the detectors watching it with their references, windows and
/// alert states, and the label join's waiting events. Where each source stood is in the snapshot file's header
/// (``SnapshotStore/Header/positions``), beside this state.
public struct PipelineState: Snapshotable, Equatable {
    public static let snapshotKind = "pipeline-state"
    public static let snapshotVersion = 1

    public var classifier: ProgressiveClassifier
    public var f1: RollingF1?
    public var f1Tracker: AlertTracker?
    public var score: RollingPSI?
    public var scoreTracker = AlertTracker(policy: .psi)
    public var adwin: ADWIN?
    public var pageHinkley: PageHinkley?
    /// Change alerts raised so far (numbers ADWIN's and Page-Hinkley's alert ids).
    public var changeEpisodes = 0
    /// Labelled events learned (inline or joined).
    public var labelled = 0
    /// Scored and labelled events before the detectors began watching (after the warm-up).
    public var watchStart: WatchStart?
    /// The PSI of the dense input features, from the first event scored.
    public var inputs: InputWatch?
    /// Scored events waiting for their labels.
    public var join: LabelJoin?

    public struct WatchStart: Sendable, Codable, Equatable {
        public var scored: Int
        public var labelled: Int
    }

    public init(classifier: ProgressiveClassifier) {
        self.classifier = classifier
    }

    public static func == (lhs: PipelineState, rhs: PipelineState) -> Bool {
        // By their snapshots: every part is exactly what the snapshot carries.
        (try? Snapshot.encode(lhs)) == (try? Snapshot.encode(rhs))
    }
}

/// The rolling PSI of the dense input features known when watching began, one alert tracker each.
public struct InputWatch: Sendable, Codable {
    /// The watched features, in schema order (the group's columns).
    public var names: [String]
    /// Events scored before watching began (window indices are offset by it in alerts).
    public var start: Int
    public var group: RollingPSIGroup
    public var trackers: [AlertTracker]

    public init(names: [String], window: Int, start: Int = 0) throws(DriftError) {
        var configuration = PSIConfiguration()
        configuration.referenceSize = window
        configuration.windowSize = window
        configuration.step = max(window / 2, 1)
        self.names = names
        self.start = start
        group = try RollingPSIGroup(features: max(names.count, 1), configuration: configuration)
        trackers = Array(repeating: AlertTracker(policy: .psi), count: max(names.count, 1))
    }

    /// Observes one event's dense row; returns every evaluation now due with its tracker's change, if any (an
    /// empty array, which does not allocate, on most events).
    public mutating func observe(_ row: UnsafeBufferPointer<Double>) -> [(feature: Int, evaluation: PSIEvaluation, change: AlertChange?)] {
        var due: [(feature: Int, evaluation: PSIEvaluation, change: AlertChange?)] = []
        group.observe(row) { feature, evaluation in
            guard feature < names.count else { return }
            due.append((feature, evaluation, trackers[feature].evaluate(evaluation.psi)))
        }
        return due
    }
}
