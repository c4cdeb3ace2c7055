import Alerting
import Foundation
public import OnlineLearning
public import StreamCore
public import StreamPipeline

/// The fraud job: each event is scored at once (a score message keyed by its id: `id`, `score`, `decision`,
/// `model_version`, `latency_us`), held until its label arrives (inline, or on the labels topic) and then learned,
/// with the learning pipeline's detectors watching inputs, scores and outcomes.
public final class ScoringJob: StreamJob {
    public let pipeline: LearningPipeline
    /// The events topic's decoder and the labels topic's (in their formats; `input.events`, `input.labels`).
    private let decoder: MessageDecoder
    private let labelDecoder: MessageDecoder
    private let event = DecodedEvent()
    @exclusivity(unchecked) private var writer = JSONWriter()
    @exclusivity(unchecked) private var snapshotRequest: SnapshotStore.Reason?
    private let threshold: Double
    private let explain: Int
    /// The output of the message being processed (for early labels' origins and their expiry).
    @exclusivity(unchecked) private var output: (any JobOutput)?
    /// Where the message being processed came from.
    @exclusivity(unchecked) private var current: (topic: String, partition: Int32, offset: Int64)?

    /// A job over `state` (a restored one) or a fresh one; alerts raised go to `raiser`. A critical alert names
    /// the snapshot that will hold its state: `nextSnapshotPath` (when snapshots are written in the background,
    /// it counts the one being written), or `store`'s next path.
    public init(
        _ configuration: JobConfiguration.Scoring, state: PipelineState?, store: SnapshotStore, raiser: AlertRaiser,
        nextSnapshotPath: (@Sendable () -> String)? = nil, schemas: (any SchemaSource)? = nil
    ) throws(PipelineError) {
        var pipelineConfiguration = configuration.pipeline
        // The runtime writes every snapshot, at transaction boundaries.
        pipelineConfiguration.snapshots = .init()
        // Labels on their own topic may be read before their events.
        pipelineConfiguration.labelJoin?.holdEarlyLabels = true
        pipeline = try LearningPipeline(configuration: pipelineConfiguration, state: state, store: store, raiser: raiser)
        decoder = MessageDecoder(format: configuration.eventsFormat, configuration: configuration.decoder, schemas: schemas)
        labelDecoder = configuration.labelsFormat == configuration.eventsFormat
            ? decoder
            : MessageDecoder(format: configuration.labelsFormat, configuration: configuration.decoder, schemas: schemas)
        threshold = pipelineConfiguration.threshold
        explain = configuration.explain
        pipeline.deferAlertSnapshot = { [unowned self] alert in
            if self.snapshotRequest == nil { self.snapshotRequest = .alert(alert.id) }
            return nextSnapshotPath?() ?? store.nextPath
        }
        pipeline.labelOrigin = { [unowned self] in self.output?.origin() ?? [] }
        pipeline.alertOffsets = { [unowned self] _ in
            guard let message = self.current else { return [:] }
            return ["\(message.topic):\(message.partition)": message.offset]
        }
        pipeline.orphanExpired = { [unowned self] label in
            try self.output?.deadLetter(
                origin: label.origin,
                DeadLetterReason(
                    kind: "orphan-label", stage: .process,
                    message: "no event with id '\(label.id)' arrived while its label waited (join.max_age_*, join.capacity)"))
        }
    }

    public func process(_ message: JobMessage, _ output: any JobOutput) throws -> DeadLetterReason? {
        let cursor = SourceCursor(record: message.record, end: message.offset)
        self.output = output
        current = (message.topic, message.partition, message.offset)
        var rejection: EventDecodingError?
        do {
            try (message.role == .feedback ? labelDecoder : decoder).decode(message.value, into: event)
        } catch {
            rejection = error
        }
        if let rejection {
            // Not the message's fault: the job stops here (its transaction is not committed; nothing is lost).
            if rejection.reason == .registryUnavailable { throw SchemaRegistryUnavailable(message: rejection.description) }
            try pipeline.process(cursor, event, rejection)
            return Self.deadLetter(rejection)
        }
        let isLabelLine = event.label != nil && event.numeric.isEmpty && event.categorical.isEmpty && event.missing.isEmpty
        guard let id = event.id else {
            return DeadLetterReason(
                kind: "missing-id", stage: .process,
                message: "no '\(decoder.configuration.idField)' field: scores are keyed by event id")
        }
        if message.role == .feedback && !isLabelLine {
            return DeadLetterReason(
                kind: "not-a-label", stage: .process,
                message: "a labels-topic message must hold only '\(decoder.configuration.idField)' and '\(decoder.configuration.labelField)'")
        }
        if !isLabelLine && event.numeric.isEmpty && event.categorical.isEmpty && event.missing.isEmpty {
            return DeadLetterReason(kind: "no-features", stage: .process, message: "an event with no features")
        }
        let modelVersion = pipeline.state.labelled
        switch try pipeline.process(cursor, event, nil) {
        case .scored(let probability):
            writer.reset()
            writer.raw("{\"id\":")
            writer.string(event.bytes(id))
            writer.raw(",\"score\":")
            writer.double(probability)
            writer.raw(",\"decision\":")
            writer.bool(probability >= threshold)
            writer.raw(",\"model_version\":")
            writer.int(modelVersion)
            writer.raw(",\"latency_us\":")
            let latency = ContinuousClock.now - message.received
            writer.int(Int(latency.components.seconds) * 1_000_000 + Int(latency.components.attoseconds / 1_000_000_000_000))
            if explain > 0 {
                writer.raw(",\"explain\":")
                writer.contributions(pipeline.state.classifier.explainLast(event, count: explain))
            }
            writer.raw("}")
            try writer.bytes.withUnsafeBytes { value in try output.answer(key: event.bytes(id), value: value) }
            return nil
        case .joined, .earlyLabel:
            return nil
        case .duplicateEvent:
            return DeadLetterReason(
                kind: "duplicate-event", stage: .process,
                message: "an event with id '\(event.string(id))' is already waiting for its label")
        case .orphanLabel:
            return DeadLetterReason(
                kind: "orphan-label", stage: .process,
                message: "no event with id '\(event.string(id))' is waiting for a label (never seen, or expired)")
        case .duplicateLabel:
            return DeadLetterReason(
                kind: "duplicate-label", stage: .process, message: "the event with id '\(event.string(id))' was already labelled")
        case .notLearned(let error):
            return DeadLetterReason(kind: "refused-values", stage: .process, message: "\(error)")
        case .rejected(let error):
            return Self.deadLetter(error)
        }
    }

