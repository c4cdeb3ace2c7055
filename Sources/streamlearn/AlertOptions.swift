import Alerting
import StreamPipeline
import KafkaRuntime
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

    @Option(parsing: .unconditional, help: "Seconds a sink may take for one alert: Alertmanager's request, the broker's confirmation (each of 3 attempts; default 5).")
    var alertTimeout: Double?

    @Option(help: "Model name in alerts.")
    var modelName: String = "streamlearn"

    @Option(help: "Model version in alerts.")
    var modelVersion: String = "0"

    func validate() throws {
        if (alertsTopic == nil) != (brokers == nil) {
            throw ValidationError("--alerts-topic and --brokers go together")
        }
        if let alertTimeout {
            guard alertTimeout > 0, alertTimeout.isFinite else {
                throw ValidationError("--alert-timeout must be positive, got \(alertTimeout)")
            }
            guard alertsTopic != nil || alertmanager != nil else {
                throw ValidationError("--alert-timeout applies to --alerts-topic and --alertmanager, and neither is given")
            }
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

    /// The alert raiser over every sink given (none: alerts go nowhere), with the metrics of --metrics-file, and
    /// the Kafka sink to close at the end.
    func makeRaiser(logger: Logger) throws -> (AlertRaiser, KafkaAlertSink?) {
        var sinks: [any AlertSink] = []
        var kafkaSink: KafkaAlertSink?
        if let brokers, let alertsTopic {
            let sink = try KafkaAlertSink(
                bootstrapServers: brokers, topic: alertsTopic, timeout: .milliseconds(Int64((alertTimeout ?? 5) * 1000)), logger: logger)
            kafkaSink = sink
            sinks.append(sink)
        }
        if let alertmanager, let url = URL(string: alertmanager) {
            sinks.append(AlertmanagerSink(base: url, timeout: .milliseconds(Int64((alertTimeout ?? 5) * 1000))))
        }
        if alertsStdout { sinks.append(StandardOutputSink()) }
        let file = alertsFile.map { JSONLinesFileSink(path: $0) }
        if let file { sinks.append(file) }
        let dispatcher = AlertDispatcher(sinks: sinks, fallback: file, logger: logger)
        let raiser = AlertRaiser(
            model: model, dispatcher: dispatcher, metrics: metricsFile.map { _ in DriftMetrics(model: modelName) },
            metricsFile: metricsFile)
        raiser.warn = { Output.error("warning: \($0)") }
        return (raiser, kafkaSink)
    }

    /// Delivers what is still queued (within 10 s), closes the Kafka sink; exit 1 when some alert could not be
    /// delivered after retries (it is in --alerts-file or the log).
    func finish(_ raiser: AlertRaiser, _ kafkaSink: KafkaAlertSink?) throws {
        let counts = raiser.dispatcher?.finish(within: .seconds(10))
        // A sink still delivering keeps its producer: it is left to the end of the process, not closed under it.
        if counts?.stopped ?? true, let kafkaSink {
            do {
                try kafkaSink.close()
            } catch {
                Output.error("warning: closing the alerts producer: \(error)")
            }
        }
        if let counts, counts.failed + counts.overflowed + counts.abandoned > 0 {
            Output.error(
                "\(counts.failed + counts.overflowed + counts.abandoned) alert deliveries failed after retries or were not "
                    + "delivered in time (see the log and --alerts-file)")
            throw ExitCode(1)
        }
    }
}
