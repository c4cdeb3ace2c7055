import Alerting
import ArgumentParser
import DriftDetection
import Foundation
import Logging
import StreamCore
import StreamKafka

struct DriftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Replay JSON Lines events through rolling PSI detectors, one per feature, as an ops tool.",
        discussion: """
            The first --reference events are each feature's reference; then a sliding window of the last --window \
            events is compared with it every --step events. Numeric features get --bins bins at the reference's \
            quantiles (numpy's linear method, left-closed); categorical ones the reference's top 20 categories \
            plus "other"; a missing value has a bin of its own. PSI = Σ (cur − ref)·ln(cur/ref), an empty bin \
            counting 1e-4. Each evaluation prints the feature, the window [start, end) in 0-based event indices, \
            the PSI and the alert state (ok, warning ≥ 0.1, critical ≥ 0.2, resolved; with hysteresis, so one \
            drift gives one alert and one resolution).

            Alerts (firing, escalated, resolved) go to every sink given: --alerts-topic on --brokers (the ops \
            feed), --alerts-file (JSON Lines), --alertmanager (Prometheus Alertmanager's POST /api/v2/alerts). A \
            failing sink is retried 3 times with backoff; an alert it still refuses goes to --alerts-file or, \
            without one, to the log with its full body.

            Examples:
              streamlearn generate fraud --events 200000 --drift-at 100000 --drift covariate | streamlearn drift -
              streamlearn drift --features amount,country --window 5000 --step 2500 --json events.jsonl
              streamlearn drift --brokers "$(cat /tmp/bootstrap)" --alerts-topic ops-alerts --alerts-file alerts.jsonl -
            """
    )

    @Argument(help: "JSON Lines file, or - for stdin.")
    var file: String = "-"

    @Option(help: "Events in the reference.")
    var reference: Int = 10_000

    @Option(help: "Events in the sliding window.")
    var window: Int = 10_000

    @Option(help: "Events between evaluations.")
    var step: Int = 5_000

    @Option(help: "Bins per numeric feature.")
    var bins: Int = 10

    @Option(help: "Comma-separated features to watch (default: every feature of the first event).")
    var features: String?

    @Flag(help: "Print one JSON object per evaluation: feature, start, end, psi, state.")
    var json = false

    @OptionGroup var alerts: AlertOptions

    func report(_ line: String) { alerts.report(line) }

    @OptionGroup var global: GlobalOptions

    @OptionGroup var fields: EventFieldOptions

    var psiConfiguration: PSIConfiguration {
        var configuration = PSIConfiguration()
        configuration.referenceSize = reference
        configuration.windowSize = window
        configuration.step = step
        configuration.bins = bins
        return configuration
    }

    func validate() throws {
        _ = try fields.decoderConfiguration()
        do {
            try psiConfiguration.validate()
        } catch {
            guard case .invalidConfiguration(let key, let reason) = error else { throw error }
            throw ValidationError("--\(key.replacingOccurrences(of: "_", with: "-")): \(reason)")
        }
    }

    /// One watched feature: its detector and alert tracker, created on the first event that shows its kind.
    struct Watch {
        var name: String
        var detector: RollingPSI?
        var tracker = AlertTracker(policy: .psi)
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        let (dispatcher, kafkaSink) = try alerts.makeDispatcher(logger: logger)
        try await runOnDedicatedThread(name: "streamlearn.drift") { [self] in
            try replay(dispatcher: dispatcher)
        }
        try alerts.finish(dispatcher, kafkaSink)
    }

    func replay(dispatcher: AlertDispatcher) throws {
        let model = alerts.model
        let metrics = alerts.makeMetrics()
        let decoder = EventDecoder(configuration: try fields.decoderConfiguration())
        let input = try JSONLinesInput(path: file)
        var watches: [Watch] = []
        var table = FeatureSchema()
        var seen: [Bool] = []
        var rejected = 0
        var evaluations = 0
        let configuration = psiConfiguration
        if let features {
            for name in features.split(separator: ",").map(String.init) where table.count == table.index(of: name) {
                watches.append(Watch(name: name))
            }
        }
        func handle(_ watch: inout Watch, _ evaluation: PSIEvaluation) {
            evaluations += 1
            let change = watch.tracker.evaluate(evaluation.psi)
            if let change {
                let alert = Alert.from(
                    change, detector: "psi", feature: watch.name, value: evaluation.psi, policy: watch.tracker.policy,
                    window: Alert.Window(start: evaluation.start, end: evaluation.end), model: model, at: Date())
                metrics?.recordAlert(alert)
                if !dispatcher.sinks.isEmpty { dispatcher.dispatch(alert) }
            }
            metrics?.recordPSI(evaluation.psi, feature: watch.name)
            alerts.publish(metrics)
            let state: String
            if case .resolved = change { state = "resolved" } else { state = watch.tracker.state.rawValue }
            if json {
                let object: [String: Any] = [
                    "feature": watch.name, "start": evaluation.start, "end": evaluation.end, "psi": evaluation.psi,
                    "state": state,
                ]
                if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                    report(String(decoding: data, as: UTF8.self))
                }
            } else {
                report(
                    "\(watch.name.padding(toLength: 20, withPad: " ", startingAt: 0)) [\(evaluation.start), \(evaluation.end))  psi \(String(format: "%.6f", evaluation.psi))  \(state)")
            }
        }
        _ = try input.decodeLines(with: decoder) { lineNumber, event, rejection in
            if let rejection {
                rejected += 1
                if rejected <= 10 { Output.error("line \(lineNumber): rejected: \(rejection)") }
                return
            }
            if features == nil && watches.isEmpty {
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
                    if watches[index].detector == nil { watches[index].detector = try RollingPSI(kind: .numeric, configuration: configuration) }
                    guard watches[index].detector!.kind == .numeric else { continue }
                    if let evaluation = watches[index].detector!.observe(feature.value) { handle(&watches[index], evaluation) }
                }
                for feature in event.categorical {
                    guard let index = table.index(of: event.bytes(feature.name), hash: feature.nameHash, learn: false) else { continue }
                    seen[index] = true
                    if watches[index].detector == nil { watches[index].detector = try RollingPSI(kind: .categorical, configuration: configuration) }
                    guard watches[index].detector!.kind == .categorical else { continue }
                    if let evaluation = watches[index].detector!.observe(category: event.bytes(feature.value)) { handle(&watches[index], evaluation) }
                }
                for index in seen.indices where !seen[index] {
                    guard var detector = watches[index].detector else { continue }
                    let evaluation = detector.kind == .numeric ? detector.observe(.nan) : detector.observe(category: nil)
                    watches[index].detector = detector
                    if let evaluation { handle(&watches[index], evaluation) }
                }
            } catch let error as DriftError {
                throw ValidationError("\(error)")
            }
        }
        if rejected > 10 { Output.error("(\(rejected) lines rejected in all; the first 10 shown)") }
        if !json {
            let alerts = watches.map(\.tracker.episodes).reduce(0, +)
            report("\(evaluations) evaluations of \(watches.count) features, \(alerts) alerts, \(rejected) rejected lines")
        }
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
