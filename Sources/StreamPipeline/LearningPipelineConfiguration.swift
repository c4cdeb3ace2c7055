import DriftDetection
public import OnlineLearning
public import StreamCore

/// What a learning pipeline does: its classifier, the detectors that watch it, how late labels are joined and
/// when snapshots are written. Every value has a documented default; ``validate()`` names the key at fault.
public struct LearningPipelineConfiguration: Sendable {
    /// How events become features. Default: learned dense schema, 2^20 hashed buckets.
    public var features = FeatureSpaceConfiguration()
    /// The logistic regression (optimizer, penalties, standardisation). Default: AdaGrad at 0.1, standardised.
    public var model = LogisticRegressionConfiguration()
    /// A score at or above this is a positive decision. Default 0.5.
    public var threshold = 0.5
    /// Also keep exact metrics over the last this many labelled events. Default `nil` (cumulative only).
    public var metricsWindow: Int?
    /// Keep every distinct score for an exact cumulative ROC-AUC (memory grows with the stream: for replays).
    /// Default `false`: fixed memory, within ``BinnedROCAUC/statistics``'s error bound.
    public var exactROCAUC = false
    public var detectors = Detectors()
    /// Late labels: label lines (an id and a label, no features) join the scored event with that id. Default on
    /// with ``LabelJoin/Configuration``'s defaults; `nil` turns joining off (featureless labelled lines are then
    /// learned as events, and events with ids are scored but never learned).
    public var labelJoin: LabelJoin.Configuration? = LabelJoin.Configuration()
    public var snapshots = SnapshotPolicy()

    public init() {}

    /// The detectors that watch the model and its inputs.
    public struct Detectors: Sendable, Hashable {
        /// Rolling F1 over this many labelled events against the first as many once watching (`drift.f1`), at the
        /// threshold that maximises the reference's F1, drops judged against a window's sampling noise.
        public var f1Window: Int?
        /// PSI of the score over this many events against the first as many once watching (`drift.psi` on `score`).
        public var scorePSIWindow: Int?
        /// PSI of every dense input feature over this many events against the first as many of the stream.
        public var inputPSIWindow: Int?
        /// ADWIN (δ 0.002) on the error stream (`drift.adwin`).
        public var adwin = false
        /// Two-sided Page-Hinkley (δ 0.005, λ 50) on the error stream (`drift.page-hinkley`).
        public var pageHinkley = false
        /// Events scored before the model's detectors watch (a fresh model's scores move as it learns). Default:
        /// twice the largest F1 or score window, at least 2,000.
        public var watchAfter: Int?

        public init() {}

        /// The warm-up in effect.
        public var warmUp: Int { watchAfter ?? max(2 * max(f1Window ?? 0, scorePSIWindow ?? 0), 2_000) }
    }

    /// When the state is written to the snapshot store (there is always one at the end, and one at each
    /// critical alert).
    public struct SnapshotPolicy: Sendable, Hashable {
        /// Before every record whose number is a multiple of this.
        public var everyRecords: Int?
        /// Whenever this many seconds have passed since the last.
        public var everySeconds: Double?

        public init() {}
    }

    public func validate() throws(PipelineError) {
        for (key, value) in [
            ("detectors.f1_window", detectors.f1Window), ("detectors.score_psi_window", detectors.scorePSIWindow),
            ("detectors.input_psi_window", detectors.inputPSIWindow),
        ] {
            if let value, value < 10 { throw PipelineError(.invalidConfiguration, "\(key): must be at least 10, got \(value)") }
        }
        if let watchAfter = detectors.watchAfter, watchAfter < 0 {
            throw PipelineError(.invalidConfiguration, "detectors.watch_after: must not be negative, got \(watchAfter)")
        }
        if let every = snapshots.everyRecords, every < 1 {
            throw PipelineError(.invalidConfiguration, "snapshots.every_records: must be at least 1, got \(every)")
        }
        if let seconds = snapshots.everySeconds, !(seconds > 0 && seconds.isFinite) {
            throw PipelineError(.invalidConfiguration, "snapshots.every_seconds: must be positive, got \(seconds)")
        }
        try labelJoin?.validate()
        _ = try makeClassifier()
    }

    /// A fresh classifier; a configuration error names its key.
    public func makeClassifier() throws(PipelineError) -> ProgressiveClassifier {
        do {
            return try ProgressiveClassifier(
                features: features, model: model, threshold: threshold, window: metricsWindow, exactROCAUC: exactROCAUC)
        } catch {
            guard case .invalidConfiguration(let key, let reason) = error else {
                throw PipelineError(.invalidConfiguration, "\(error)")
            }
            throw PipelineError(.invalidConfiguration, "model.\(key): \(reason)")
        }
    }

    /// A fresh state: a new classifier, and the detectors and join asked for.
    public func makeState() throws(PipelineError) -> PipelineState {
        var state = PipelineState(classifier: try makeClassifier())
        try complete(&state)
        return state
    }

    /// Brings a restored `state` to this configuration's detectors and join: a detector it asks for and the state
    /// lacks starts (from its warm-up), one it no longer asks for is dropped, one whose window changed starts again
    /// with a fresh reference; the join takes the new capacity, ages and expiry (a smaller capacity evicts at the
    /// next event). What is unchanged continues as it was. (The model's own settings live in the state; a restart
    /// that changes them is refused by the runtime.)
    public func complete(_ state: inout PipelineState) throws(PipelineError) {
        do {
            if let window = detectors.f1Window {
                if state.f1?.configuration.windowSize != window {
                    var configuration = RollingF1.Configuration()
                    configuration.referenceSize = window
                    configuration.windowSize = window
                    configuration.step = max(window / 5, 1)
                    state.f1 = try RollingF1(configuration: configuration)
                    state.f1Tracker = nil
                }
            } else {
                state.f1 = nil
                state.f1Tracker = nil
            }
            if let window = detectors.scorePSIWindow {
                if state.score?.configuration.windowSize != window {
                    var configuration = PSIConfiguration()
                    configuration.referenceSize = window
                    configuration.windowSize = window
                    configuration.step = max(window / 2, 1)
                    state.score = try RollingPSI(kind: .numeric, configuration: configuration)
                    state.scoreTracker = AlertTracker(policy: .psi)
                }
            } else {
                state.score = nil
            }
        } catch {
            throw PipelineError(.invalidConfiguration, "detectors: \(error)")
        }
        // Input PSI starts lazily at the next event scored, over the schema known then.
        if state.inputs?.group.configuration.windowSize != detectors.inputPSIWindow { state.inputs = nil }
        if !detectors.adwin { state.adwin = nil } else if state.adwin == nil { state.adwin = ADWIN() }
        if !detectors.pageHinkley { state.pageHinkley = nil } else if state.pageHinkley == nil { state.pageHinkley = PageHinkley() }
        if let labelJoin {
            if state.join == nil { state.join = LabelJoin(configuration: labelJoin) } else { state.join!.configuration = labelJoin }
        } else {
            state.join = nil
        }
    }
}
