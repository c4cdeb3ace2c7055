public import Alerting
import DriftDetection
public import Foundation
public import OnlineLearning
public import StreamCore

/// The learning engine: each event is scored, learned when its label is known (inline, or joined from a later
/// label line), watched by the detectors, and turned into alerts; snapshots are written by policy, at each
/// critical alert and at the end. `learn`, `drift`, the runtime and the tests all drive it the same way:
/// ``run(_:decoder:threaded:stopWhen:)`` over an ``EventSource``, or ``process(_:_:_:)`` record by record (as
/// swift-nio's `EmbeddedChannel` drives a pipeline without I/O).
///
/// One thread owns a pipeline. Alerts leave it at once (``AlertDispatcher`` delivers them on its own thread);
/// snapshots are written on it, atomically, so the state a snapshot holds is exactly the state after the record
/// its positions name.
public final class LearningPipeline {
    /// What happened to records that were not learned, for the caller to report.
    public enum Diagnostic: Sendable {
        /// The decoder refused the record.
        case rejected(record: Int, EventDecodingError)
        /// The model refused its values (nothing learned).
        case notLearned(record: Int, LearningError)
    }

    /// Records seen in this run (a resumed state's earlier records are not counted).
    public struct Counts: Sendable, Hashable {
        /// Records read (events, label lines and rejected records).
        public var records = 0
        public var rejected = 0
        /// Events the model refused.
        public var notLearned = 0
        /// Events scored with no label and no id to join a label by.
        public var unlabeled = 0
        /// Label lines (an id and a label, no features).
        public var labelLines = 0
    }

    public let configuration: LearningPipelineConfiguration
    /// One thread owns the pipeline, and no access to the state overlaps another (the per-record step moves a
    /// part out before handing it to a closure of another part); the target is built without dynamic checks.
    @exclusivity(unchecked) public private(set) var state: PipelineState
    public let store: SnapshotStore?
    public let raiser: AlertRaiser
    /// Called for each record not learned.
    @exclusivity(unchecked) public var diagnostics: (Diagnostic) -> Void = { _ in }
    @exclusivity(unchecked) public private(set) var counts = Counts()
    /// What ``process(_:_:_:)`` did with a record, for a caller that answers each one (the runtime's scores and
    /// dead letters).
    public enum Outcome: Sendable, Equatable {
        /// An event scored: learned at once (inline label), held for its label, or neither (no id, no label).
        case scored(probability: Double)
        /// An event whose id is already waiting for its label: neither scored again nor held.
        case duplicateEvent
        /// A label line joined to its event, which was learned.
        case joined
        /// A label line held until its event arrives (it came first).
        case earlyLabel
        /// A label line for an id nobody is waiting for (never seen, expired, or already joined).
        case orphanLabel
        /// A second label line for an id already joined.
        case duplicateLabel
        /// The decoder refused the record.
        case rejected(EventDecodingError)
        /// The model refused the event's values; nothing was learned.
        case notLearned(LearningError)
    }
    /// Called instead of writing a snapshot when a critical alert fires, by a caller that writes snapshots only at
    /// points of its own (the runtime: after the transaction that covers the record commits); returns the path the
    /// snapshot will have.
    public var deferAlertSnapshot: ((Alert) throws -> String?)?
    /// What to keep with a label that comes before its event (the runtime: the message, to dead-letter it if its
    /// event never comes).
    @exclusivity(unchecked) public var labelOrigin: () -> [UInt8] = { [] }
    /// An alert's `offsets` for the record being processed, when the caller knows better than the source (the
    /// runtime: `topic:partition` → offset).
    public var alertOffsets: ((SourceCursor) -> [String: Int64])?
    /// Called with each early label that expired without its event.
    @exclusivity(unchecked) public var orphanExpired: (LabelJoin.EarlyLabel) throws -> Void = { _ in }
    /// The last record processed.
    @exclusivity(unchecked) public private(set) var lastCursor: SourceCursor?
    @exclusivity(unchecked) private var source: (any EventSource)?
    @exclusivity(unchecked) private var lastSnapshot = ContinuousClock.now
    // Read once: configuration reads per event cost.
    /// Whether label lines are joined (the state has a join).
    private let joining: Bool
    private let warmUp: Int
    private let inputWindow: Int?
    private let threshold: Double
    private let everyRecords: Int?
    private let everySeconds: Double?

