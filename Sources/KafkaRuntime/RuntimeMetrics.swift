public import Prometheus

/// The runtime's Prometheus metrics, in one swift-prometheus registry that the drift gauges and alert counters
/// (``DriftMetrics``) share and that `GET /metrics` emits. Every name starts with `streamlearn_` and carries the
/// job's name as `job_name` (Prometheus' own `job` label names the scrape job).
///
/// The loop keeps counts of its own and hands them over with ``flush(_:)`` a few times a second, so the hot path
/// pays no lock per message; latencies are recorded as they happen.
public final class RuntimeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let job: String
    /// Time from a message's arrival to its answer being handed to the producer.
    let scoreLatency: DurationHistogram
    /// Time from a feedback message's arrival to its being learned (or held, when it came before its event).
    let learnLatency: DurationHistogram
    /// `POST /score`: time from the request's body to its answer.
    package let httpScoreLatency: DurationHistogram

    static let latencyBuckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
        .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
    ]

    public init(job: String, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.job = job
        scoreLatency = registry.makeDurationHistogram(
            descriptor: Self.name("score_latency", unit: "seconds", "Time from an input message's arrival to its answer"),
            labels: [("job_name", job)], buckets: Self.latencyBuckets)
        learnLatency = registry.makeDurationHistogram(
            descriptor: Self.name("learn_latency", unit: "seconds", "Time from a feedback message's arrival to its being learned"),
            labels: [("job_name", job)], buckets: Self.latencyBuckets)
        httpScoreLatency = registry.makeDurationHistogram(
            descriptor: Self.name("http_score_latency", unit: "seconds", "Time to answer one POST /score"),
            labels: [("job_name", job)], buckets: Self.latencyBuckets)
    }

    static func name(_ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "streamlearn", metricName: name, unitName: unit, helpText: help)
    }

    /// What the loop counted since its last flush, and the levels it sees now.
    struct Delta {
        /// Messages read, by input topic.
        var messagesIn: [String: Int] = [:]
        /// Messages written, by output topic.
        var messagesOut: [String: Int] = [:]
        /// Messages dead-lettered, by reason.
        var deadLetters: [String: Int] = [:]
        var transactions = 0
        /// Transactions the brokers aborted (their outputs never show; the job re-learns and sends them again).
        var transactionsAborted = 0
        var snapshots = 0
        var relearned = 0
        /// Levels.
        var lag: [(topic: String, partition: Int32, lag: Int64)] = []
        var snapshotAgeSeconds: Double?
        var joinWaiting = 0
        var heldFeedback = 0
        var modelVersion = 0
        var partitions = 0
        /// Keyed aggregates' levels (`aggregate_keys`, `aggregate_late`, …), when the job has them.
        var aggregates: [String: Int] = [:]
        /// Each model's recent figures (`roc_auc`, `rolling_f1`, …: a job's ``StreamJob/recentMetrics``), by model
        /// name (the job's, or `NAME-pN` per task in a group).
        var quality: [(model: String, figures: [(String, Double)])] = []

        /// Adds `other`'s counts (not its levels).
        mutating func merge(_ other: Delta) {
            messagesIn.merge(other.messagesIn, uniquingKeysWith: +)
            messagesOut.merge(other.messagesOut, uniquingKeysWith: +)
            deadLetters.merge(other.deadLetters, uniquingKeysWith: +)
            transactions += other.transactions
            transactionsAborted += other.transactionsAborted
            snapshots += other.snapshots
            relearned += other.relearned
        }
    }

    func flush(_ delta: Delta) {
        for (topic, count) in delta.messagesIn where count > 0 {
            registry.makeCounter(
                descriptor: Self.name("messages_in", unit: "total", "Input messages read, by topic"),
                labels: [("job_name", job), ("topic", topic)]
            ).increment(by: Int64(count))
        }
        for (topic, count) in delta.messagesOut where count > 0 {
            registry.makeCounter(
                descriptor: Self.name("messages_out", unit: "total", "Messages written (answers, alerts, dead letters, policies), by topic"),
                labels: [("job_name", job), ("topic", topic)]
            ).increment(by: Int64(count))
        }
        for (reason, count) in delta.deadLetters where count > 0 {
            registry.makeCounter(
                descriptor: Self.name("dead_letters", unit: "total", "Messages sent to the dead-letter topic, by reason"),
                labels: [("job_name", job), ("reason", reason)]
            ).increment(by: Int64(count))
        }
        counter("transactions", "Kafka transactions committed").increment(by: Int64(delta.transactions))
        counter("transactions_aborted", "Kafka transactions the brokers aborted").increment(by: Int64(delta.transactionsAborted))
        counter("snapshots", "Snapshots written").increment(by: Int64(delta.snapshots))
        counter("relearned", "Messages learned again after a restart or a rebalance, their answers already sent")
            .increment(by: Int64(delta.relearned))
        for entry in delta.lag {
            registry.makeGauge(
                descriptor: Self.name("consumer_lag", unit: "messages", "Messages in the partition not processed yet"),
                labels: [("job_name", job), ("topic", entry.topic), ("partition", String(entry.partition))]
            ).set(Double(entry.lag))
        }
        if let age = delta.snapshotAgeSeconds {
            gauge("snapshot_age", unit: "seconds", "Time since the newest snapshot was written").set(age)
        }
        gauge("join_waiting", "Events or decisions waiting for their feedback").set(Double(delta.joinWaiting))
        gauge("join_early", "Feedback messages waiting for the event or decision they are about").set(Double(delta.heldFeedback))
        gauge("model_version", "Updates the model has learned (the model_version in answers)").set(Double(delta.modelVersion))
        gauge("assigned_partitions", "Input partitions this instance reads").set(Double(delta.partitions))
        for (name, value) in delta.aggregates {
            gauge(name, Self.aggregateHelp[name] ?? "Keyed aggregates").set(Double(value))
        }
        for (model, figures) in delta.quality {
            for (name, value) in figures where value.isFinite {
                let rolling = name.hasPrefix("rolling_")
                let figure = rolling ? String(name.dropFirst("rolling_".count)) : name
                guard let help = Self.qualityHelp[figure] else { continue }
                registry.makeGauge(
                    descriptor: Self.name("model_\(figure)", help),
                    labels: [("job_name", job), ("model", model), ("window", rolling ? "rolling" : "cumulative")]
                ).set(value)
            }
        }
    }

    /// The model figures exported as gauges (`streamlearn_model_NAME`, by `window`), with their help.
    static let qualityHelp = [
        "roc_auc": "ROC-AUC of the scores against their labels",
        "average_precision": "Average precision (PR-AUC) of the scores against their labels",
        "recall_at_1pct_fpr": "Recall at a 1% false-positive rate",
        "f1": "F1 of the decisions against their labels",
        "precision": "Precision of the decisions",
        "recall": "Recall of the decisions",
        "log_loss": "Log loss of the scores",
        "events": "Labelled events the figures cover",
    ]

    /// `snapshots.every_seconds`, so that an alert can compare `streamlearn_snapshot_age_seconds` with it.
    func setSnapshotInterval(seconds: Double) {
        gauge("snapshot_interval", unit: "seconds", "snapshots.every_seconds: how often the job snapshots").set(seconds)
    }

    /// The phase the job is in, as `/readyz` tells it: `streamlearn_ready` (1 when answering) and one
    /// `streamlearn_phase` series per phase, 1 for the current one. Set at each scrape, so a loop that waits
    /// (for the schema registry, say) shows as not ready.
    package func setPhase(_ current: RuntimeStatus.Phase) {
        gauge("ready", "1 when the job answers (phase running), 0 otherwise").set(current == .running ? 1.0 : 0.0)
        for phase in RuntimeStatus.Phase.allCases {
            registry.makeGauge(
                descriptor: Self.name("phase", "The job's phase: 1 for the current one"),
                labels: [("job_name", job), ("phase", phase.rawValue)]
            ).set(phase == current ? 1.0 : 0.0)
        }
    }

    static let aggregateHelp = [
        "aggregate_keys": "Keys the keyed aggregates hold",
        "aggregate_late": "Events later than features.allowed_lateness, scored against the state as it was and not added",
        "aggregate_evicted": "Keys evicted at features.capacity",
        "aggregate_expired": "Keys dropped after being idle longer than their longest window",
    ]

    package func countScoreRequest(status: Int) {
        registry.makeCounter(
            descriptor: Self.name("http_score_requests", unit: "total", "POST /score requests, by HTTP status"),
            labels: [("job_name", job), ("status", String(status))]
        ).increment()
    }

    private func counter(_ name: String, _ help: String) -> Counter {
        registry.makeCounter(descriptor: Self.name(name, unit: "total", help), labels: [("job_name", job)])
    }

    private func gauge(_ name: String, unit: String = "", _ help: String) -> Gauge {
        registry.makeGauge(descriptor: Self.name(name, unit: unit, help), labels: [("job_name", job)])
    }

    /// The registry in Prometheus' text format.
    public func text() -> String { registry.emitToString() }
}
