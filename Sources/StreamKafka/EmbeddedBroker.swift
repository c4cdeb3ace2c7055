public import Logging
import Synchronization

/// A Kafka cluster inside this process: librdkafka's mock cluster, speaking the real Kafka protocol on loopback.
///
/// Any Kafka client can use ``bootstrapServers`` (another process too: `kcat -b 127.0.0.1:PORT -L`).
/// Tests reach the mock's fault controls through ``setBrokerDown(_:)``, ``pushRequestErrors(_:_:)`` and friends.
///
/// - Important: The mock keeps only about 5 MiB (or 100,000 batches) per partition and silently drops the oldest
///   data past that. Give topics enough partitions (for example 32–64 for a million 180-byte messages), key the
///   messages so they spread, and consume while producing.
public final class EmbeddedBroker: Sendable {
    /// The loopback bootstrap list, `127.0.0.1:PORT,…` (librdkafka picks the ports).
    public let bootstrapServers: String
    /// How many brokers the cluster has; broker ids run from 1 to this count.
    public let brokerCount: Int
    private let mock: RDKafkaMockCluster
    private let closed = Atomic<Bool>(false)

    /// Starts a cluster of `brokers` brokers and creates `topics` (name and partition count).
    public init(
        brokers: Int = 1,
        topics: [(name: String, partitions: Int)] = [],
        logger: Logger = Logger(label: "streamlearn.kafka.embedded-broker")
    ) throws(KafkaError) {
        guard brokers >= 1 else { throw KafkaError(.invalidArgument, "brokers must be at least 1, got \(brokers)") }
        // The mock needs an rd_kafka_t to live in; this producer handle is never used to produce.
        let owner = try RDKafkaClient(
            kind: .producer,
            properties: [("client.id", "streamlearn-embedded-broker"), ("log_level", "3")],
            logger: logger)
        do {
            mock = try RDKafkaMockCluster(brokers: brokers, owner: owner)
        } catch {
            owner.destroy()
            throw error
        }
        bootstrapServers = mock.bootstrapServers
        brokerCount = brokers
        for topic in topics {
            try createTopic(topic.name, partitions: topic.partitions)
        }
    }

    /// Creates a topic. Without this, a topic is auto-created on first use with the mock's default partition count.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws(KafkaError) {
        guard partitions >= 1 else {
            throw KafkaError(.invalidArgument, "topic '\(name)' needs at least 1 partition, got \(partitions)")
        }
        guard (1...brokerCount).contains(replicationFactor) else {
            throw KafkaError(
                .invalidArgument,
                "topic '\(name)': replication factor \(replicationFactor) is not within 1...\(brokerCount)")
        }
        try checkOpen()
        try mock.createTopic(name, partitions: partitions, replicationFactor: replicationFactor)
    }

    /// Disconnects a broker (`nil`: all) and refuses new connections. Does not move partition leaders.
    public func setBrokerDown(_ id: Int32? = nil) throws(KafkaError) {
        try checkOpen()
        try mock.setBroker(id ?? -1, up: false)
    }

    /// Lets a broker (`nil`: all) accept connections again.
    public func setBrokerUp(_ id: Int32? = nil) throws(KafkaError) {
        try checkOpen()
        try mock.setBroker(id ?? -1, up: true)
    }

    /// Delays every response of a broker by `delay`.
    public func setRoundTripTime(broker: Int32, _ delay: Duration) throws(KafkaError) {
        try checkOpen()
        try mock.setRoundTripTime(broker: broker, milliseconds: delay.milliseconds)
    }

    /// Makes `broker` the leader of a partition.
    public func setPartitionLeader(topic: String, partition: Int32, broker: Int32) throws(KafkaError) {
        try checkOpen()
        try mock.setPartitionLeader(topic: topic, partition: partition, broker: broker)
    }

    /// The next requests of kind `api` fail with these Kafka error codes, one each, in order.
    public func pushRequestErrors(_ api: KafkaAPIKey, _ errors: [KafkaProtocolError]) throws(KafkaError) {
        try checkOpen()
        mock.pushRequestErrors(apiKey: api.rawValue, errors: errors.map(\.rawValue))
    }

    /// Forgets errors pushed for `api`.
    public func clearRequestErrors(_ api: KafkaAPIKey) throws(KafkaError) {
        try checkOpen()
        mock.clearRequestErrors(apiKey: api.rawValue)
    }

    /// Stops the cluster. Close every client of it first. Idempotent; may block up to about a second.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        mock.destroy()
    }

    private func checkOpen() throws(KafkaError) {
        if closed.load(ordering: .acquiring) { throw KafkaError(.closed, "the embedded broker is closed") }
    }
}

/// A Kafka protocol request type (`ApiKey`), for the embedded broker's fault controls.
public struct KafkaAPIKey: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let produce = KafkaAPIKey(rawValue: 0)
    public static let fetch = KafkaAPIKey(rawValue: 1)
    public static let listOffsets = KafkaAPIKey(rawValue: 2)
    public static let metadata = KafkaAPIKey(rawValue: 3)
    public static let offsetCommit = KafkaAPIKey(rawValue: 8)
    public static let offsetFetch = KafkaAPIKey(rawValue: 9)
    public static let findCoordinator = KafkaAPIKey(rawValue: 10)
    public static let joinGroup = KafkaAPIKey(rawValue: 11)
    public static let heartbeat = KafkaAPIKey(rawValue: 12)
    public static let syncGroup = KafkaAPIKey(rawValue: 14)
    public static let initProducerID = KafkaAPIKey(rawValue: 22)
}

/// A Kafka protocol error code, for the embedded broker's fault controls.
public struct KafkaProtocolError: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let notLeaderForPartition = KafkaProtocolError(rawValue: 6)
    public static let requestTimedOut = KafkaProtocolError(rawValue: 7)
    public static let notCoordinator = KafkaProtocolError(rawValue: 16)
    public static let notEnoughReplicas = KafkaProtocolError(rawValue: 19)
    public static let topicAuthorizationFailed = KafkaProtocolError(rawValue: 29)
    /// librdkafka's local "transport" error: the mock broker drops the connection.
    public static let transport = KafkaProtocolError(rawValue: -195)
}