    /// A pipeline over `state` (a fresh one from `configuration` when `nil`), completed with the detectors and
    /// join the configuration asks for.
    public init(
        configuration: LearningPipelineConfiguration, state: PipelineState? = nil, store: SnapshotStore? = nil,
        raiser: AlertRaiser
    ) throws(PipelineError) {
        try configuration.validate()
        self.configuration = configuration
        if var state {
            try configuration.complete(&state)
            self.state = state
        } else {
            self.state = try configuration.makeState()
        }
        self.store = store
        self.raiser = raiser
        joining = self.state.join != nil
        warmUp = configuration.detectors.warmUp
        inputWindow = configuration.detectors.inputPSIWindow
        threshold = configuration.threshold
        everyRecords = configuration.snapshots.everyRecords
        everySeconds = configuration.snapshots.everySeconds
    }

    // MARK: - Driving

    /// Reads `source` to its end (or until `stopWhen` says stop: records decoded ahead but not yet processed are
    /// left for a resume) and processes every record; returns whether it was stopped. Does not write the final
    /// snapshot: call ``finish()``.
    public func run(
        _ source: any EventSource, decoder: EventDecoder, threaded: Bool = JSONLinesSource.decodesAhead,
        stopWhen: (() -> Bool)? = nil
    ) throws -> Bool {
        self.source = source
        return try source.decodeRecords(with: decoder, threaded: threaded, stopWhen: stopWhen) { cursor, event, rejection in
            if stopWhen?() == true { return }
            try process(cursor, event, rejection)
        }
    }

    /// Writes the final snapshot (reason `shutdown`) when there is a store; returns its path.
    @discardableResult
    public func finish() throws(PipelineError) -> String? {
        guard store != nil else { return nil }
        return try writeSnapshot(reason: .shutdown)
    }

    /// Where the source stands after the last record processed.
    public var positions: [SourcePosition] { source?.positions(through: lastCursor) ?? [] }

    /// Writes the state to the store with the source's positions; returns the file's path (`nil` without a store).
    @discardableResult
    public func writeSnapshot(
        reason: SnapshotStore.Reason, at date: Date? = nil, positions explicit: [SourcePosition]? = nil
    ) throws(PipelineError) -> String? {
        guard let store else { return nil }
        let payload: Data
        do {
            payload = try Snapshot.encode(state)
        } catch {
            throw PipelineError(.snapshotWriteFailed, "cannot write a snapshot to '\(store.directory)': \(error)")
        }
        do {
            let path = try store.write(payload, reason: reason, positions: explicit ?? positions, at: date ?? raiser.now())
            lastSnapshot = ContinuousClock.now
            return path
        } catch {
            throw PipelineError(.snapshotWriteFailed, "cannot write a snapshot: \(error)")
        }
    }

    // MARK: - The per-record step

