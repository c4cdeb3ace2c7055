internal import CLibrdkafka
import Synchronization

/// A reusable array of message pointers that one batch poll fills; allocated once per consumer.
final class RDKafkaBatchBuffer: @unchecked Sendable {  // owned by one consumer, used under its poll lock
    let capacity: Int
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>

    init(capacity: Int) {
        self.capacity = capacity
        pointers = .allocate(capacity: capacity)
        pointers.initialize(repeating: nil, count: capacity)
    }

    deinit {
        pointers.deallocate()
    }
}

extension RDKafkaClient {
    func subscribe(_ topics: [String]) throws(KafkaError) {
        let entries = topics.map { (TopicPartition($0, Int32(RD_KAFKA_PARTITION_UA)), Int64?.none) }
        let err = RDKafkaTopicPartitionList.with(entries) { rd_kafka_subscribe(handle, $0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw Self.error(.rebalance, "subscribing to \(topics) failed", err)
        }
    }

    /// Manual assignment without group management; `nil` offsets start at the committed offset.
    func assign(_ entries: [(TopicPartition, Int64?)]) throws(KafkaError) {
        if let queues = context.partitionQueues {
            let assigned = entries.map(\.0)
            let previous = context.state.withLock { $0.assignment }
            queues.remove(Array(previous.subtracting(assigned)))
            queues.split(handle, assigned)
        }
        let err = RDKafkaTopicPartitionList.with(entries) { rd_kafka_assign(handle, $0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw Self.error(.rebalance, "assigning \(entries.map(\.0)) failed", err)
        }
        context.state.withLock { $0.assignment = Set(entries.map(\.0)) }
    }

    /// Fills `buffer` with up to `max` messages, waiting at most `timeoutMs` for the first.
    /// Serves rebalance and error callbacks as it goes. Returns the count (0 on timeout).
    func consumeBatch(into buffer: RDKafkaBatchBuffer, max: Int, timeoutMs: Int32) -> Int {
        guard let consumerQueue else { return 0 }
        let count = rd_kafka_consume_batch_queue(consumerQueue, timeoutMs, buffer.pointers, min(max, buffer.capacity))
        return count < 0 ? 0 : count
    }

    /// Moves error messages out of the first `count` pointers, destroying them; returns the new count and the
    /// errors found, in order.
    func separateErrors(_ buffer: RDKafkaBatchBuffer, count: Int) -> (count: Int, errors: [KafkaError]) {
        var kept = 0
        var errors: [KafkaError] = []
        for index in 0..<count {
            let message = buffer.pointers[index]!
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                buffer.pointers[kept] = message
                kept += 1
                continue
            }
            if err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                var text = Self.errorName(err)
                if let payload = message.pointee.payload, message.pointee.len > 0 {
                    text = String(
                        decoding: UnsafeRawBufferPointer(start: payload, count: message.pointee.len), as: UTF8.self)
                }
                let where_ = message.pointee.rkt.map {
                    " on \(String(cString: rd_kafka_topic_name($0)))[\(message.pointee.partition)]"
                } ?? ""
                var error = KafkaError(
                    .consume, "consumer error\(where_): \(text)", librdkafkaCode: err.rawValue,
                    isFatal: err == RD_KAFKA_RESP_ERR__FATAL, isRetriable: Self.isRetriable(err))
                error.partition = message.pointee.rkt.map {
                    TopicPartition(String(cString: rd_kafka_topic_name($0)), message.pointee.partition)
                }
                errors.append(error)
            }
            rd_kafka_message_destroy(message)
        }
        return (kept, errors)
    }

    /// Drops (destroys) messages of partitions not in `assignment`: fetched before a revoke that the same poll
    /// served, they now belong to another member, which reads them from the committed offset. Returns the new count.
    func dropUnassigned(_ buffer: RDKafkaBatchBuffer, count: Int, assignment: Set<TopicPartition>) -> Int {
        var kept = 0
        for index in 0..<count {
            let message = buffer.pointers[index]!
            let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
            if assignment.contains(TopicPartition(topic, message.pointee.partition)) {
                buffer.pointers[kept] = message
                kept += 1
            } else {
                rd_kafka_message_destroy(message)
            }
        }
        return kept
    }