    /// The dead-letter kind of each decoder rejection.
    private static let kinds: [(EventDecodingError.Reason, String)] = [
            (.invalidJSON, "invalid-json"), (.invalidUTF8, "invalid-utf8"), (.invalidEscape, "invalid-json"),
            (.controlCharacterInString, "invalid-json"), (.invalidNumber, "invalid-json"),
            (.trailingCharacters, "invalid-json"), (.unexpectedEnd, "invalid-json"), (.notAnObject, "not-an-object"),
            (.duplicateKey, "duplicate-key"), (.loneSurrogate, "invalid-utf8"), (.nonFiniteNumber, "non-finite-number"),
            (.labelType, "wrong-type"), (.idType, "wrong-type"), (.timestampType, "wrong-type"),
            (.nestedValue, "wrong-type"), (.stringTooLong, "oversized"), (.tooManyFields, "oversized"),
            (.documentTooLarge, "oversized"), (.nestingTooDeep, "oversized"),
            (.notWireFormat, "not-wire-format"), (.unknownSchema, "unknown-schema"),
            (.unsupportedSchema, "unsupported-schema"), (.avroTruncated, "invalid-avro"),
            (.avroTrailingBytes, "invalid-avro"), (.avroIndex, "invalid-avro"), (.invalidAvro, "invalid-avro"),
        ]

    static func deadLetter(_ error: EventDecodingError) -> DeadLetterReason {
        let kind = kinds.first { $0.0 == error.reason }?.1 ?? "invalid-event"
        return DeadLetterReason(kind: kind, stage: .decode, message: error.description)
    }

    public func captureState() -> JobState { JobState(pipeline.state) }

    public func takeSnapshotRequest() -> SnapshotStore.Reason? {
        defer { snapshotRequest = nil }
        return snapshotRequest
    }

    public var waiting: Int { pipeline.state.join?.waitingCount ?? 0 }

    public var heldFeedback: Int { pipeline.state.join?.earlyCount ?? 0 }

    public var counters: [(String, Int)] {
        let join = pipeline.state.join?.counts ?? .init()
        var counters = [
            ("scored", pipeline.state.classifier.scored), ("labelled", pipeline.state.labelled),
            ("joined", join.joined), ("expired", join.expired), ("early_labels", pipeline.state.join?.earlyCount ?? 0),
            ("orphans", join.orphans),
            ("duplicates", join.duplicates),
        ]
        if let aggregates = pipeline.state.classifier.aggregates {
            counters += [
                ("aggregate_keys", aggregates.keyCount), ("aggregate_late", aggregates.counts.late),
                ("aggregate_evicted", aggregates.counts.evicted), ("aggregate_expired", aggregates.counts.expired),
            ]
        }
        return counters
    }

    public var alerts: Int { pipeline.raiser.raised }

    public var modelVersion: Int { pipeline.state.labelled }

    public var recentMetrics: [(String, Double)] {
        let metrics = pipeline.state.classifier.metrics
        var figures: [(String, Double)] = []
        func add(_ prefix: String, _ summary: MetricsSummary) {
            figures += [
                ("\(prefix)events", Double(summary.events)), ("\(prefix)f1", summary.f1),
                ("\(prefix)precision", summary.precision), ("\(prefix)recall", summary.recall),
                ("\(prefix)log_loss", summary.logLoss),
            ]
            if let auc = summary.rocAUC { figures.append(("\(prefix)roc_auc", auc)) }
            if let value = summary.averagePrecision { figures.append(("\(prefix)average_precision", value)) }
            if let value = summary.recallAtFPR { figures.append(("\(prefix)recall_at_1pct_fpr", value)) }
        }
        add("", metrics.cumulative.summary)
        if let rolling = metrics.rolling { add("rolling_", rolling.summary) }
        return figures
    }

    public var largestWeights: [(feature: String, weight: Double)] {
        pipeline.state.classifier.largestWeights(count: 20)
    }

    public func liveModel() -> LiveModel? {
        LiveModel(classifier: pipeline.state.classifier, version: pipeline.state.labelled, threshold: threshold)
    }
}

/// One thread owns a ScoringJob (it is not shared between threads).
@available(*, unavailable)
extension ScoringJob: Sendable {}

/// The schema registry did not answer while a message's writer schema was needed, and the job was asked to stop:
/// the message was not processed (its transaction is not committed, so the next start reads it again).
public struct SchemaRegistryUnavailable: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
