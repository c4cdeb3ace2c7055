import ArgumentParser
import DriftDetection
import Foundation
import StreamCore
import StreamPipeline
import KafkaRuntime

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

            A feature is numeric or categorical by its first value; a value of the other kind counts as missing \
            (until the reference is complete, a kind that outnumbers the first one restarts the feature as that \
            kind). Features never evaluated are named with the reason; exit 65 when a --features one was never \
            evaluated, or when any line was rejected.

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

    @Option(parsing: .unconditional, help: "Events in the reference.")
    var reference: Int = 10_000

    @Option(parsing: .unconditional, help: "Events in the sliding window.")
    var window: Int = 10_000

    @Option(parsing: .unconditional, help: "Events between evaluations.")
    var step: Int = 5_000

    @Option(parsing: .unconditional, help: "Bins per numeric feature.")
    var bins: Int = 10

    @Option(help: "Comma-separated features to watch (default: every feature of the first event).")
    var features: String?

    @Flag(help: "Print one JSON object per evaluation: feature, start, end, psi, state.")
    var json = false

    @OptionGroup var alerts: AlertOptions

    func report(_ line: String) { alerts.report(line) }

    @OptionGroup var global: GlobalOptions

    @OptionGroup var display: ProgressOptions

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

    func run() async throws {
        let logger = global.bootstrapLogging()
        let (raiser, kafkaSink) = try alerts.makeRaiser(logger: logger)
        let source = try openInput(file)
        let decoder = EventDecoder(configuration: try fields.decoderConfiguration())
        let watched = features?.split(separator: ",").map(String.init)
        let pipeline = try reportingPipelineErrors {
            try FeatureDriftPipeline(features: watched, configuration: psiConfiguration, raiser: raiser)
        }
        pipeline.onRejection = { [unowned pipeline] record, error in
            if pipeline.rejected <= 10 { Output.error("line \(record): rejected: \(error)") }
        }
        let json = json
        let progress = display.progress("drift", total: nil, unit: "records")
        pipeline.onEvaluation = { [self] evaluation in
            progress.finish()  // the evaluation's line replaces the progress line, which comes back after it
            if json {
                let object: [String: Any] = [
                    "feature": evaluation.feature, "start": evaluation.evaluation.start, "end": evaluation.evaluation.end,
                    "psi": evaluation.evaluation.psi, "state": evaluation.state,
                ]
                if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                    report(String(decoding: data, as: UTF8.self))
                }
            } else {
                report(
                    "\(evaluation.feature.padding(toLength: 20, withPad: " ", startingAt: 0)) [\(evaluation.evaluation.start), \(evaluation.evaluation.end))  psi \(String(format: "%.6f", evaluation.evaluation.psi))  \(evaluation.state)")
            }
        }
        try reportingPipelineErrors { try pipeline.run(source, decoder: decoder, onRecord: { progress.advance() }) }
        progress.finish()
        if pipeline.rejected > 10 { Output.error("(\(pipeline.rejected) lines rejected in all; the first 10 shown)") }
        for (feature, kind) in pipeline.restarted {
            Output.error("note: feature '\(feature)' began with a value of another kind; watched as \(kind.rawValue) from its first \(kind.rawValue) values")
        }
        let unevaluated = pipeline.unevaluated
        for feature in unevaluated { Output.error("\(watched == nil ? "warning" : "error"): \(feature)") }
        if !json {
            report("\(pipeline.evaluations) evaluations of \(pipeline.featureCount) features, \(pipeline.alertEpisodes) alerts, \(pipeline.rejected) rejected lines")
        }
        try alerts.finish(raiser, kafkaSink)
        // A feature asked for by name and never watched, or lines not read, is not a clean run.
        if pipeline.rejected > 0 || (watched != nil && !unevaluated.isEmpty) { throw ExitCode(65) }
    }
}