    func destroyMessages(_ buffer: RDKafkaBatchBuffer, count: Int) {
        for index in 0..<count {
            rd_kafka_message_destroy(buffer.pointers[index])
            buffer.pointers[index] = nil
        }
    }

    /// Stores offsets for a later `commitStored()`.
    func storeOffsets(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        let err = RDKafkaTopicPartitionList.with(offsets.map { ($0.topicPartition, $0.offset) }) { list in
            let err = rd_kafka_offsets_store(handle, list)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR, let (tp, perPartition) = RDKafkaTopicPartitionList.firstError(list) {
                return (perPartition, Optional(tp))
            }
            return (err, nil)
        }
        guard err.0 == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw Self.error(.commit, "storing offsets \(err.1.map { "for \($0)" } ?? "\(offsets)") failed", err.0)
        }
    }

    /// Commit of `offsets` that waits at most `timeoutMs` for the coordinator's answer (a synchronous commit waits
    /// as long as the coordinator is away). On timeout the commit may still complete later.
    func commit(_ offsets: [TopicPartitionOffset], timeoutMs: Int32) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        guard let queue = rd_kafka_queue_new(handle) else {
            throw Self.error(.commit, "committing offsets failed: no reply queue", RD_KAFKA_RESP_ERR__FAIL)
        }
        defer { rd_kafka_queue_destroy(queue) }
        let started = RDKafkaTopicPartitionList.with(offsets.map { ($0.topicPartition, $0.offset) }) { list in
            rd_kafka_commit_queue(handle, list, queue, nil, nil)
        }
        guard started == RD_KAFKA_RESP_ERR_NO_ERROR else { throw Self.error(.commit, "committing offsets failed", started) }
        guard let event = rd_kafka_queue_poll(queue, timeoutMs) else {
            throw KafkaError(.timedOut, "committing offsets got no answer within \(timeoutMs) ms (is the coordinator down?)")
        }
        defer { rd_kafka_event_destroy(event) }
        var err = rd_kafka_event_error(event)
        if err == RD_KAFKA_RESP_ERR_NO_ERROR, let list = rd_kafka_event_topic_partition_list(event),
            let (_, perPartition) = RDKafkaTopicPartitionList.firstError(list)
        {
            err = perPartition
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw Self.error(.commit, "committing offsets failed", err)
        }
    }

    /// Synchronous commit of `offsets`, or of the stored offsets when `offsets` is `nil`.
    /// Returns without error when there was nothing to commit.
    func commit(_ offsets: [TopicPartitionOffset]?) throws(KafkaError) {
        let err: rd_kafka_resp_err_t
        if let offsets {
            guard !offsets.isEmpty else { return }
            err = RDKafkaTopicPartitionList.with(offsets.map { ($0.topicPartition, $0.offset) }) { list in
                let err = rd_kafka_commit(handle, list, 0)
                if err == RD_KAFKA_RESP_ERR_NO_ERROR, let (_, perPartition) = RDKafkaTopicPartitionList.firstError(list) {
                    return perPartition
                }
                return err
            }
        } else {
            err = rd_kafka_commit(handle, nil, 0)
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw Self.error(.commit, "committing offsets failed", err)
        }
    }

    /// The group's committed offsets for `partitions` (`nil` where none is committed).
    func committed(_ partitions: [TopicPartition], timeoutMs: Int32) throws(KafkaError) -> [TopicPartition: Int64?] {
        try RDKafkaTopicPartitionList.with(partitions.map { ($0, nil) }) { list throws(KafkaError) in
            let err = rd_kafka_committed(handle, list, timeoutMs)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw Self.error(.commit, "reading committed offsets failed", err)
            }
            var result: [TopicPartition: Int64?] = [:]
            for entry in RDKafkaTopicPartitionList.read(list) {
                result[entry.topicPartition] = entry.offset >= 0 ? entry.offset : nil
            }
            return result
        }
    }

    func seek(_ offsets: [TopicPartitionOffset], timeoutMs: Int32) throws(KafkaError) {
        context.partitionQueues?.clear(offsets.map(\.topicPartition))
        try RDKafkaTopicPartitionList.with(offsets.map { ($0.topicPartition, $0.offset) }) { list throws(KafkaError) in
            if let error = rd_kafka_seek_partitions(handle, list, timeoutMs) {
                throw Self.consume(error, .seek, "seeking to \(offsets) failed")
            }
            if let (tp, err) = RDKafkaTopicPartitionList.firstError(list) {
                throw Self.error(.seek, "seeking \(tp) failed", err)
            }
        }
    }

    func pause(_ partitions: [TopicPartition], resume: Bool) throws(KafkaError) {
        try RDKafkaTopicPartitionList.with(partitions.map { ($0, nil) }) { list throws(KafkaError) in
            let err = resume ? rd_kafka_resume_partitions(handle, list) : rd_kafka_pause_partitions(handle, list)
            let first = RDKafkaTopicPartitionList.firstError(list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, first == nil else {
                throw Self.error(
                    .seek, "\(resume ? "resuming" : "pausing") \(first.map { "\($0.0)" } ?? "\(partitions)") failed",
                    first?.1 ?? err)
            }
        }
    }

    /// Leaves the group (serving the final revoke) and stops fetching. Call before `destroy()`.
    func closeConsumer() throws(KafkaError) {
        let err = rd_kafka_consumer_close(handle)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw Self.error(.closed, "closing the consumer failed", err)
        }
    }
}

