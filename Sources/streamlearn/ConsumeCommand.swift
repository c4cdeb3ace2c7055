import StreamCore
import ArgumentParser
import Foundation
import Logging
import StreamKafka

struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Print a topic's message values as lines, committing offsets after they are printed.",
        discussion: """
            Stops after --max messages, or when no message arrived for --timeout seconds (counted from the group's \
            first assignment, which may take up to 10 s more). If no broker answers within --timeout it exits 1 \
            with an error instead of waiting.

            Examples:
              streamlearn consume --brokers 127.0.0.1:9092 --topic events --group audit --from-beginning --max 10
              streamlearn consume --brokers "$B" --topic alerts --group ops --timeout 60 | jq .
            """
    )

    @Option(help: "Bootstrap servers, host:port[,host:port…].")
    var brokers: String

    @Option(help: "Topic to read.")
    var topic: String

    @Option(help: "Consumer group; offsets are committed for it.")
    var group: String

    @Option(parsing: .unconditional, help: "Stop after this many messages.")
    var max: Int?

    @Flag(help: "Start from the oldest stored message when the group has no committed offset (default: only new ones).")
    var fromBeginning = false

    @Option(parsing: .unconditional, help: "Seconds without a message after which to stop; also the wait for brokers.")
    var timeout: Double = 10

    @Option(name: .customLong("property"), help: "Extra librdkafka property KEY=VALUE (repeatable).")
    var properties: [String] = []

    @Flag(help: "Print each value base64-encoded (binary values: Avro; what `decode --format avro` reads).")
    var base64 = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let max, max < 1 { throw ValidationError("--max must be at least 1, got \(max)") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive, got \(timeout)") }
        _ = try parseProperties(properties)
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        var configuration = KafkaConsumerConfiguration(bootstrapServers: brokers, groupID: group)
        configuration.autoOffsetReset = fromBeginning ? .earliest : .latest
        configuration.properties = try parseProperties(properties)
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        // Joining takes seconds (3 s on Kafka and on the embedded broker), and on the embedded broker up to the
        // session timeout when the group's last member just left; a coordinator that died keeps librdkafka's
        // close waiting as long. Both get the session timeout and a little.
        let grace = configuration.effectiveSessionTimeout + .seconds(3)
        let (count, lost) = try await runOnDedicatedThread { [self] in
            defer { try? consumer.close(timeout: grace) }
            try consumer.checkBrokersReachable(timeout: .seconds(timeout))
            try consumer.subscribe(topics: [topic])
            return try consumeLoop(consumer, joinGrace: grace)
        }
        Output.error("consumed \(count) message(s) from '\(topic)' (group '\(group)')")
        if let lost {
            Output.error("error: \(lost.message)")
            throw ExitCode(1)
        }
    }

    /// librdkafka's `RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN`.
    static let allBrokersDown: Int32 = -187

    /// Consumes until `--max` or idleness; returns the count and, when every broker was down at the end (no
    /// message since), librdkafka's error.
    private func consumeLoop(_ consumer: KafkaConsumer, joinGrace: Duration) throws -> (Int, KafkaError?) {
        // The first assignment gets `joinGrace` before idleness counts.
        let idleLimit = Duration.seconds(timeout)
        var consumed = 0
        var lastMessage = ContinuousClock.now + joinGrace
        var lines: [UInt8] = []
        var offsets: [TopicPartition: Int64] = [:]
        var brokersDown: KafkaError?
        while max.map({ consumed < $0 }) ?? true {
            let remaining = max.map { $0 - consumed }
            let got = try consumer.poll(maxMessages: remaining, timeout: .milliseconds(200)) { batch in
                lines.removeAll(keepingCapacity: true)
                for message in batch {
                    if base64 {
                        lines.append(contentsOf: Data(message.value).base64EncodedData())
                    } else {
                        lines.append(contentsOf: message.value)
                    }
                    lines.append(UInt8(ascii: "\n"))
                    offsets[TopicPartition(topic, message.partition)] = message.offset + 1
                }
                lines.withUnsafeBytes(Output.write)
            }
            for event in consumer.takeEvents() {
                switch event {
                case .assigned:
                    // Joining a group takes seconds; idleness counts from having partitions to read.
                    lastMessage = .now
                case .error(let error) where error.isFatal:
                    throw error
                case .error(let error) where error.librdkafkaCode == Self.allBrokersDown:
                    brokersDown = KafkaError(.brokersUnreachable, "the brokers went away and did not come back: \(error.message)")
                default:
                    break
                }
            }
            if got > 0 {
                brokersDown = nil
                consumed += got
                lastMessage = .now
                // Printed (unbuffered) before committed: a crash in between re-prints, never skips.
                let committed = Result { () throws(KafkaError) in
                    try consumer.commit(offsets.map { TopicPartitionOffset($0.key, offset: $0.value) }, timeout: .seconds(timeout))
                }
                if case .failure(let error) = committed {
                    guard error.code == .timedOut else { throw error }
                    let message = "\(error.message); the messages since the last commit may be printed again by the next run"
                    return (consumed, KafkaError(.timedOut, message))
                }
                offsets.removeAll(keepingCapacity: true)
            } else if ContinuousClock.now >= lastMessage + idleLimit {
                break
            }
        }
        return (consumed, brokersDown)
    }
}
