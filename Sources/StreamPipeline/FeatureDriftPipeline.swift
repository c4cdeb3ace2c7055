import Alerting
public import DriftDetection
public import StreamCore

/// Rolling PSI of each input feature of a stream, as an ops tool (`streamlearn drift`): one ``RollingPSI`` per
/// feature, a missing value counting in a bin of its own, and one alert tracker each, whose changes go through the
/// ``AlertRaiser``.
///
/// A feature is numeric or categorical by its first value; a value of the other kind counts as missing, unless,
/// while the reference is still being collected, values of the other kind outnumber those of the first: then the
/// feature restarts as the other kind (one odd first value does not hide a feature). ``unevaluated`` names the
/// features that were never evaluated, and why.
public final class FeatureDriftPipeline {
    /// One feature's evaluation and the alert state after it (`resolved` when this evaluation resolved one).
    public struct Report: Sendable {
        public var feature: String
        public var evaluation: PSIEvaluation
        public var state: String
    }

    /// One watched feature: its detector (created on the first event that shows its kind) and alert tracker.
    struct Watch {
        var name: String
        var detector: RollingPSI?
        var tracker = AlertTracker(policy: .psi)
        /// Values of the detector's kind, and of the other kind, since it was created.
        var matched = 0
        var mismatched = 0
        /// Events in which the feature appeared with a value, and evaluations made.
        var present = 0
        var evaluations = 0
        /// The kind it restarted as, if a first value of the other kind was outnumbered.
        var restartedAs: RollingPSI.Kind?
    }

    /// A feature never evaluated, and why.
    public struct Unevaluated: Sendable, Hashable, CustomStringConvertible {
        public var feature: String
        public var reason: String

        public var description: String { "feature '\(feature)' was never evaluated: \(reason)" }
    }

    public let configuration: PSIConfiguration
    public let raiser: AlertRaiser
    /// Called for each evaluation.
    public var onEvaluation: (Report) -> Void = { _ in }
    /// Called for each rejected record.
    public var onRejection: (_ record: Int, EventDecodingError) -> Void = { _, _ in }
    @exclusivity(unchecked) public private(set) var records = 0
    @exclusivity(unchecked) public private(set) var rejected = 0
    /// Evaluations made, over every feature.
    public var evaluations: Int { watches.map(\.evaluations).reduce(0, +) }
    @exclusivity(unchecked) private var watches: [Watch] = []
    @exclusivity(unchecked) private var table = FeatureSchema()
    @exclusivity(unchecked) private var seen: [Bool] = []
    /// Whether the features come from the first event (none were named).
    private let fromFirstEvent: Bool

    /// Watches `features`, or every feature of the first event when `nil`.
    public init(features: [String]?, configuration: PSIConfiguration, raiser: AlertRaiser) throws(PipelineError) {
        do {
            try configuration.validate()
        } catch {
            guard case .invalidConfiguration(let key, let reason) = error else {
                throw PipelineError(.invalidConfiguration, "\(error)")
            }
            throw PipelineError(.invalidConfiguration, "\(key): \(reason)")
        }
        self.configuration = configuration
        self.raiser = raiser
        fromFirstEvent = features == nil
        for name in features ?? [] where table.count == table.index(of: name) { watches.append(Watch(name: name)) }
    }

    /// Watched features and the alerts each raised.
    public var alertEpisodes: Int { watches.map(\.tracker.episodes).reduce(0, +) }
    public var featureCount: Int { watches.count }

    /// Reads `source` to its end, processing every record (`onRecord` is called before each, on this thread).
    public func run(
        _ source: any EventSource, decoder: EventDecoder, threaded: Bool = JSONLinesSource.decodesAhead,
        onRecord: (() -> Void)? = nil
    ) throws {
        _ = try source.decodeRecords(with: decoder, threaded: threaded, stopWhen: nil) { cursor, event, rejection in
            onRecord?()
            try process(cursor, event, rejection)
        }
    }

