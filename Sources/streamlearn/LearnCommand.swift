import Alerting
public import ArgumentParser
import Foundation
import OnlineLearning
import StreamCore
import StreamPipeline
import KafkaRuntime

struct LearnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Replay JSON Lines events through progressive validation: predict each, then learn its label.",
        discussion: """
            Prints events, events/s, F1, precision, recall, ROC-AUC, log-loss, accuracy and KS, measured on each \
            event's score before the model learned from it. ROC-AUC and KS are kept in fixed memory (within \
            about 1e-4 of exact; --exact-roc-auc keeps every distinct score, for replays). Lines the decoder \
            rejects are counted and reported on stderr, never learned.

            Late labels: an event with an id and no label is scored and waits; a label line ({"id": …, \
            "label": …}, no features) joins it and the event is learned then, its metrics taken on the score it \
            was given. At most --join-capacity events wait, each for at most --join-max-age events (or \
            --join-max-age-ms of event time); what expires is dropped, or learned with --join-default-label. \
            Labels for no waiting event (orphans) and for an event already joined (duplicates) are counted, \
            never learned. Events with neither a label nor an id are scored only. The defaults \
            (online standardisation, missing-value weights, AdaGrad at 0.1) work on unscaled data without tuning; \
            --optimizer sgd (rate 0.01) reproduces River's StandardScaler | LogisticRegression exactly.

            --f1-window and --score-psi-window watch the model once it has warmed up (--watch-after); \
            --input-psi-window watches the input features from the first event (inputs do not depend on the \
            model). Detectors send alerts to the sinks of \
            --alerts-topic/--brokers, --alerts-file and --alertmanager (as `drift` does); with --snapshot-dir a \
            critical alert also writes a snapshot of the model as it was at detection, named in the alert.

            SIGTERM or SIGINT stops reading before the next line (also while waiting on a pipe): the last \
            snapshot, the sinks and the summary are written as at the end of the input, and the exit status is 0; \
            a second signal exits at once.

            Snapshots: --save-snapshot writes the whole state (feature schema, model, standardiser, metrics, \
            detectors, waiting events) atomically, in the same checksummed format as --snapshot-dir's files; \
            --load-snapshot continues from either on new input, bit for bit (its options win over the command \
            line's). --resume continues a file from where the newest good snapshot of a directory left it: the \
            file is recognised by its content (its length and checksums of the consumed part), whatever its path \
            is called now, and reading continues at that byte; another or a shortened file is refused (exit 65). \
            Stdin has no positions: --resume on stdin exits 64 unless --continue, which goes on from the snapshot \
            with every line given.

            Examples:
              streamlearn generate logistic --events 100000 --seed 7 labelled.jsonl
              streamlearn learn labelled.jsonl
              streamlearn learn --optimizer ftrl --l1 1 --json labelled.jsonl
              streamlearn learn --save-snapshot model.json first.jsonl
              streamlearn learn --load-snapshot model.json --save-snapshot model.json second.jsonl
            """
    )

    enum ModelName: String, ExpressibleByArgument, CaseIterable {
        case logreg
    }

    @Argument(help: "JSON Lines file, or - for stdin.")
    var file: String = "-"

    @Option(help: "The model.")
    var model: ModelName = .logreg

    @Option(help: "The optimizer: sgd, adagrad or ftrl.")
    var optimizer: Optimizer.Kind = .adagrad

    @Option(parsing: .unconditional, help: "Learning rate of sgd (default 0.01) or adagrad (default 0.1).")
    var learningRate: Double?

    @Option(parsing: .unconditional, help: "SGD inverse-scaling power: rate / t^power (0: constant).")
    var power: Double = 0

    @Option(parsing: .unconditional, help: "FTRL alpha.")
    var alpha: Double = 0.1

    @Option(parsing: .unconditional, help: "FTRL beta.")
    var beta: Double = 1

    @Option(parsing: .unconditional, help: "L1 penalty.")
    var l1: Double = 0

    @Option(parsing: .unconditional, help: "L2 penalty.")
    var l2: Double = 0

    @Option(parsing: .unconditional, help: "Weight of a positive event's loss (rare positives).")
    var positiveWeight: Double = 1

    @Option(parsing: .unconditional, help: "Hashed features go into 2^bits buckets.")
    var hashBits: Int = 20

    @Flag(inversion: .prefixedNo, help: "Standardise dense features online.")
    var standardize = true

    @Option(help: "Keyed aggregates and crosses: a YAML file whose `features` section and `model.interactions` are read, as in a job file (other sections are ignored).")
    var features: String?

    @Option(parsing: .unconditional, help: "Probability threshold for the positive class.")
    var threshold: Double = 0.5

    @Option(parsing: .unconditional, help: "Also keep exact metrics over the last N events (0: cumulative only); kept in snapshots.")
    var window: Int = 0

    @Option(help: "Write the final state here (atomically).")
    var saveSnapshot: String?

    @Option(help: "Continue from this snapshot.")
    var loadSnapshot: String?

    @Option(help: "Keep durable snapshots in this directory (checksummed, atomic, pruned); one at the end.")
    var snapshotDir: String?

    @Option(parsing: .unconditional, help: "With --snapshot-dir: also one every N lines.")
    var snapshotEvery: Int?

    @Option(parsing: .unconditional, help: "With --snapshot-dir: also one whenever this many seconds have passed since the last.")
    var snapshotSeconds: Double?

    @Option(help: "Continue from the newest good snapshot in this directory, at the byte of FILE where it stopped.")
    var resume: String?

    @Flag(name: .customLong("continue"), help: "With --resume: go on from the snapshot with every line of the input (stdin has no positions).")
    var continueFromSnapshot = false

    @Flag(help: "Keep every distinct score for an exact cumulative ROC-AUC (memory grows with the stream; for replays).")
    var exactRocAuc = false

    @Flag(inversion: .prefixedNo, help: "Join label lines ({\"id\",\"label\"}, no features) to the waiting event with that id.")
    var join = true

    @Option(parsing: .unconditional, help: "Events that may wait for their label at once (default 100,000).")
    var joinCapacity: Int?

    @Option(parsing: .unconditional, help: "Events after which a waiting event expires.")
    var joinMaxAge: Int?

    @Option(parsing: .unconditional, help: "Event time (the events' ts, ms) after which a waiting event expires, instead of --join-max-age.")
    var joinMaxAgeMs: Int64?

    @Option(parsing: .unconditional, help: "Learn an expired event with this label (0 or 1) instead of dropping it.")
    var joinDefaultLabel: Int?

    @Option(parsing: .unconditional, help: "Watch the model's rolling F1 over this many labelled events against the first as many (alerts drift.f1).")
    var f1Window: Int?

    @Option(parsing: .unconditional, help: "Watch the PSI of the model's score over this many events against the first as many (alerts drift.psi on score).")
    var scorePsiWindow: Int?

    @Option(parsing: .unconditional, help: "Watch the PSI of every dense input feature over this many events against the first as many of the stream (alerts drift.psi per feature; features first seen later are not watched).")
    var inputPsiWindow: Int?

    @Option(parsing: .unconditional, help: "Detectors start watching after this many events, once the model has warmed up (default: twice the largest watch window; ADWIN and Page-Hinkley: 2,000).")
    var watchAfter: Int?

    @Flag(help: "Watch the error stream (misclassifications) with ADWIN (δ 0.002); each change is a drift.adwin alert.")
    var adwin = false

    @Flag(help: "Watch the error stream with two-sided Page-Hinkley (δ 0.005, λ 50); each change is a drift.page-hinkley alert.")
    var pageHinkley = false

    @Flag(
        inversion: .prefixedNo,
        help: "Read and decode on a second thread, ahead of learning (as Vowpal Wabbit parses), when there is more than one CPU; results are the same.")
    var decodeAhead = true

    @Flag(help: "Print one JSON object.")
    var json = false

    @OptionGroup var fields: EventFieldOptions

    @OptionGroup var alerts: AlertOptions

    func report(_ line: String) { alerts.report(line) }

    @OptionGroup var global: GlobalOptions

    @OptionGroup var display: ProgressOptions

    func validate() throws {
        _ = try fields.decoderConfiguration()
        if let snapshotEvery, snapshotEvery < 1 {
            throw ValidationError("--snapshot-every must be at least 1, got \(snapshotEvery)")
        }
        if snapshotEvery != nil && snapshotDir == nil { throw ValidationError("--snapshot-every needs --snapshot-dir") }
        if let snapshotSeconds {
            guard snapshotSeconds > 0, snapshotSeconds.isFinite else {
                throw ValidationError("--snapshot-seconds must be positive, got \(snapshotSeconds)")
            }
            guard snapshotDir != nil else { throw ValidationError("--snapshot-seconds needs --snapshot-dir") }
        }
        if resume != nil && loadSnapshot != nil { throw ValidationError("--resume and --load-snapshot exclude each other") }
        if continueFromSnapshot && resume == nil { throw ValidationError("--continue needs --resume") }
        if let watchAfter, watchAfter < 0 { throw ValidationError("--watch-after must not be negative, got \(watchAfter)") }
        if watchAfter != nil && f1Window == nil && scorePsiWindow == nil && !adwin && !pageHinkley {
            throw ValidationError("--watch-after delays the model's detectors, and none is on (--f1-window, --score-psi-window, --adwin, --page-hinkley)")
        }
        for (name, value) in [("--f1-window", f1Window), ("--score-psi-window", scorePsiWindow), ("--input-psi-window", inputPsiWindow)] {
            if let value, value < 10 { throw ValidationError("\(name) must be at least 10, got \(value)") }
        }
        if let joinCapacity, joinCapacity < 1 { throw ValidationError("--join-capacity must be at least 1, got \(joinCapacity)") }
        if let joinMaxAge, joinMaxAge < 1 { throw ValidationError("--join-max-age must be at least 1, got \(joinMaxAge)") }
        if let joinMaxAgeMs, joinMaxAgeMs < 1 { throw ValidationError("--join-max-age-ms must be at least 1, got \(joinMaxAgeMs)") }
        if joinMaxAge != nil && joinMaxAgeMs != nil { throw ValidationError("--join-max-age and --join-max-age-ms exclude each other") }
        if let joinDefaultLabel, joinDefaultLabel != 0 && joinDefaultLabel != 1 {
            throw ValidationError("--join-default-label must be 0 or 1, got \(joinDefaultLabel)")
        }
        if !join && (joinCapacity != nil || joinMaxAge != nil || joinMaxAgeMs != nil || joinDefaultLabel != nil) {
            throw ValidationError("--no-join excludes the other --join options")
        }
        let configuration: LearningPipelineConfiguration
        do {
            configuration = try pipelineConfiguration()
        } catch {
            throw ValidationError("--features: \(error)")
        }
        do {
            _ = try ProgressiveClassifier(features: configuration.features, model: configuration.model, threshold: threshold)
        } catch {
            throw ValidationError(Self.optionMessage(error))
        }
    }

    /// A configuration error as the command-line option it came from.
    static func optionMessage(_ error: LearningError) -> String {
        guard case .invalidConfiguration(let key, let reason) = error else { return error.description }
        let option =
            switch key {
            case "optimizer.learning_rate": "--learning-rate"
            case "optimizer.power": "--power"
            case "optimizer.alpha": "--alpha"
            case "optimizer.beta": "--beta"
            case "positive_class_weight": "--positive-weight"
            default: "--" + key.replacingOccurrences(of: "_", with: "-")
            }
        return "\(option): \(reason)"
    }

    /// The pipeline these options describe.
    func pipelineConfiguration() throws(ConfigurationError) -> LearningPipelineConfiguration {
        var configuration = LearningPipelineConfiguration()
        if let features { try FeaturesReader.load(file: features, into: &configuration.features) }
        configuration.features.hashBits = hashBits
        configuration.model.optimizer = .named(optimizer, learningRate: learningRate, power: power, alpha: alpha, beta: beta)
        configuration.model.l1 = l1
        configuration.model.l2 = l2
        configuration.model.positiveClassWeight = positiveWeight
        configuration.model.hashBits = hashBits
        configuration.model.standardize = standardize
        configuration.threshold = threshold
        configuration.metricsWindow = window == 0 ? nil : window
        configuration.exactROCAUC = exactRocAuc
        configuration.detectors.f1Window = f1Window
        configuration.detectors.scorePSIWindow = scorePsiWindow
        configuration.detectors.inputPSIWindow = inputPsiWindow
        configuration.detectors.adwin = adwin
        configuration.detectors.pageHinkley = pageHinkley
        configuration.detectors.watchAfter = watchAfter
        if join {
            var labelJoin = LabelJoin.Configuration()
            labelJoin.capacity = joinCapacity ?? 100_000
            if let joinMaxAge { labelJoin.maxAge = .events(joinMaxAge) }
            if let joinMaxAgeMs { labelJoin.maxAge = .milliseconds(joinMaxAgeMs) }
            if let joinDefaultLabel { labelJoin.expiry = .learn(label: joinDefaultLabel == 1) }
            configuration.labelJoin = labelJoin
        } else {
            configuration.labelJoin = nil
        }
        configuration.snapshots.everyRecords = snapshotEvery
        configuration.snapshots.everySeconds = snapshotSeconds
        return configuration
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        let (raiser, kafkaSink) = try alerts.makeRaiser(logger: logger)
        let shutdown = await ShutdownRequest.trap()
        let run = try reportingPipelineErrors { try replay(raiser: raiser, shutdown: shutdown) }
        try alerts.finish(raiser, kafkaSink)
        if let failure = run.saveFailure {
            Output.error("error: \(failure)")
            throw ExitCode(73)
        }
        if run.pipeline.counts.rejected > 0 { throw ExitCode(65) }
    }

    /// The state to start from: `--load-snapshot`'s, the newest good one of `--resume`'s directory (with where it
    /// left its input), or `nil` for a fresh one.
    func restoredState() throws(PipelineError) -> PipelineState.Restored? {
        if let loadSnapshot { return try PipelineState.load(file: loadSnapshot) }
        guard let resume else { return nil }
        let restored = try PipelineState.loadNewest(in: resume)
        for error in restored.refused { Output.error("warning: \(error); using an older one") }
        return restored
    }

    struct Run {
        var pipeline: LearningPipeline
        var saveFailure: String?
    }

    /// Runs the pipeline over the input and prints the summary.
    func replay(raiser: AlertRaiser, shutdown: ShutdownRequest) throws -> Run {
        let configuration = try pipelineConfiguration()
        let restored = try restoredState()
        let source = try JSONLinesSource(path: file)
        if resume != nil && !continueFromSnapshot {
            guard source.isRegularFile else {
                Output.error("error: \(source.name) has no positions to resume from; pass --continue to go on from the snapshot with every line given")
                throw ExitCode(64)
            }
            if case .file(let position) = restored?.positions.first { try source.resume(at: position) }
        }
        let store: SnapshotStore?
        do {
            store = try snapshotDir.map { try SnapshotStore(directory: $0) }
        } catch {
            throw PipelineError(.snapshotWriteFailed, "\(error)")
        }
        let pipeline = try LearningPipeline(configuration: configuration, state: restored?.state, store: store, raiser: raiser)
        // The pipeline has counted the record when it reports it: the first 10 of each kind are shown.
        pipeline.diagnostics = { [unowned pipeline] diagnostic in
            switch diagnostic {
            case .rejected(let record, let error):
                if pipeline.counts.rejected <= 10 { Output.error("line \(record): rejected: \(error)") }
            case .notLearned(let record, let error):
                if pipeline.counts.notLearned <= 10 { Output.error("line \(record): not learned: \(error)") }
            }
        }
        let start = ContinuousClock.now
        let decoder = EventDecoder(configuration: try fields.decoderConfiguration())
        let progress = display.progress("learn", total: nil, unit: "records")
        let interrupted = try pipeline.run(
            source, decoder: decoder, threaded: decodeAhead && JSONLinesSource.decodesAhead,
            stopWhen: {
                progress.advance()
                return shutdown.isRequested
            })
        progress.finish()
        let seconds = max((ContinuousClock.now - start).seconds, 1e-9)
        let counts = pipeline.counts
        if counts.rejected > 10 || counts.notLearned > 10 {
            Output.error("(\(counts.rejected) rejected and \(counts.notLearned) not learned in all; the first 10 of each shown)")
        }
        let finalSnapshot = try pipeline.finish()
        if interrupted {
            Output.error(
                "\(shutdown.signalName): stopped after line \(pipeline.lastCursor?.record ?? source.resumedLine)"
                    + (finalSnapshot.map { "; state saved in '\($0)' (continue with --resume)" } ?? ""))
        }
        var saveFailure: String?
        if let saveSnapshot {
            do {
                try SnapshotStore.writeFile(
                    try Snapshot.encode(pipeline.state), to: saveSnapshot, reason: .shutdown, positions: pipeline.positions,
                    at: Date())
            } catch {
                saveFailure = "cannot write snapshot '\(saveSnapshot)': \(error)"
            }
        }
        LearnSummary(pipeline: pipeline, seconds: seconds, json: json).print(report)
        return Run(pipeline: pipeline, saveFailure: saveFailure)
    }
}

extension Optimizer.Kind: ExpressibleByArgument {}