// MARK: - Zero-copy message access

extension KafkaMessageView {
    init(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let m = message.pointee
        self.init(
            raw: UnsafeRawPointer(message),
            partition: m.partition,
            offset: m.offset,
            value: UnsafeRawBufferPointer(start: m.payload, count: m.payload == nil ? 0 : m.len),
            key: m.key.map { UnsafeRawBufferPointer(start: $0, count: m.key_len) })
    }

    private var message: UnsafePointer<rd_kafka_message_t> { raw.assumingMemoryBound(to: rd_kafka_message_t.self) }

    /// The topic's identity in this consumer: equal for messages of one topic, stable while the consumer lives;
    /// compare it (no allocation) instead of ``topic`` in hot loops.
    public var topicIdentity: UInt {
        UInt(bitPattern: message.pointee.rkt.map { Int(bitPattern: UnsafeRawPointer($0)) } ?? 0)
    }

    /// Whether the message's topic is named `name` (no allocation).
    public func isFrom(topic name: String) -> Bool {
        guard let rkt = message.pointee.rkt else { return false }
        return String(cString: rd_kafka_topic_name(rkt)) == name
    }

    /// The topic's name. Allocates a `String`: prefer comparing ``topicIdentity`` in hot loops.
    public var topic: String {
        message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
    }

    /// Milliseconds since the Unix epoch, if the message carries a timestamp.
    public var timestampMilliseconds: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let value = rd_kafka_message_timestamp(message, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : value
    }

    /// The message's headers, copied.
    public var headers: [KafkaHeader] {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else {
            return []
        }
        var result: [KafkaHeader] = []
        var index = 0
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            result.append(KafkaHeader(
                name: name.map { String(cString: $0) } ?? "",
                value: value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
            index += 1
        }
        return result
    }
}

extension RDKafkaBatchBuffer {
    func view(at index: Int) -> KafkaMessageView {
        KafkaMessageView(pointers[index]!)
    }
}

extension KafkaMessageBatch {
    /// For each partition in the batch, the offset after its last message: what to commit once the whole batch's
    /// effects are durable.
    ///
    /// - Complexity: O(n) in the batch size; allocates one entry per partition, not per message.
    public var nextOffsets: [TopicPartitionOffset] {
        var last: [PartitionKey: Int64] = [:]
        for index in 0..<count {
            let message = buffer.pointers[index]!.pointee
            let key = PartitionKey(topic: message.rkt, partition: message.partition)
            last[key] = Swift.max(last[key] ?? Int64.min, message.offset)
        }
        return last.map { key, offset in
            TopicPartitionOffset(
                key.topic.map { String(cString: rd_kafka_topic_name($0)) } ?? "", key.partition, offset: offset + 1)
        }.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }
}

private struct PartitionKey: Hashable {
    var topic: OpaquePointer?
    var partition: Int32
}
