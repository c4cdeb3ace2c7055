import Foundation
public import Prometheus
import StreamCore

/// Prometheus gauges for every drift value and counters of alerts, in swift-prometheus's registry; written as a
/// text-format file (node_exporter's textfile collector reads it) with ``write(to:)``.
///
/// - `streamlearn_drift_psi{model, feature}`: the latest PSI of each watched feature (or `score`).
/// - `streamlearn_drift_f1{model}` and `streamlearn_drift_f1_baseline{model}`: the rolling F1 and its baseline.
/// - `streamlearn_alerts_total{model, kind, state}`: alerts sent.
public final class DriftMetrics: Sendable {
    /// The registry the gauges and counters live in (shared with the runtime's metrics in `streamlearn run`).
    public let registry: PrometheusCollectorRegistry
    public let model: String

    public init(model: String, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.model = model
        self.registry = registry
    }

    public func recordPSI(_ value: Double, feature: String) {
        registry.makeGauge(
            descriptor: Self.descriptor("psi", "Latest population stability index of a feature's window against its reference"),
            labels: [("model", model), ("feature", feature)]
        ).set(value)
    }

    public func recordF1(_ value: Double, baseline: Double) {
        registry.makeGauge(descriptor: Self.descriptor("f1", "Rolling F1 of the model"), labels: [("model", model)])
            .set(value)
        registry.makeGauge(
            descriptor: Self.descriptor("f1_baseline", "F1 over the reference period"), labels: [("model", model)]
        ).set(baseline)
    }

    public func recordAlert(_ alert: Alert) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "streamlearn", metricName: "alerts", unitName: "total", helpText: "Alerts sent, by kind and state"),
            labels: [("model", model), ("kind", alert.kind), ("state", alert.state.rawValue)]
        ).increment()
    }

    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "streamlearn", subsystem: "drift", metricName: name, unitName: "", helpText: help)
    }

    /// The metrics in Prometheus text format.
    public func text() -> String { registry.emitToString() }

    /// Writes the text format to `path` atomically (temporary file, fsync, rename).
    public func write(to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try DurableFile.write(Data(text().utf8), to: path, directory: directory.isEmpty ? "." : directory)
    }
}
