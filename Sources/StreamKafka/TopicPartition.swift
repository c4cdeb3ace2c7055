/// A partition of a topic.
public struct TopicPartition: Hashable, Sendable, Codable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// A partition and an offset in it.
///
/// As in Kafka, a committed or start offset is the offset of the *next* message to read:
/// after processing the message at offset `n`, commit `n + 1`.
public struct TopicPartitionOffset: Hashable, Sendable, Codable, CustomStringConvertible {
    public var topicPartition: TopicPartition
    public var offset: Int64

    public init(_ topic: String, _ partition: Int32, offset: Int64) {
        self.topicPartition = TopicPartition(topic, partition)
        self.offset = offset
    }

    public init(_ topicPartition: TopicPartition, offset: Int64) {
        self.topicPartition = topicPartition
        self.offset = offset
    }

    public var topic: String { topicPartition.topic }
    public var partition: Int32 { topicPartition.partition }

    public var description: String { "\(topicPartition)@\(offset)" }
}

/// A Kafka message header.
/// A header read in place, for a send that must not allocate: a NUL-terminated name and the value's bytes, valid
/// during the call that takes it (librdkafka copies them).
public struct KafkaHeaderView {
    public let name: UnsafePointer<CChar>
    public let value: UnsafeRawBufferPointer

    public init(name: UnsafePointer<CChar>, value: UnsafeRawBufferPointer) {
        self.name = name
        self.value = value
    }
}

@available(*, unavailable, message: "a KafkaHeaderView is valid only during the call that takes it")
extension KafkaHeaderView: Sendable {}

public struct KafkaHeader: Hashable, Sendable, Codable {
    public var name: String
    /// The value's bytes; `nil` for a header with a null value.
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    public init(name: String, value: String) {
        self.name = name
        self.value = Array(value.utf8)
    }
}

/// A consumed message, copied out of librdkafka's buffers.
///
/// For the hot path use ``KafkaMessageView`` inside ``KafkaConsumer/poll(maxMessages:timeout:_:)``, which reads the
/// bytes in place; call ``KafkaMessageView/copy()`` to keep one.
public struct KafkaMessage: Hashable, Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    /// A null value (a tombstone): ``value`` is then empty.
    public var valueIsNull = false
    public var headers: [KafkaHeader]
    /// Milliseconds since the Unix epoch, if the message carries a timestamp.
    public var timestampMilliseconds: Int64?

    public init(
        topic: String,
        partition: Int32,
        offset: Int64,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader] = [],
        timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }

    /// The key decoded as UTF-8, if there is a key.
    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
    /// The value decoded as UTF-8.
    public var valueString: String { String(decoding: value, as: UTF8.self) }
}

/// What happened to a consumer's group membership, in order.
public enum KafkaConsumerEvent: Hashable, Sendable {
    /// These partitions were added to this consumer's assignment.
    case assigned([TopicPartition])
    /// These partitions were taken away; their in-flight work should be committed or dropped.
    case revoked([TopicPartition])
    /// The assignment was lost without a clean revoke (session timeout, fencing): do not commit for it.
    case lost([TopicPartition])
    /// A non-fatal error librdkafka reported (for example all brokers down); librdkafka keeps retrying.
    case error(KafkaError)
}
