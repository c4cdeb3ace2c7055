import Foundation
import Logging
import StreamKafka
import Synchronization

/// The one embedded broker that the Kafka tests share; each test uses its own topics and groups.
/// Tests that inject faults (brokers down) start a private broker instead, so that they cannot disturb others.
enum TestBroker {
    static let shared: EmbeddedBroker = {
        do {
            return try EmbeddedBroker(brokers: 3, logger: quietLogger)
        } catch {
            fatalError("cannot start the embedded broker for tests: \(error)")
        }
    }()

    static var bootstrap: String { shared.bootstrapServers }

    /// A unique topic or group name for one test.
    static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// librdkafka's warnings would flood the test log; errors still show.
    static let quietLogger: Logger = {
        var logger = Logger(label: "test.kafka")
        logger.logLevel = .error
        return logger
    }()

    static func producer(
        _ bootstrap: String = TestBroker.bootstrap, configure: (inout KafkaProducerConfiguration) -> Void = { _ in }
    ) throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrap)
        configure(&configuration)
        return try KafkaProducer(configuration: configuration, logger: quietLogger)
    }

    static func consumer(
        group: String, bootstrap: String = TestBroker.bootstrap,
        configure: (inout KafkaConsumerConfiguration) -> Void = { _ in }
    ) throws -> KafkaConsumer {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: group)
        configuration.autoOffsetReset = .earliest
        configure(&configuration)
        return try KafkaConsumer(configuration: configuration, logger: quietLogger)
    }
}

/// A log handler that keeps every entry, to check what reaches swift-log.
final class CapturingLogHandler: LogHandler, Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    let entries = Mutex<[Entry]>([])
    var logLevel: Logger.Level {
        get { .debug }
        set {}
    }
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(event: LogEvent) {
        let entry = Entry(
            level: event.level, message: "\(event.message)",
            metadata: (event.metadata ?? [:]).mapValues { "\($0)" })
        entries.withLock { $0.append(entry) }
    }
}

/// A consumed message's essentials, for comparing what was read.
struct Read: Hashable {
    var partition: Int32
    var offset: Int64
    var value: String
}

extension KafkaConsumer {
    /// Polls until `count` messages arrived or `limit` passed without progress.
    ///
    /// With `commit`, each batch's offsets are stored as processed and committed; a commit refused for a
    /// retriable reason (a rebalance in progress) is retried after the next poll, and a revoke commits what was
    /// stored before the partitions move. It returns only once everything read is committed, which may take polls
    /// that return a few more messages than `count` (all of them are returned: none is dropped).
    func read(
        _ count: Int, limit: Duration = .seconds(60), commit: Bool = false
    ) throws -> [Read] {
        var reads: [Read] = []
        var needsCommit = false
        var lastProgress = ContinuousClock.now
        while ContinuousClock.now - lastProgress < limit {
            if reads.count >= count && !needsCommit { break }
            var processed: [TopicPartitionOffset] = []
            let got = try poll(maxMessages: max(count - reads.count, 1), timeout: .milliseconds(100)) { batch in
                for message in batch {
                    reads.append(Read(
                        partition: message.partition, offset: message.offset,
                        value: String(decoding: message.value, as: UTF8.self)))
                }
                processed = batch.nextOffsets
            }
            if got > 0 { lastProgress = .now }
            guard commit else { continue }
            if !processed.isEmpty {
                try store(processed)
                needsCommit = true
            }
            if needsCommit {
                do {
                    try commitStored()
                    needsCommit = false
                } catch {
                    if !error.isRetriable { throw error }
                }
            }
        }
        return reads
    }
}
