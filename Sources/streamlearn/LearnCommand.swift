import Alerting
import ArgumentParser
import DriftDetection
import Foundation
import OnlineLearning
import StreamCore

struct LearnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Replay JSON Lines events through progressive validation: predict each, then learn its label.",
        discussion: """
            Prints events, events/s, F1, precision, recall, ROC-AUC (exact), log-loss, accuracy and KS, measured \
            on each event's score before the model learned from it. Lines the decoder rejects are counted and \
            reported on stderr, never learned; events without a label are scored but not learned. The defaults \
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

            --save-snapshot writes the whole state (feature schema, model, standardiser, metrics) atomically as \
            a versioned JSON snapshot; --load-snapshot continues from one, bit for bit (its model options win \
            over the command line's).

            Examples:
              streamlearn generate logistic --events 100000 --seed 7 labelled.jsonl
              streamlearn learn labelled.jsonl
              streamlearn learn --optimizer ftrl --l1 1 --json labelled.jsonl
              streamlearn learn --save-snapshot model.json first.jsonl
              streamlearn learn --load-snapshot model.json --save-snapshot model.json second.jsonl
            """
    )

    enum OptimizerName: String, ExpressibleByArgument, CaseIterable {
        case sgd, adagrad, ftrl
    }

    enum ModelName: String, ExpressibleByArgument, CaseIterable {
        case logreg
    }

    @Argument(help: "JSON Lines file, or - for stdin.")
    var file: String = "-"

    @Option(help: "The model.")
    var model: ModelName = .logreg

    @Option(help: "The optimizer: sgd, adagrad or ftrl.")
    var optimizer: OptimizerName = .adagrad

    @Option(help: "Learning rate of sgd (default 0.01) or adagrad (default 0.1).")
    var learningRate: Double?

    @Option(help: "SGD inverse-scaling power: rate / t^power (0: constant).")
    var power: Double = 0

    @Option(help: "FTRL alpha.")
    var alpha: Double = 0.1

    @Option(help: "FTRL beta.")
    var beta: Double = 1

    @Option(help: "L1 penalty.")
    var l1: Double = 0

    @Option(help: "L2 penalty.")
    var l2: Double = 0

    @Option(help: "Weight of a positive event's loss (rare positives).")
    var positiveWeight: Double = 1

    @Option(help: "Hashed features go into 2^bits buckets.")
    var hashBits: Int = 20

    @Flag(inversion: .prefixedNo, help: "Standardise dense features online.")
    var standardize = true

    @Option(help: "Probability threshold for the positive class.")
    var threshold: Double = 0.5

    @Option(help: "Also keep exact metrics over the last N events (0: cumulative only); kept in snapshots.")
    var window: Int = 0

    @Option(help: "Write the final state here (atomically).")
    var saveSnapshot: String?

    @Option(help: "Continue from this snapshot.")
    var loadSnapshot: String?

    @Option(help: "Keep durable snapshots in this directory (checksummed, atomic, pruned); one at the end.")
    var snapshotDir: String?

    @Option(help: "With --snapshot-dir: also one every N lines.")
    var snapshotEvery: Int?

    @Option(help: "With --snapshot-dir: also one whenever this many seconds have passed since the last.")
    var snapshotSeconds: Double?

    @Option(help: "Continue from the newest good snapshot in this directory, skipping the lines it had consumed.")
    var resume: String?

    @Option(help: "Watch the model's rolling F1 over this many labelled events against the first as many (alerts drift.f1).")
    var f1Window: Int?

    @Option(help: "Watch the PSI of the model's score over this many events against the first as many (alerts drift.psi on score).")
    var scorePsiWindow: Int?

    @Option(help: "Watch the PSI of every dense input feature over this many events against the first as many of the stream (alerts drift.psi per feature; features first seen later are not watched).")
    var inputPsiWindow: Int?

    @Option(help: "Detectors start watching after this many events, once the model has warmed up (default: twice the largest watch window; ADWIN and Page-Hinkley: 2,000).")
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
        if let watchAfter, watchAfter < 0 { throw ValidationError("--watch-after must not be negative, got \(watchAfter)") }
        for (name, value) in [("--f1-window", f1Window), ("--score-psi-window", scorePsiWindow), ("--input-psi-window", inputPsiWindow)] {
            if let value, value < 10 { throw ValidationError("\(name) must be at least 10, got \(value)") }
        }
        do {
            _ = try makeClassifier()
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

    func makeClassifier() throws(LearningError) -> ProgressiveClassifier {
        var features = FeatureSpaceConfiguration()
        features.hashBits = hashBits
        var configuration = LogisticRegressionConfiguration()
        switch optimizer {
        case .sgd:
            let rate = learningRate ?? 0.01
            configuration.optimizer = .sgd(power == 0 ? .constant(rate) : .inverseScaling(initial: rate, power: power))
        case .adagrad:
            configuration.optimizer = .adaGrad(learningRate: learningRate ?? 0.1, epsilon: 1e-8)
        case .ftrl:
            configuration.optimizer = .ftrl(alpha: alpha, beta: beta)
        }
        configuration.l1 = l1
        configuration.l2 = l2
        configuration.positiveClassWeight = positiveWeight
        configuration.hashBits = hashBits
        configuration.standardize = standardize
        return try ProgressiveClassifier(
            features: features, model: configuration, threshold: threshold, window: window == 0 ? nil : window)
    }

    /// Events the model learns before any detector watches it: a fresh model's scores and errors move as it
    /// learns, and a reference taken then would call that drift.
    var warmUp: Int { watchAfter ?? max(2 * max(f1Window ?? 0, scorePsiWindow ?? 0), 2_000) }

    /// The offsets key of this input in snapshots: lines consumed from it.
    var inputKey: String { "file:\(file == "-" ? "stdin" : file)" }

    func run() async throws {
        var classifier: ProgressiveClassifier
        var restored: LearnState?
        var skipLines = 0
        if let loadSnapshot {
            guard let data = FileManager.default.contents(atPath: loadSnapshot) else {
                Output.error("error: cannot read snapshot '\(loadSnapshot)'")
                throw ExitCode(66)
            }
            do {
                classifier = try Snapshot.decode(ProgressiveClassifier.self, from: data)
            } catch {
                Output.error("error: snapshot '\(loadSnapshot)' refused: \(error)")
                throw ExitCode(65)
            }
        } else if let resume {
            let store = try SnapshotStore(directory: resume)
            let (entry, refused) = store.newestGood()
            for error in refused { Output.error("warning: \(error); using an older one") }
            guard let entry else {
                Output.error("error: no usable snapshot in '\(resume)'")
                throw ExitCode(66)
            }
            do {
                restored = try Snapshot.decode(LearnState.self, from: entry.payload)
                classifier = restored!.classifier
            } catch {
                Output.error("error: snapshot '\(entry.path)' refused: \(error)")
                throw ExitCode(65)
            }
            skipLines = Int(entry.header.offsets[inputKey] ?? 0)
        } else {
            classifier = try makeClassifier()
        }
        let store = try snapshotDir.map { try SnapshotStore(directory: $0) }
        let decoder = EventDecoder(configuration: try fields.decoderConfiguration())
        let input = try JSONLinesInput(path: file)
        var rejected = 0
        var refused = 0
        var unlabeled = 0
        var events = 0
        let start = ContinuousClock.now
        let logger = global.bootstrapLogging()
        let (dispatcher, kafkaSink) = try alerts.makeDispatcher(logger: logger)
        let f1Detector = try f1Window.map { window in
            var configuration = RollingF1.Configuration()
            configuration.referenceSize = window
            configuration.windowSize = window
            configuration.step = max(window / 5, 1)
            configuration.threshold = threshold
            return try RollingF1(configuration: configuration)
        }
        let scoreDetector = try scorePsiWindow.map { window in
            var configuration = PSIConfiguration()
            configuration.referenceSize = window
            configuration.windowSize = window
            configuration.step = max(window / 2, 1)
            return try RollingPSI(kind: .numeric, configuration: configuration)
        }
        // A resumed run continues its detectors (their references, windows and alert states) with the model.
        var state =
            restored
            ?? LearnState(
                classifier: classifier, f1: f1Detector, score: scoreDetector, adwin: adwin ? ADWIN() : nil,
                pageHinkley: pageHinkley ? PageHinkley() : nil)
        let metrics = alerts.makeMetrics()
        /// A change-point detector's finding: a warning that fires once (change detectors have no resolution).
        func raiseChange(detector: String, value: Double, threshold: Double, line: Int, state: inout LearnState) {
            alertCount += 1
            state.changeEpisodes += 1
            let alert = Alert(
                id: "\(alerts.model.name)/drift.\(detector)/error/\(state.changeEpisodes)", kind: "drift.\(detector)",
                severity: .warning, state: .firing, detector: detector, feature: "error", value: value,
                threshold: threshold, window: Alert.Window(start: max(state.labelled - 1, 0), end: state.labelled),
                model: alerts.model, offsets: [inputKey: Int64(line)], at: Date())
            metrics?.recordAlert(alert)
            dispatcher.dispatch(alert)
        }
        var alertCount = 0
        /// Sends the alert for `change`; a critical one first snapshots the model into the store.
        func raise(
            _ change: AlertChange, detector: String, feature: String, value: Double, policy: AlertPolicy,
            window: Alert.Window, line: Int, state: LearnState
        ) throws {
            alertCount += 1
            let offsets = [inputKey: Int64(line)]
            var alert = Alert.from(
                change, detector: detector, feature: feature, value: value, policy: policy, window: window,
                model: alerts.model, offsets: offsets, at: Date())
            if let store, alert.state == .firing, alert.severity == .critical {
                alert.snapshot = try store.write(Snapshot.encode(state), reason: .alert(alert.id), offsets: offsets, at: alert.at)
            }
            metrics?.recordAlert(alert)
            dispatcher.dispatch(alert)
        }
        var lastLine = skipLines
        var lastSnapshot = ContinuousClock.now
        // The command's options, read once: each read of a property wrapper in the per-line closure costs.
        let warmUpEvents = warmUp
        let watchInputsWindow = inputPsiWindow
        let decisionThreshold = threshold
        let everyLines = snapshotEvery
        let everySeconds = snapshotSeconds
        let offsetsKey = inputKey
        let shutdown = await ShutdownRequest.trap()
        // Lines are read and decoded on a thread of their own; everything in this closure stays on this one, in
        // line order, so the results are those of decoding inline.
        let interrupted = try input.decodeLines(
            with: decoder, threaded: decodeAhead && JSONLinesInput.decodesAhead, skippingThrough: skipLines,
            stopWhen: { shutdown.isRequested }
        ) { lineNumber, event, rejection in
            // Lines decoded ahead but not yet learned when a stop came are left for `--resume`.
            if shutdown.isRequested { return }
            lastLine = lineNumber
            if let store {
                let byCount = everyLines.map { lineNumber % $0 == 0 } ?? false
                let byTime = everySeconds.map { ContinuousClock.now - lastSnapshot >= .seconds($0) } ?? false
                if byCount || byTime {
                    try store.write(Snapshot.encode(state), reason: .periodic, offsets: [offsetsKey: Int64(lineNumber - 1)], at: Date())
                    lastSnapshot = ContinuousClock.now
                }
            }
            events += 1
            if let rejection {
                rejected += 1
                if rejected <= 10 { Output.error("line \(lineNumber): rejected: \(rejection)") }
                return
            }
            if event.label == nil { unlabeled += 1 }
            let probability: Double
            do {
                probability = try state.classifier.process(event)
            } catch {
                refused += 1
                if refused <= 10 { Output.error("line \(lineNumber): not learned: \(error)") }
                return
            }
            if event.label != nil { state.labelled += 1 }
            if let window = watchInputsWindow {
                if state.inputs == nil {
                    state.inputs = try InputWatch(
                        names: state.classifier.vectorizer.schema.names, window: window, start: state.classifier.scored - 1)
                }
                // The detectors read the classifier's row in place, both updated where they are in `state`.
                let due = state.classifier.withLastDenseValues(updating: &state.inputs) { row, inputs in
                    inputs!.observe(row)
                }
                for (feature, evaluation, change) in due {
                    let name = state.inputs!.names[feature]
                    let start = state.inputs!.start
                    metrics?.recordPSI(evaluation.psi, feature: name)
                    if let change {
                        try raise(
                            change, detector: "psi", feature: name, value: evaluation.psi, policy: .psi,
                            window: Alert.Window(start: evaluation.start + start, end: evaluation.end + start),
                            line: lineNumber, state: state)
                    }
                }
                if !due.isEmpty { alerts.publish(metrics) }
            }
            guard state.classifier.scored > warmUpEvents else { return }
            // Detector windows count from where watching began; alerts give them as stream indices.
            if state.watchStart == nil {
                state.watchStart = .init(scored: state.classifier.scored - 1, labelled: max(state.labelled - (event.label == nil ? 0 : 1), 0))
            }
            let scoredOffset = state.watchStart!.scored
            let labelledOffset = state.watchStart!.labelled
            if let evaluation = state.score?.observe(probability) {
                if let change = state.scoreTracker.evaluate(evaluation.psi) {
                    try raise(
                        change, detector: "psi", feature: "score", value: evaluation.psi, policy: state.scoreTracker.policy,
                        window: Alert.Window(start: evaluation.start + scoredOffset, end: evaluation.end + scoredOffset),
                        line: lineNumber, state: state)
                }
                metrics?.recordPSI(evaluation.psi, feature: "score")
                alerts.publish(metrics)
            }
            if let label = event.label {
                let error: Double = (probability >= decisionThreshold) == (label != 0) ? 0 : 1
                if state.adwin?.update(error) == true {
                    raiseChange(detector: "adwin", value: state.adwin!.mean, threshold: state.adwin!.delta, line: lineNumber, state: &state)
                }
                if let change = state.pageHinkley?.update(error) {
                    raiseChange(
                        detector: "page-hinkley", value: change == .increase ? 1 : -1,
                        threshold: state.pageHinkley!.threshold, line: lineNumber, state: &state)
                }
                if let evaluation = state.f1?.observe(probability: probability, label: label != 0) {
                    metrics?.recordF1(evaluation.f1, baseline: evaluation.baseline)
                    alerts.publish(metrics)
                    if state.f1Tracker == nil, let policy = state.f1?.policy { state.f1Tracker = AlertTracker(policy: policy) }
                    if let change = state.f1Tracker?.evaluate(evaluation.f1) {
                        try raise(
                            change, detector: "f1", feature: "f1", value: evaluation.f1, policy: state.f1Tracker!.policy,
                            window: Alert.Window(start: evaluation.start + labelledOffset, end: evaluation.end + labelledOffset),
                            line: lineNumber, state: state)
                    }
                }
            }
        }
        let seconds = max((ContinuousClock.now - start).seconds, 1e-9)
        if rejected > 10 || refused > 10 {
            Output.error("(\(rejected) rejected and \(refused) not learned in all; the first 10 of each shown)")
        }
        var finalSnapshot: String?
        if let store {
            finalSnapshot = try store.write(Snapshot.encode(state), reason: .shutdown, offsets: [inputKey: Int64(lastLine)], at: Date())
        }
        if interrupted {
            Output.error(
                "\(shutdown.signalName): stopped after line \(lastLine)"
                    + (finalSnapshot.map { "; state saved in '\($0)' (continue with --resume)" } ?? ""))
        }
        if let saveSnapshot {
            do {
                let data = try Snapshot.encode(state.classifier)
                try data.write(to: URL(fileURLWithPath: saveSnapshot), options: .atomic)
            } catch {
                Output.error("error: cannot write snapshot '\(saveSnapshot)': \(error)")
                throw ExitCode(73)
            }
        }
        let summary = state.classifier.metrics.cumulative.summary
        let rate = Double(events) / seconds
        if json {
            var object: [String: Any] = [
                "events": events, "events_per_second": rate.rounded(), "learned": summary.events,
                "rejected": rejected, "unlabeled": unlabeled, "not_learned": refused,
                "f1": summary.f1, "precision": summary.precision, "recall": summary.recall,
                "log_loss": summary.logLoss, "accuracy": summary.accuracy,
                "optimizer": state.classifier.model.configuration.optimizer.name, "alerts": alertCount,
            ]
            object["roc_auc"] = summary.rocAUC ?? NSNull()
            if let rolling = state.classifier.metrics.rolling {
                object["rolling"] = [
                    "window": rolling.window, "roc_auc": rolling.summary.rocAUC ?? NSNull(), "f1": rolling.summary.f1,
                    "log_loss": rolling.summary.logLoss,
                ] as [String: Any]
            }
            object["ks"] = summary.ks ?? NSNull()
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            report(String(decoding: data, as: UTF8.self))
        } else {
            func figure(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "n/a" }
            report("events       \(events) (\(summary.events) learned, \(unlabeled) unlabeled, \(rejected) rejected, \(refused) not learned)")
            report("events/s     \(Int(rate))")
            report("optimizer    \(state.classifier.model.configuration.optimizer.name)")
            report("roc_auc      \(figure(summary.rocAUC))")
            report("log_loss     \(figure(summary.logLoss))")
            report("f1           \(figure(summary.f1))  (threshold \(state.classifier.metrics.cumulative.threshold))")
            report("precision    \(figure(summary.precision))")
            report("recall       \(figure(summary.recall))")
            report("accuracy     \(figure(summary.accuracy))")
            report("ks           \(figure(summary.ks))")
            if let rolling = state.classifier.metrics.rolling?.summary {
                report("last \(state.classifier.metrics.rolling!.window)    roc_auc \(figure(rolling.rocAUC)), f1 \(figure(rolling.f1)), log_loss \(figure(rolling.logLoss))")
            }
        }
        try alerts.finish(dispatcher, kafkaSink)
        if rejected > 0 { throw ExitCode(65) }
    }
}