    /// Processes one record: its event (valid during the call) or its rejection.
    @discardableResult
    public func process(_ cursor: SourceCursor, _ event: DecodedEvent, _ rejection: EventDecodingError?) throws -> Outcome {
        if store != nil {
            let byCount = everyRecords.map { cursor.record % $0 == 0 } ?? false
            let byTime = everySeconds.map { ContinuousClock.now - lastSnapshot >= .seconds($0) } ?? false
            // Before this record: the snapshot holds the state after the previous one.
            if byCount || byTime { try writeSnapshot(reason: .periodic) }
        }
        lastCursor = cursor
        counts.records += 1
        if let rejection {
            counts.rejected += 1
            diagnostics(.rejected(record: cursor.record, rejection))
            return .rejected(rejection)
        }
        if joining, event.label != nil, let id = event.id, event.numeric.isEmpty, event.categorical.isEmpty, event.missing.isEmpty {
            counts.labelLines += 1
            return try joinLabel(
                id: event.string(id), label: event.label! != 0, timestamp: event.timestampMilliseconds, cursor: cursor)
        }
        let probability: Double
        var expired: [LabelJoin.Held] = []
        var labelledNow: Bool?
        if joining, event.label == nil, let id = event.id {
            do {
                probability = try state.classifier.score(event)
            } catch {
                return refused(error, cursor)
            }
            let features = state.classifier.lastVector  // shares the classifier's buffers: no copy until hold's
            switch state.join!.hold(
                id: event.string(id), score: probability, copying: features, timestamp: event.timestampMilliseconds)
            {
            case .held: break
            case .duplicate:
                state.classifier.withdrawLastScore()
                return .duplicateEvent
            case .labelled(let label):
                // Its label came first: learned now, on the score it was given.
                labelledNow = label
            }
        } else {
            if event.label == nil { counts.unlabeled += 1 }
            do {
                probability = try state.classifier.process(event)
            } catch {
                return refused(error, cursor)
            }
        }
        if let label = labelledNow {
            try learn(
                state.classifier.lastVector, score: probability, label: label, labelTime: event.timestampMilliseconds,
                cursor: cursor)
        }
        if joining {
            try state.join!.advance(timestamp: event.timestampMilliseconds, orphan: orphanExpired) { expired.append($0) }
        }
        if event.label != nil { state.labelled += 1 }
        if let inputWindow { try watchInputs(window: inputWindow, cursor: cursor) }
        if state.classifier.scored > warmUp {
            // Detector windows count from where watching began; alerts give them as stream indices.
            if state.watchStart == nil {
                state.watchStart = .init(
                    scored: state.classifier.scored - 1, labelled: max(state.labelled - (event.label == nil ? 0 : 1), 0))
            }
            let scoredOffset = state.watchStart!.scored
            if let evaluation = state.score?.observe(probability) {
                if let change = state.scoreTracker.evaluate(evaluation.psi) {
                    try raise(
                        change, detector: "psi", feature: "score", value: evaluation.psi, policy: state.scoreTracker.policy,
                        window: Alert.Window(start: evaluation.start + scoredOffset, end: evaluation.end + scoredOffset),
                        cursor: cursor)
                }
                raiser.recordPSI(evaluation.psi, feature: "score", end: evaluation.end + scoredOffset)
                raiser.publish()
            }
            if let label = event.label { try observeOutcome(probability: probability, label: label != 0, cursor: cursor) }
        }
        for held in expired {
            if case .learn(let label) = state.join!.configuration.expiry {
                try learnHeld(held, label: label, labelTime: nil, cursor: cursor)
            }
            state.join!.recycle(held)
        }
        return .scored(probability: probability)
    }

    /// An event whose values the model refuses: counted and reported, nothing learned.
    private func refused(_ error: LearningError, _ cursor: SourceCursor) -> Outcome {
        counts.notLearned += 1
        diagnostics(.notLearned(record: cursor.record, error))
        return .notLearned(error)
    }

    /// A label line: learns the event it belongs to, if one is waiting.
    private func joinLabel(id: String, label: Bool, timestamp: Int64?, cursor: SourceCursor) throws -> Outcome {
        switch state.join!.take(id: id, label: label, timestamp: timestamp, origin: labelOrigin()) {
        case .joined(let held):
            try learnHeld(held, label: label, labelTime: timestamp, cursor: cursor)
            state.join!.recycle(held)
            return .joined
        case .orphan: return .orphanLabel
        case .duplicate: return .duplicateLabel
        case .early: return .earlyLabel
        }
    }

    /// Learns a held event with its label, then lets the detectors see the outcome.
    /// `labelTime` is when the label became known (the newest event's time when `nil`).
    private func learnHeld(_ held: LabelJoin.Held, label: Bool, labelTime: Int64?, cursor: SourceCursor) throws {
        try learn(held.features, score: held.score, label: label, labelTime: labelTime, cursor: cursor)
    }

    /// Learns an event's features with its label, scored `score` on arrival, then lets the detectors see it.
    private func learn(
        _ features: FeatureVector, score: Double, label: Bool, labelTime: Int64?, cursor: SourceCursor
    ) throws {
        do {
            try state.classifier.learn(features, label: label, score: score, labelTime: labelTime)
        } catch {
            counts.notLearned += 1
            diagnostics(.notLearned(record: cursor.record, error))
            return
        }
        state.labelled += 1
        guard state.watchStart != nil else { return }
        try observeOutcome(probability: score, label: label, cursor: cursor)
    }

