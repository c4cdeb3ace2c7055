import Alerting
import ArgumentParser
import Foundation
import Logging

/// Where alerts go, shared by `drift` and `learn`.
struct AlertOptions: ParsableArguments {
    @Option(help: "Kafka bootstrap servers for --alerts-topic.")
    var brokers: String?

    @Option(help: "Publish alerts to this Kafka topic (needs --brokers): the ops feed.")
    var alertsTopic: String?

    @Option(help: "Append alerts to this JSON Lines file (also the fallback of failing sinks).")
    var alertsFile: String?

    @Option(help: "Post alerts to this Prometheus Alertmanager (e.g. http://localhost:9093).")
    var alertmanager: String?

    @Flag(help: "Print alerts on stdout, one JSON object per line (prefixed by nothing; other output goes to stderr).")
    var alertsStdout = false

    @Option(help: "Keep Prometheus gauges of every PSI and F1 value (and alert counters) in this text-format file.")
    var metricsFile: String?

    @Option(help: "Model name in alerts.")
    var modelName: String = "streamlearn"

    @Option(help: "Model version in alerts.")
    var modelVersion: String = "0"

    func validate() throws {
        if (alertsTopic == nil) != (brokers == nil) {
            throw ValidationError("--alerts-topic and --brokers go together")
        }
        if let alertmanager, URL(string: alertmanager)?.scheme?.hasPrefix("http") != true {
            throw ValidationError("--alertmanager must be an http(s) URL, got '\(alertmanager)'")
        }
    }

    var model: Alert.Model { Alert.Model(name: modelName, version: modelVersion) }

    /// A line of the command's own output: stdout, or stderr when stdout carries the alerts.
    func report(_ line: String) {
        if alertsStdout { Output.error(line) } else { Output.line(line) }
    }

    /// The metrics to keep, when --metrics-file is given.
    func makeMetrics() -> DriftMetrics? { metricsFile.map { _ in DriftMetrics(model: modelName) } }

    /// Rewrites the metrics file (atomically); a failure is reported once per call, never fatal.
    func publish(_ metrics: DriftMetrics?) {
        guard let metrics, let metricsFile else { return }
        do {
            try metrics.write(to: metricsFile)
        } catch {
            Output.error("warning: cannot write --metrics-file: \(error)")
        }
    }

    /// The dispatcher over every sink given (none: alerts go nowhere), and the Kafka sink to close at the end.
    func makeDispatcher(logger: Logger) throws -> (AlertDispatcher, KafkaAlertSink?) {
        var sinks: [any AlertSink] = []
        var kafkaSink: KafkaAlertSink?
        if let brokers, let alertsTopic {
            let sink = try KafkaAlertSink(bootstrapServers: brokers, topic: alertsTopic, logger: logger)
            kafkaSink = sink
            sinks.append(sink)
        }
        if let alertmanager, let url = URL(string: alertmanager) { sinks.append(AlertmanagerSink(base: url)) }
        if alertsStdout { sinks.append(StandardOutputSink()) }
        let file = alertsFile.map { JSONLinesFileSink(path: $0) }
        if let file { sinks.append(file) }
        return (AlertDispatcher(sinks: sinks, fallback: file, logger: logger), kafkaSink)
    }

    /// Closes the Kafka sink; exit 1 when some alert could not be delivered after retries.
    func finish(_ dispatcher: AlertDispatcher, _ kafkaSink: KafkaAlertSink?) throws {
        try kafkaSink?.close()
        if dispatcher.counts.failed > 0 {
            Output.error("\(dispatcher.counts.failed) alert deliveries failed after retries (see the log and --alerts-file)")
            throw ExitCode(1)
        }
    }
}
