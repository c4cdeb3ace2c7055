/// A consumed message read in place from librdkafka's buffer, valid only inside the
/// ``KafkaConsumer/poll(maxMessages:timeout:_:)`` body that handed it out.
///
/// Reading ``value`` costs nothing: no copy, no allocation. Call ``copy()`` to keep a message beyond the body.
public struct KafkaMessageView {
    let raw: UnsafeRawPointer
    /// The partition the message came from.
    public let partition: Int32
    /// The message's offset in its partition.
    public let offset: Int64
    /// The value's bytes (empty for a null value: see ``valueIsNull``).
    public let value: UnsafeRawBufferPointer
    /// The key's bytes, if the message has a key.
    public let key: UnsafeRawBufferPointer?

    init(raw: UnsafeRawPointer, partition: Int32, offset: Int64, value: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer?) {
        self.raw = raw
        self.partition = partition
        self.offset = offset
        self.value = value
        self.key = key
    }

    /// Whether the message has a null value (a tombstone), not an empty one.
    public var valueIsNull: Bool { value.baseAddress == nil }

    /// A value copy that outlives the poll.
    public func copy() -> KafkaMessage {
        var message = KafkaMessage(
            topic: topic, partition: partition, offset: offset, key: key.map { Array($0) }, value: Array(value),
            headers: headers, timestampMilliseconds: timestampMilliseconds)
        message.valueIsNull = valueIsNull
        return message
    }

    /// The offset to commit once this message's effects are durable: ``offset`` + 1.
    public var nextOffset: TopicPartitionOffset { TopicPartitionOffset(topic, partition, offset: offset + 1) }
}

@available(*, unavailable, message: "a KafkaMessageView is valid only inside the poll body that handed it out")
extension KafkaMessageView: Sendable {}

/// The messages of one batch poll, in the order librdkafka delivered them (in offset order per partition).
public struct KafkaMessageBatch: RandomAccessCollection {
    let buffer: RDKafkaBatchBuffer
    public let count: Int

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    /// - Complexity: O(1), no allocation.
    public subscript(position: Int) -> KafkaMessageView {
        precondition(position >= 0 && position < count, "batch index \(position) out of range 0..<\(count)")
        return buffer.view(at: position)
    }
}

@available(*, unavailable, message: "a KafkaMessageBatch is valid only inside the poll body that handed it out")
extension KafkaMessageBatch: Sendable {}