    /// The error-stream detectors and rolling F1 on one labelled outcome (after the warm-up).
    private func observeOutcome(probability: Double, label: Bool, cursor: SourceCursor) throws {
        let labelledOffset = state.watchStart!.labelled
        let error: Double = (probability >= threshold) == label ? 0 : 1
        if state.adwin?.update(error) == true {
            try raiseChange(detector: "adwin", value: state.adwin!.mean, threshold: state.adwin!.delta, cursor: cursor)
        }
        if let change = state.pageHinkley?.update(error) {
            try raiseChange(
                detector: "page-hinkley", value: change == .increase ? 1 : -1, threshold: state.pageHinkley!.threshold,
                cursor: cursor)
        }
        if let evaluation = state.f1?.observe(probability: probability, label: label) {
            raiser.recordF1(evaluation.f1, baseline: evaluation.baseline, end: evaluation.end + labelledOffset)
            raiser.publish()
            if state.f1Tracker == nil, let policy = state.f1?.policy { state.f1Tracker = AlertTracker(policy: policy) }
            if let change = state.f1Tracker?.evaluate(evaluation.f1) {
                try raise(
                    change, detector: "f1", feature: "f1", value: evaluation.f1, policy: state.f1Tracker!.policy,
                    window: Alert.Window(start: evaluation.start + labelledOffset, end: evaluation.end + labelledOffset),
                    cursor: cursor)
            }
        }
    }

    /// The rolling PSI of the dense inputs of the event just scored.
    private func watchInputs(window: Int, cursor: SourceCursor) throws {
        if state.inputs == nil {
            do {
                state.inputs = try InputWatch(
                    names: state.classifier.vectorizer.schema.names, window: window, start: state.classifier.scored - 1)
            } catch {
                throw PipelineError(.invalidConfiguration, "detectors.input_psi_window: \(error)")
            }
        }
        // The detectors read the classifier's row in place; the watch is moved out for the call (no copy).
        var inputs = state.inputs
        state.inputs = nil
        let due = state.classifier.withLastDenseValues { row in inputs!.observe(row) }
        state.inputs = inputs
        for (feature, evaluation, change) in due {
            let name = state.inputs!.names[feature]
            let start = state.inputs!.start
            raiser.recordPSI(evaluation.psi, feature: name, end: evaluation.end + start)
            if let change {
                try raise(
                    change, detector: "psi", feature: name, value: evaluation.psi, policy: .psi,
                    window: Alert.Window(start: evaluation.start + start, end: evaluation.end + start), cursor: cursor)
            }
        }
        if !due.isEmpty { raiser.publish() }
    }

    private func raise(
        _ change: AlertChange, detector: String, feature: String, value: Double, policy: AlertPolicy,
        window: Alert.Window, cursor: SourceCursor
    ) throws {
        try raiser.raise(
            change, detector: detector, feature: feature, value: value, policy: policy, window: window,
            offsets: offsets(cursor)
        ) { alert in
            if let deferAlertSnapshot = self.deferAlertSnapshot { return try deferAlertSnapshot(alert) }
            return try self.writeSnapshot(reason: .alert(alert.id), at: alert.at)
        }
    }

    private func raiseChange(detector: String, value: Double, threshold: Double, cursor: SourceCursor) throws {
        state.changeEpisodes += 1
        try raiser.raiseChange(
            detector: detector, feature: "error", value: value, threshold: threshold, episode: state.changeEpisodes,
            window: Alert.Window(start: max(state.labelled - 1, 0), end: state.labelled), offsets: offsets(cursor))
    }

    /// An alert's offsets: the source's key and the record being processed.
    private func offsets(_ cursor: SourceCursor) -> [String: Int64] {
        if let alertOffsets { return alertOffsets(cursor) }
        guard let source else { return [:] }
        return [source.offsetKey: Int64(cursor.record)]
    }
}

/// One thread owns a LearningPipeline (it is not shared between threads).
@available(*, unavailable)
extension LearningPipeline: Sendable {}