/// Everything `learn` carries across a restart: the classifier and the detectors watching it, with their
/// references, windows and alert states (snapshot kind `learn-state`). `--save-snapshot` and `--load-snapshot`
/// exchange the classifier alone (kind `progressive-classifier`).
struct LearnState: Snapshotable {
    static let snapshotKind = "learn-state"
    /// 2: the PSI detectors' windows are ``SlidingBinCounts`` (per-block counts); version 1 kept a ring of bins and
    /// is refused by name.
    static let snapshotVersion = 2

    var classifier: ProgressiveClassifier
    var f1: RollingF1?
    var f1Tracker: AlertTracker?
    var score: RollingPSI?
    var scoreTracker = AlertTracker(policy: .psi)
    var adwin: ADWIN?
    var pageHinkley: PageHinkley?
    /// Change alerts raised so far (numbers ADWIN's and Page-Hinkley's alert ids).
    var changeEpisodes = 0
    /// Labelled events seen.
    var labelled = 0
    /// Scored and labelled events before the detectors began watching (after the warm-up).
    var watchStart: WatchStart?
    /// The PSI of the dense input features, from the first event scored.
    var inputs: InputWatch?

    struct WatchStart: Codable {
        var scored: Int
        var labelled: Int
    }
}

/// `learn --input-psi-window`: the rolling PSI of the dense input features known when watching began, one alert
/// tracker each.
struct InputWatch: Codable {
    /// The watched features, in schema order (the group's columns).
    var names: [String]
    /// Events scored before watching began (window indices are offset by it in alerts).
    var start: Int
    var group: RollingPSIGroup
    var trackers: [AlertTracker]

    init(names: [String], window: Int, start: Int = 0) throws {
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
    mutating func observe(_ row: UnsafeBufferPointer<Double>) -> [(feature: Int, evaluation: PSIEvaluation, change: AlertChange?)] {
        var due: [(feature: Int, evaluation: PSIEvaluation, change: AlertChange?)] = []
        group.observe(row) { feature, evaluation in
            guard feature < names.count else { return }
            due.append((feature, evaluation, trackers[feature].evaluate(evaluation.psi)))
        }
        return due
    }
}
