internal import CLibrdkafka
import Glibc
import Synchronization

/// Each assigned partition's own fetch queue, read directly rather than through the consumer queue
/// (``KafkaConsumerConfiguration/partitionQueues``), with the messages taken from it and not handed out yet, and
/// one file descriptor that wakes a waiting reader.
///
/// A partition's queue is split off (`rd_kafka_queue_forward(queue, NULL)`) before the partition is assigned, so
/// nothing of it ever reaches the consumer queue: librdkafka keeps a queue split once the application has set its
/// forwarding, and stops fetching a partition whose queue holds `queued.max.messages.kbytes` — a reader that leaves
/// a partition's messages where they are holds it back without pause/resume and without any refetch.
///
/// librdkafka writes to an eventfd whenever one of these queues, or the consumer queue (rebalances, errors), gets
/// an element while empty; ``wait(timeoutMs:)`` sleeps on it.
final class RDKafkaPartitionQueues: @unchecked Sendable {  // the partitions' state sits behind `partitions`' mutex
    /// One partition's queue and the messages taken from it, oldest first, with their timestamps.
    final class Partition: @unchecked Sendable {  // used under the mutex only
        static let capacity = 512
        let queue: OpaquePointer
        let buffer = RDKafkaBatchBuffer(capacity: Partition.capacity)
        let timestamps = UnsafeMutablePointer<Int64>.allocate(capacity: Partition.capacity)
        var head = 0
        var count = 0

        init(queue: OpaquePointer) {
            self.queue = queue
        }

        deinit {
            clear()
            rd_kafka_queue_io_event_enable(queue, -1, nil, 0)
            rd_kafka_queue_destroy(queue)
            timestamps.deallocate()
        }

        var isEmpty: Bool { head == count }

        /// Takes what the queue holds (up to the capacity) once the taken messages are all handed out; errors of
        /// the partition are appended to `errors`. Whether any message is held now.
        func refill(_ client: RDKafkaClient, errors: inout [KafkaError]) -> Bool {
            guard isEmpty else { return true }
            let fetched = rd_kafka_consume_batch_queue(queue, 0, buffer.pointers, Partition.capacity)
            guard fetched > 0 else { return false }
            let (kept, found) = client.separateErrors(buffer, count: fetched)
            errors += found
            var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            for index in 0..<kept { timestamps[index] = rd_kafka_message_timestamp(buffer.pointers[index], &type) }
            head = 0
            count = kept
            return kept > 0
        }

        /// Destroys the messages taken and not handed out (after a seek, a new assignment, a revoke).
        func clear() {
            for index in head..<count { rd_kafka_message_destroy(buffer.pointers[index]) }
            head = 0
            count = 0
        }
    }

    /// The eventfd librdkafka writes to.
    let wakeDescriptor: Int32
    private let partitions = Mutex<[TopicPartition: Partition]>([:])
    private static let payload: UInt64 = 1

    init() throws(KafkaError) {
        let descriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard descriptor >= 0 else {
            throw KafkaError(.invalidArgument, "cannot create an eventfd for the partition queues: \(String(cString: strerror(errno)))")
        }
        wakeDescriptor = descriptor
    }

    deinit {
        close(wakeDescriptor)
    }

    /// Makes `queue` wake ``wait(timeoutMs:)`` when it gets an element while empty.
    func watch(_ queue: OpaquePointer) {
        withUnsafeBytes(of: Self.payload) { bytes in
            rd_kafka_queue_io_event_enable(queue, wakeDescriptor, bytes.baseAddress, bytes.count)
        }
    }

    /// Splits off the queues of `partitions` (call before assigning them): from now on their messages are read
    /// only by ``merge(_:max:groups:quotas:client:hold:_:)``. A partition split before gets its queue anew (librdkafka may have
    /// made the partition again since), and what was taken from the old one is dropped.
    func split(_ rk: OpaquePointer, _ topicPartitions: [TopicPartition]) {
        partitions.withLock { partitions in
            for partition in topicPartitions {
                partitions[partition] = nil
                guard let queue = rd_kafka_queue_get_partition(rk, partition.topic, partition.partition) else { continue }
                rd_kafka_queue_forward(queue, nil)
                watch(queue)
                partitions[partition] = Partition(queue: queue)
            }
        }
    }

    /// Forgets the queues of `partitions` (revoked): messages left in them are never handed out.
    func remove(_ topicPartitions: [TopicPartition]) {
        partitions.withLock { partitions in
            for partition in topicPartitions { partitions[partition] = nil }
        }
    }

    /// Forgets every queue (before the client is destroyed).
    func removeAll() {
        partitions.withLock { $0.removeAll() }
    }

    /// Drops what was taken from these partitions' queues and not handed out (a seek moved them).
    func clear(_ topicPartitions: [TopicPartition]) {
        partitions.withLock { partitions in
            for partition in topicPartitions { partitions[partition]?.clear() }
        }
    }

    /// Hands out up to `max` messages of `topicPartitions` (those assigned) to `body`, one at a time, oldest timestamp first
    /// (ties: the partition listed first), with the partition's index in the list. Partition `i` belongs to group
    /// `groups[i]`, and group `g` hands out at most `quotas[g]` messages. When a partition has nothing fetched,
    /// `hold(index)` says whether to stop there (its next message may be older than the others') or go on without
    /// it; it is asked again whenever another partition takes in newly fetched messages, so a partition that was
    /// empty is passed over for one batch (``Partition/capacity``) at most. Returns how many were handed out and the
    /// partitions' errors.
    func merge(
        _ topicPartitions: [TopicPartition], max: Int, groups: [Int], quotas: [Int], client: RDKafkaClient,
        hold: (Int) -> Bool, _ body: (KafkaMessageView, Int) throws -> Void
    ) throws -> (count: Int, errors: [KafkaError]) {
        try partitions.withLock { partitions in
            let listed = topicPartitions.map { partitions[$0] }
            var quotas = quotas
            var drained = [Bool](repeating: false, count: listed.count)
            var errors: [KafkaError] = []
            var handed = 0
            merging: while handed < max {
                var best = -1
                var oldest = Int64.max
                var refilled = false
                for index in listed.indices where !drained[index] && quotas[groups[index]] > 0 {
                    guard let partition = listed[index] else { continue }
                    if partition.isEmpty {
                        guard partition.refill(client, errors: &errors) else {
                            if hold(index) { break merging }
                            drained[index] = true
                            continue
                        }
                        refilled = true
                    }
                    let timestamp = partition.timestamps[partition.head]
                    if best < 0 || timestamp < oldest {
                        best = index
                        oldest = timestamp
                    }
                }
                // A partition took in messages fetched since this call began: those found empty before may have
                // some too, perhaps older. Look at them again, or a steady partition would hold the others off
                // for as long as it keeps coming.
                if refilled && drained.contains(true) {
                    for index in drained.indices { drained[index] = false }
                    continue merging
                }
                guard best >= 0, let partition = listed[best] else { break }
                let message = partition.buffer.pointers[partition.head]!
                partition.head += 1
                defer { rd_kafka_message_destroy(message) }
                handed += 1
                quotas[groups[best]] -= 1
                try body(KafkaMessageView(message), best)
            }
            return (handed, errors)
        }
    }

    /// Sleeps until librdkafka wrote to the eventfd (a queue got an element while empty) or `timeoutMs` passed.
    func wait(timeoutMs: Int32) {
        var descriptor = pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, timeoutMs) > 0 {
            var value: UInt64 = 0
            _ = read(wakeDescriptor, &value, MemoryLayout<UInt64>.size)
        }
    }
}
