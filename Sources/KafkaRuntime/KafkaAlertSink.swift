public import Alerting
import Foundation
public import Logging
import StreamKafka

/// Publishes each alert to a Kafka topic (the ops feed), keyed by alert id, and waits for its delivery.
public final class KafkaAlertSink: AlertSink {
    public let topic: String
    /// How long one alert may take to be confirmed by the broker (librdkafka's `message.timeout.ms`; connecting
    /// included). Default 10 s.
    public let timeout: Duration
    private let producer: KafkaProducer
    public var name: String { "kafka:\(topic)" }

    public init(
        bootstrapServers: String, topic: String, timeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "streamlearn.alerts")
    ) throws {
        self.topic = topic
        self.timeout = timeout
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrapServers)
        configuration.messageTimeout = timeout
        producer = try KafkaProducer(configuration: configuration, logger: logger)
    }

    public func deliver(_ alert: Alert) throws {
        let before = producer.deliveryReport
        try producer.send(topic: topic, key: alert.id, value: alert.jsonLine())
        try producer.flush(timeout: timeout)
        let after = producer.deliveryReport
        guard after.failed == before.failed else {
            throw AlertSinkError(sink: name, reason: "the broker did not take the alert: \(after.failures.last.map { "\($0)" } ?? "unknown error")")
        }
    }

    /// Flushes and closes the producer.
    public func close() throws {
        _ = try producer.close(timeout: .seconds(10))
    }
}