    /// Processes one record.
    public func process(_ cursor: SourceCursor, _ event: DecodedEvent, _ rejection: EventDecodingError?) throws {
        records += 1
        if let rejection {
            rejected += 1
            onRejection(cursor.record, rejection)
            return
        }
        if fromFirstEvent && watches.isEmpty {
            let names = event.numeric.map { event.string($0.name) } + event.categorical.map { event.string($0.name) }
                + event.missing.map { event.string($0.name) }
            for name in names where table.count == table.index(of: name) { watches.append(Watch(name: name)) }
        }
        if seen.count != watches.count { seen = Array(repeating: false, count: watches.count) }
        for index in seen.indices { seen[index] = false }
        do {
            for feature in event.numeric {
                guard let index = table.index(of: event.bytes(feature.name), hash: feature.nameHash, learn: false) else { continue }
                seen[index] = true
                guard try settleKind(index, .numeric) else { continue }
                if let evaluation = watches[index].detector!.observe(feature.value) { try handle(index, evaluation) }
            }
            for feature in event.categorical {
                guard let index = table.index(of: event.bytes(feature.name), hash: feature.nameHash, learn: false) else { continue }
                seen[index] = true
                guard try settleKind(index, .categorical) else { continue }
                if let evaluation = watches[index].detector!.observe(category: event.bytes(feature.value)) { try handle(index, evaluation) }
            }
            for index in seen.indices where !seen[index] && watches[index].detector != nil { try observeMissing(index) }
        } catch let error as DriftError {
            throw PipelineError(.invalidConfiguration, "\(error)")
        }
    }

    /// Makes sure feature `index` has a detector for a value of `kind` and says whether to observe the value with
    /// it; `false`: the value is of the other kind and is observed as missing.
    private func settleKind(_ index: Int, _ kind: RollingPSI.Kind) throws -> Bool {
        watches[index].present += 1
        // The detector is read through `watches` only (no local copy), so observing later mutates it in place.
        guard let current = watches[index].detector?.kind else {
            watches[index].detector = try RollingPSI(kind: kind, configuration: configuration)
            watches[index].matched = 1
            return true
        }
        if current == kind {
            watches[index].matched += 1
            return true
        }
        watches[index].mismatched += 1
        if !watches[index].detector!.hasReference && watches[index].mismatched > watches[index].matched {
            watches[index].detector = try RollingPSI(kind: kind, configuration: configuration)
            watches[index].matched = 1
            watches[index].mismatched = 0
            watches[index].restartedAs = kind
            return true
        }
        try observeMissing(index)
        return false
    }

    /// Feature `index` (which has a detector) is missing from this event: its missing bin counts one, in place.
    private func observeMissing(_ index: Int) throws {
        let evaluation =
            watches[index].detector!.kind == .numeric
            ? watches[index].detector!.observe(.nan) : watches[index].detector!.observe(category: nil)
        if let evaluation { try handle(index, evaluation) }
    }

    /// The features never evaluated, with the reason: never present, or too few values for a reference and a
    /// window.
    public var unevaluated: [Unevaluated] {
        let needed = configuration.referenceSize + configuration.windowSize
        return watches.filter { $0.evaluations == 0 }.map { watch in
            if watch.present == 0 {
                return Unevaluated(feature: watch.name, reason: "it is in no event (of \(records - rejected) read)")
            }
            let observed = watch.detector?.index ?? 0
            return Unevaluated(
                feature: watch.name,
                reason: "\(observed) events observed since its first value, and an evaluation needs the reference "
                    + "(\(configuration.referenceSize)) and a window (\(configuration.windowSize)): \(needed)")
        }
    }

    /// Features that restarted as the other kind after an odd first value, with the kind.
    public var restarted: [(feature: String, kind: RollingPSI.Kind)] {
        watches.compactMap { watch in watch.restartedAs.map { (watch.name, $0) } }
    }

    private func handle(_ index: Int, _ evaluation: PSIEvaluation) throws {
        watches[index].evaluations += 1
        let name = watches[index].name
        let change = watches[index].tracker.evaluate(evaluation.psi)
        if let change {
            try raiser.raise(
                change, detector: "psi", feature: name, value: evaluation.psi, policy: watches[index].tracker.policy,
                window: Alert.Window(start: evaluation.start, end: evaluation.end))
        }
        raiser.recordPSI(evaluation.psi, feature: name, end: evaluation.end)
        raiser.publish()
        let state: String
        if case .resolved = change { state = "resolved" } else { state = watches[index].tracker.state.rawValue }
        onEvaluation(Report(feature: name, evaluation: evaluation, state: state))
    }
}

extension FeatureSchema {
    /// The index of `name`, adding it when new.
    mutating func index(of name: String) -> Int {
        var bytes = Array(name.utf8)
        return bytes.withUnsafeMutableBytes { raw in
            index(of: UnsafeRawBufferPointer(raw), hash: fnv1a64(UnsafeRawBufferPointer(raw)), learn: true)!
        }
    }
}

/// One thread owns a FeatureDriftPipeline (it is not shared between threads).
@available(*, unavailable)
extension FeatureDriftPipeline: Sendable {}
