import StreamCore
import ArgumentParser
import Foundation
import Logging
import Simulation
import StreamKafka

struct BenchKafka: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Produce and batch-consume generated ~180-byte transactions; report messages/s.",
        discussion: """
            Messages are spread evenly over the partitions (message i goes to partition i mod P) and keyed by id. \
            Without --brokers it starts an embedded broker (the mock keeps ~5 MiB per partition: 1M messages need \
            about 64 partitions). The consume phase assigns every partition from offset 0 and polls batches.

            Examples:
              make bench-kafka
              streamlearn-bench kafka --messages 200000 --partitions 16 --json
            """
    )

    @Option(help: "How many messages.")
    var messages: Int = 1_000_000

    @Option(help: "Partitions of the benchmark topic.")
    var partitions: Int = 64

    @Option(help: "The most messages one poll hands out.")
    var batchSize: Int = 4096

    @Option(help: "Use this cluster instead of an embedded broker (the topic must exist or be auto-created).")
    var brokers: String?

    @Flag(help: "Print one JSON object.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard messages >= 1 else { throw ValidationError("--messages must be at least 1, got \(messages)") }
        guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1, got \(partitions)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        let topic = "bench-kafka-\(UInt32.random(in: 0...UInt32.max))"
        var embedded: EmbeddedBroker?
        if brokers == nil {
            embedded = try EmbeddedBroker(brokers: 1, topics: [(topic, partitions)], logger: logger)
        }
        let bootstrap = brokers ?? embedded!.bootstrapServers
        let result = try await runOnDedicatedThread { [self] in
            try measure(bootstrap: bootstrap, topic: topic, logger: logger)
        }
        embedded?.close()
        if json {
            let object: [String: Any] = [
                "messages": messages, "partitions": partitions, "message_bytes": result.averageBytes,
                "produce_messages_per_second": result.produceRate, "consume_messages_per_second": result.consumeRate,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Output.line(String(decoding: data, as: UTF8.self))
        } else {
            Output.line("messages      \(messages) of \(result.averageBytes) bytes over \(partitions) partitions")
            Output.line("produce       \(Int(result.produceRate)) msgs/s")
            Output.line("consume       \(Int(result.consumeRate)) msgs/s (batch poll, up to \(batchSize) per batch)")
        }
    }

    struct Result: Sendable {
        var averageBytes: Int
        var produceRate: Double
        var consumeRate: Double
    }

    private func measure(bootstrap: String, topic: String, logger: Logger) throws -> Result {
        // Generate first so that only Kafka is timed.
        let (payload, bounds) = TransactionGenerator.contiguous(count: messages, seed: 1)

        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: bootstrap)
        producerConfiguration.properties["queue.buffering.max.messages"] = "1000000"
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        try producer.checkBrokersReachable(timeout: .seconds(10))
        let produceStart = ContinuousClock.now
        try payload.withUnsafeBytes { bytes in
            for (index, range) in bounds.enumerated() {
                var key = index
                try withUnsafeBytes(of: &key) { keyBytes in
                    try producer.send(
                        topic: topic, partition: Int32(index % partitions), key: keyBytes,
                        value: UnsafeRawBufferPointer(rebasing: bytes[range]))
                }
                if index & 1023 == 0 { producer.poll() }
            }
        }
        try producer.close(timeout: .seconds(120))
        let produceSeconds = (ContinuousClock.now - produceStart).seconds

        var consumerConfiguration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: "\(topic)-reader")
        consumerConfiguration.maxBatchSize = batchSize
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        defer { try? consumer.close() }
        try consumer.assign((0..<partitions).map { TopicPartitionOffset(topic, Int32($0), offset: -2) })  // beginning
        var received = 0
        var checksum = 0
        let consumeStart = ContinuousClock.now
        var idleSince = consumeStart
        while received < messages {
            let got = try consumer.poll(timeout: .milliseconds(100)) { batch in
                for message in batch {
                    checksum &+= message.value.count &+ Int(message.value.first ?? 0)
                }
            }
            received += got
            if got == 0, ContinuousClock.now - idleSince > .seconds(30) {
                throw KafkaError(.timedOut, "consumed only \(received) of \(messages) messages")
            } else if got > 0 {
                idleSince = .now
            }
        }
        let consumeSeconds = (ContinuousClock.now - consumeStart).seconds
        precondition(checksum != 0)
        return Result(
            averageBytes: payload.count / messages, produceRate: Double(messages) / produceSeconds,
            consumeRate: Double(received) / consumeSeconds)
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}

/// `count` divided by the fastest of `passes` runs of `body`, per second: the first pass also warms buffers, and
/// the machine's noise only ever slows a pass.
func bestRate(of count: Int, passes: Int, _ body: () throws -> Void) rethrows -> Double {
    var best = Duration.seconds(1_000_000)
    for _ in 0..<passes {
        let start = ContinuousClock.now
        try body()
        best = min(best, ContinuousClock.now - start)
    }
    return Double(count) / best.seconds
}
