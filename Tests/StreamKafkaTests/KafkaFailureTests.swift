import Logging
import StreamKafka
import Synchronization
import Testing

@Suite("Failures surface as errors")
struct KafkaFailureTests {
    @Test("An undeliverable produce (brokers down, short message timeout) is reported, with its payload")
    func undeliverableProduce() throws {
        // A private broker: setting brokers down must not disturb the shared one.
        let broker = try EmbeddedBroker(brokers: 1, logger: TestBroker.quietLogger)
        defer { broker.close() }
        let topic = TestBroker.unique("down")
        try broker.createTopic(topic, partitions: 2)
        let producer = try TestBroker.producer(broker.bootstrapServers) { $0.messageTimeout = .seconds(1) }
        try broker.setBrokerDown()
        for index in 0..<10 {
            try producer.send(topic: topic, key: "k\(index)", value: "v\(index)")
        }
        let error = #expect(throws: KafkaError.self) { try producer.close(timeout: .seconds(10)) }
        #expect(error?.code == .deliveryFailed)
        #expect(error?.message.contains("10 of 10") == true)
        let report = producer.deliveryReport
        #expect(report.failed == 10)
        #expect(report.delivered == 0)
        #expect(Set(report.failures.map { String(decoding: $0.value, as: UTF8.self) }) == Set((0..<10).map { "v\($0)" }))
        #expect(report.failures.allSatisfy { $0.error.code == .deliveryFailed && $0.topic == topic })
    }

    @Test("A broker that comes back up delivers what was queued")
    func brokerRecovers() throws {
        let broker = try EmbeddedBroker(brokers: 1, logger: TestBroker.quietLogger)
        defer { broker.close() }
        let topic = TestBroker.unique("recover")
        try broker.createTopic(topic, partitions: 1)
        let producer = try TestBroker.producer(broker.bootstrapServers) { $0.messageTimeout = .seconds(20) }
        try broker.setBrokerDown()
        for index in 0..<5 { try producer.send(topic: topic, key: nil, value: "v\(index)") }
        producer.poll()
        try broker.setBrokerUp()
        let report = try producer.close(timeout: .seconds(20))
        #expect(report.delivered == 5)
        #expect(report.failed == 0)
    }

    @Test("Unreachable brokers: an error within the timeout, not a hang")
    func unreachableBrokers() throws {
        let consumer = try TestBroker.consumer(group: "unreachable", bootstrap: "127.0.0.1:1")
        defer { try? consumer.close() }
        let started = ContinuousClock.now
        let error = #expect(throws: KafkaError.self) { try consumer.checkBrokersReachable(timeout: .seconds(1)) }
        #expect(error?.code == .brokersUnreachable)
        #expect(error?.message.contains("127.0.0.1:1") == true)
        // A generous bound that only a hang would break.
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test("Mock request errors: a produce that fails transiently is retried and delivered")
    func transientProduceErrors() throws {
        let broker = try EmbeddedBroker(brokers: 1, logger: TestBroker.quietLogger)
        defer { broker.close() }
        let topic = TestBroker.unique("transient")
        try broker.createTopic(topic, partitions: 1)
        try broker.pushRequestErrors(.produce, [.notEnoughReplicas, .requestTimedOut])
        let producer = try TestBroker.producer(broker.bootstrapServers)
        try producer.send(topic: topic, key: nil, value: "survives")
        let report = try producer.close(timeout: .seconds(20))
        #expect(report.delivered == 1)
    }
}

@Suite("Configuration")
struct KafkaConfigurationTests {
    @Test("An unknown key is thrown with the key's name")
    func unknownKey() {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: "127.0.0.1:9092", groupID: "g")
        configuration.properties["no.such.property"] = "1"
        let error = #expect(throws: KafkaError.self) { try KafkaConsumer(configuration: configuration) }
        #expect(error?.code == .unknownConfigurationKey)
        #expect(error?.key == "no.such.property")
        #expect(error?.message.contains("no.such.property") == true)
    }

    @Test("An invalid value is thrown with the key and librdkafka's reason")
    func invalidValue() {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:9092")
        configuration.properties["acks"] = "sometimes"
        let error = #expect(throws: KafkaError.self) { try KafkaProducer(configuration: configuration) }
        #expect(error?.code == .configuration)
        #expect(error?.key == "acks")
        #expect(error?.message.contains("'acks'") == true)
    }

    @Test("Secrets are redacted from descriptions and errors")
    func secretsRedacted() {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: "b:9092", groupID: "g")
        configuration.properties["sasl.password"] = "hunter2"
        configuration.properties["ssl.key.password"] = "s3cret"
        #expect(!configuration.description.contains("hunter2"))
        #expect(!configuration.description.contains("s3cret"))
        #expect(configuration.description.contains("sasl.password=[redacted]"))
        // A refused secret value is not echoed either.
        configuration.properties["sasl.mechanisms"] = "PLAIN"
        configuration.properties["security.protocol"] = "no-such-protocol-hunter2"
        let error = #expect(throws: KafkaError.self) { try KafkaConsumer(configuration: configuration) }
        #expect(error?.key == "security.protocol")
        #expect(isSecretKafkaProperty("sasl.password"))
        #expect(isSecretKafkaProperty("sasl.oauthbearer.client.secret"))
        #expect(!isSecretKafkaProperty("bootstrap.servers"))
    }

    @Test("Pass-through properties win over typed ones; auto-commit is off by default")
    func passThroughWins() {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: "b:9092", groupID: "g")
        #expect(configuration.librdkafkaProperties.contains { $0 == ("enable.auto.commit", "false") })
        #expect(configuration.librdkafkaProperties.contains { $0 == ("enable.auto.offset.store", "false") })
        configuration.properties["session.timeout.ms"] = "6000"
        let timeouts = configuration.librdkafkaProperties.filter { $0.key == "session.timeout.ms" }
        #expect(timeouts.count == 1)
        #expect(timeouts.first?.value == "6000")
        let producer = KafkaProducerConfiguration(bootstrapServers: "b:9092")
        #expect(producer.librdkafkaProperties.contains { $0 == ("enable.idempotence", "true") })
    }

    @Test("librdkafka's log lines go to swift-log with their facility")
    func logLinesRouted() throws {
        let handler = CapturingLogHandler()
        var logger = Logger(label: "capture") { _ in handler }
        logger.logLevel = .debug
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.properties["debug"] = "broker"
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        _ = try? producer.checkBrokersReachable(timeout: .milliseconds(500))
        _ = try? producer.close(timeout: .zero)
        let entries = handler.entries.withLock { $0 }
        #expect(entries.contains { $0.metadata["librdkafka.facility"] != nil && $0.message.contains("127.0.0.1:1") })
    }
}
