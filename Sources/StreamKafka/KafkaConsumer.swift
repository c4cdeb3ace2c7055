public import Logging
import Foundation
import Synchronization

/// A Kafka consumer in a consumer group, handing out messages in batches.
///
/// Offsets are never committed behind the application's back: auto-commit is off by default, and offsets move
/// only through ``store(_:)`` + ``commitStored()`` or ``commit(_:)``, once the effects of the messages are durable.
/// When the group revokes partitions, the offsets stored so far are committed before they go, so the next owner
/// starts right after them: store as you go, commit when convenient.
///
/// Calls block the calling thread (up to their timeout); run a consume loop on a dedicated thread, for example
/// with ``runOnDedicatedThread(name:_:)``, not on Swift's cooperative pool. One thread polls at a time; the
/// other methods may be called from any thread.
public final class KafkaConsumer: Sendable {
    /// The configuration this consumer was created with.
    public let configuration: KafkaConsumerConfiguration
    let client: RDKafkaClient
    private let batchBuffer: Mutex<RDKafkaBatchBuffer>
    private let closed = Atomic<Bool>(false)

    /// Creates a consumer; throws with the key for a configuration librdkafka refuses.
    /// librdkafka's log lines go to `logger`.
    public init(
        configuration: KafkaConsumerConfiguration,
        logger: Logger = Logger(label: "streamlearn.kafka.consumer")
    ) throws(KafkaError) {
        guard configuration.maxBatchSize > 0 else {
            throw KafkaError(.invalidArgument, "maxBatchSize must be positive, got \(configuration.maxBatchSize)")
        }
        self.configuration = configuration
        client = try RDKafkaClient(
            kind: .consumer, properties: configuration.librdkafkaProperties, logger: logger,
            partitionQueues: configuration.partitionQueues)
        batchBuffer = Mutex(RDKafkaBatchBuffer(capacity: configuration.maxBatchSize))
    }

    deinit {
        try? close()
    }

    /// Joins the group for `topics`; partitions arrive as ``KafkaConsumerEvent/assigned(_:)`` events.
    public func subscribe(topics: [String]) throws(KafkaError) {
        try checkOpen()
        try client.subscribe(topics)
    }

    /// Reads exactly these partitions without group management, from these offsets.
    public func assign(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        try checkOpen()
        try client.assign(offsets.map { ($0.topicPartition, $0.offset) })
    }

    /// Takes part in the group's rebalances: `handler` is called on the polling thread, inside the poll during
    /// which the group assigns or revokes partitions, before anything of an assigned partition is fetched and
    /// before a revoked one is given up. This is where per-partition state is loaded and saved.
    public func setRebalanceHandler(_ handler: KafkaRebalanceHandler) {
        client.context.rebalanceHandler.withLock { $0 = handler }
    }

    /// Offsets to start from when these partitions are next assigned by the group, overriding the committed ones.
    /// This is how a restart resumes exactly from the offsets stored in a model snapshot.
    public func setStartOffsets(_ offsets: [TopicPartitionOffset]) {
        client.context.state.withLock { state in
            for entry in offsets { state.startOffsets[entry.topicPartition] = entry.offset }
        }
    }

    /// Waits up to `timeout` for messages and passes one batch of at most `maxMessages` (default
    /// ``KafkaConsumerConfiguration/maxBatchSize``) to `body`, which reads them in place. Returns the batch size,
    /// 0 on timeout. Rebalances and errors seen meanwhile become ``takeEvents()``; a fatal error is thrown.
    /// Messages of partitions revoked during this poll are dropped (their next owner reads them). `body` must not
    /// call `poll` again.
    ///
    /// - Complexity: no allocation per message.
    @discardableResult
    public func poll(
        maxMessages: Int? = nil,
        timeout: Duration,
        _ body: (KafkaMessageBatch) throws -> Void
    ) throws -> Int {
        try checkOpen()
        return try batchBuffer.withLock { buffer in
            let revocationsBefore = client.context.state.withLock { $0.revocations }
            let fetched = client.consumeBatch(
                into: buffer, max: maxMessages ?? buffer.capacity, timeoutMs: Int32(timeout.milliseconds))
            var (count, errors) = client.separateErrors(buffer, count: fetched)
            let (revocationsAfter, assignment) = client.context.state.withLock { ($0.revocations, $0.assignment) }
            if revocationsAfter != revocationsBefore {
                // Never hand out messages of partitions this member gave up during this very poll.
                count = client.dropUnassigned(buffer, count: count, assignment: assignment)
            }
            defer { client.destroyMessages(buffer, count: count) }
            try record(errors)
            if count > 0 { try body(KafkaMessageBatch(buffer: buffer, count: count)) }
            return count
        }
    }

    /// Passes up to `maxMessages` messages already fetched for `partitions` to `body` one at a time, oldest
    /// timestamp first across the partitions (ties: the one listed first), with the partition's index in the list;
    /// returns how many. Partition
    /// `i` is in group `groups[i]` (default: all in one), and group `g` passes at most `quotas[g]` messages.
    /// Never waits: a partition with nothing fetched is left out, unless `hold(index)` says to stop there (its next
    /// message may be older than the others'). Needs ``KafkaConsumerConfiguration/partitionQueues``; partitions
    /// not assigned are left out. Errors of the partitions (an offset out of range, say) become ``takeEvents()``.
    /// `body` must not call this consumer.
    ///
    /// This is Kafka Streams' order for a task's partitions (the record with the lowest timestamp next): a stream
    /// spread over partitions is processed in the order it was produced, whatever the fetches' timing.
    ///
    /// - Complexity: O(partitions) per message; no allocation per message.
    @discardableResult
    public func poll(
        inTimestampOrder partitions: [TopicPartition], maxMessages: Int, groups: [Int]? = nil, quotas: [Int]? = nil,
        hold: (Int) -> Bool = { _ in false }, _ body: (KafkaMessageView, Int) throws -> Void
    ) throws -> Int {
        try checkOpen()
        guard let queues = client.context.partitionQueues else {
            throw KafkaError(.invalidArgument, "poll(inTimestampOrder:) reads partition queues: set partitionQueues in the configuration")
        }
        let groups = groups ?? Array(repeating: 0, count: partitions.count)
        let quotas = quotas ?? [maxMessages]
        guard groups.count == partitions.count, groups.allSatisfy({ quotas.indices.contains($0) }) else {
            throw KafkaError(.invalidArgument, "poll(inTimestampOrder:): a group for each partition, a quota for each group")
        }
        let (count, errors) = try queues.merge(
            partitions, max: maxMessages, groups: groups, quotas: quotas, client: client, hold: hold, body)
        try record(errors)
        return count
    }

    /// Keeps errors a poll found as ``takeEvents()``; throws the first fatal one.
    private func record(_ errors: [KafkaError]) throws(KafkaError) {
        guard !errors.isEmpty else { return }
        client.context.state.withLock { $0.events.append(contentsOf: errors.map(KafkaConsumerEvent.error)) }
        if let fatal = errors.first(where: \.isFatal) { throw fatal }
    }

    /// Sleeps until a partition queue or the consumer's own queue (rebalances, errors) gets something while empty,
    /// or `timeout` passes (``KafkaConsumerConfiguration/partitionQueues``; without, it just sleeps).
    public func waitForMessages(timeout: Duration) {
        guard let queues = client.context.partitionQueues, !closed.load(ordering: .acquiring) else {
            Thread.sleep(forTimeInterval: Double(timeout.milliseconds) / 1000)
            return
        }
        queues.wait(timeoutMs: Int32(timeout.milliseconds))
    }

    /// Like ``poll(maxMessages:timeout:_:)`` but returns copies; convenient outside hot paths.
    public func poll(maxMessages: Int? = nil, timeout: Duration) throws -> [KafkaMessage] {
        var messages: [KafkaMessage] = []
        try poll(maxMessages: maxMessages, timeout: timeout) { batch in
            messages.reserveCapacity(batch.count)
            for message in batch { messages.append(message.copy()) }
        }
        return messages
    }

    /// Rebalance and error events since the last call, oldest first.
    public func takeEvents() -> [KafkaConsumerEvent] {
        client.context.state.withLock { state in
            defer { state.events.removeAll() }
            return state.events
        }
    }

    /// The partitions currently assigned to this consumer.
    public var assignment: Set<TopicPartition> {
        client.context.state.withLock { $0.assignment }
    }

    /// Remembers offsets (next offset to read) for the next ``commitStored()``.
    public func store(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        try checkOpen()
        try client.storeOffsets(offsets)
    }

    /// Commits the stored offsets synchronously. Nothing stored is not an error.
    public func commitStored() throws(KafkaError) {
        try checkOpen()
        try client.commit(nil)
    }

    /// Commits exactly these offsets (next offset to read) synchronously. With a `timeout`, waits at most that long
    /// for the coordinator's answer (``KafkaError/Code/timedOut``; the commit may still complete later); without,
    /// as long as the coordinator is away.
    public func commit(_ offsets: [TopicPartitionOffset], timeout: Duration? = nil) throws(KafkaError) {
        try checkOpen()
        if let timeout {
            try client.commit(offsets, timeoutMs: Int32(timeout.milliseconds))
        } else {
            try client.commit(offsets)
        }
    }

    /// The group's committed offsets, `nil` for a partition with none.
    public func committedOffsets(
        for partitions: [TopicPartition], timeout: Duration = .seconds(10)
    ) throws(KafkaError) -> [TopicPartition: Int64?] {
        try checkOpen()
        return try client.committed(partitions, timeoutMs: Int32(timeout.milliseconds))
    }

    /// Moves assigned partitions to explicit offsets; the next polls return messages from there on.
    public func seek(to offsets: [TopicPartitionOffset], timeout: Duration = .seconds(10)) throws(KafkaError) {
        try checkOpen()
        try client.seek(offsets, timeoutMs: Int32(timeout.milliseconds))
    }

    /// Stops fetching these partitions until ``resume(_:)``; the assignment is kept.
    public func pause(_ partitions: [TopicPartition]) throws(KafkaError) {
        try checkOpen()
        try client.pause(partitions, resume: false)
    }

    /// Fetches paused partitions again.
    public func resume(_ partitions: [TopicPartition]) throws(KafkaError) {
        try checkOpen()
        try client.pause(partitions, resume: true)
    }

    /// The oldest offset a partition still holds and the offset its next message will get.
    public func watermarks(
        topic: String, partition: Int32, timeout: Duration = .seconds(10)
    ) throws(KafkaError) -> (low: Int64, high: Int64) {
        try checkOpen()
        return try client.watermarks(topic: topic, partition: partition, timeoutMs: Int32(timeout.milliseconds))
    }

    /// The watermarks seen in the last fetch responses, without asking the broker (for lag); `nil` before any.
    public func cachedWatermarks(topic: String, partition: Int32) -> (low: Int64, high: Int64)? {
        guard !closed.load(ordering: .acquiring) else { return nil }
        return client.cachedWatermarks(topic: topic, partition: partition)
    }

    /// The next offset this consumer will return for a partition it reads, `nil` before it fetched any.
    public func position(topic: String, partition: Int32) -> Int64? {
        guard !closed.load(ordering: .acquiring) else { return nil }
        return client.position(topic: topic, partition: partition)
    }

    /// The number of partitions of `topic`, from the brokers' metadata.
    public func partitionCount(topic: String, timeout: Duration = .seconds(10)) throws(KafkaError) -> Int {
        try checkOpen()
        return try client.partitionCount(topic: topic, timeout: timeout)
    }

    /// Throws ``KafkaError/Code/brokersUnreachable`` unless a broker answers a metadata request within `timeout`.
    public func checkBrokersReachable(timeout: Duration) throws(KafkaError) {
        try checkOpen()
        try client.checkBrokersReachable(bootstrap: configuration.bootstrapServers, timeout: timeout)
    }

    /// Leaves the group (the final revoke is served and recorded) and frees the client. Idempotent.
    /// Uncommitted offsets are not committed: commit first.
    ///
    /// With a `timeout`, gives up waiting after it (``KafkaError/Code/timedOut``): librdkafka's close waits for the
    /// group coordinator, which may be gone for good (a broker that died); the handle is then left open, not freed
    /// under the close that still runs.
    public func close(timeout: Duration? = nil) throws(KafkaError) {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let neverAssigned = client.context.state.withLock { !$0.everAssigned }
        let destroy = { [client, configuration] in
            if configuration.assignmentStrategy == .cooperativeSticky && neverAssigned {
                // librdkafka 2.0.2 asserts in rd_kafka_destroy for a cooperative-sticky member that never got an
                // assignment (librdkafka #4312). Leaking one closed handle beats aborting the process.
                client.context.logger.warning(
                    "cooperative-sticky consumer closed before its first assignment: handle not destroyed (librdkafka issue #4312)")
            } else {
                client.destroy()
            }
        }
        guard let timeout else {
            defer { destroy() }
            try client.closeConsumer()
            return
        }
        let outcome = Mutex<KafkaError??>(nil)
        let done = DispatchSemaphore(value: 0)
        let closing = Thread { [client] in
            var failure: KafkaError?
            do throws(KafkaError) { try client.closeConsumer() } catch { failure = error }
            outcome.withLock { $0 = .some(failure) }
            done.signal()
        }
        closing.name = "streamlearn.kafka.close"
        closing.start()
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) * 1e-18
        guard done.wait(timeout: .now() + seconds) == .success else {
            client.context.logger.warning("closing the consumer got no answer within \(timeout): the handle is left open")
            throw KafkaError(.timedOut, "closing the consumer got no answer within \(timeout) (is the group coordinator down?)")
        }
        destroy()
        if let failure = outcome.withLock({ $0 }) ?? nil { throw failure }
    }

    private func checkOpen() throws(KafkaError) {
        if closed.load(ordering: .acquiring) { throw KafkaError(.closed, "the consumer is closed") }
    }
}

/// What an application does when the consumer group moves partitions (``KafkaConsumer/setRebalanceHandler(_:)``).
public struct KafkaRebalanceHandler: Sendable {
    /// Partitions given to this member; returns where to start reading each (the rest start at the group's
    /// committed offsets).
    public var assigned: @Sendable ([TopicPartition]) -> [TopicPartitionOffset]
    /// Partitions taken away; `lost` when the group already gave them to another member (session timeout), so
    /// nothing may be committed for them.
    public var revoked: @Sendable (_ partitions: [TopicPartition], _ lost: Bool) -> Void

    public init(
        assigned: @escaping @Sendable ([TopicPartition]) -> [TopicPartitionOffset],
        revoked: @escaping @Sendable (_ partitions: [TopicPartition], _ lost: Bool) -> Void
    ) {
        self.assigned = assigned
        self.revoked = revoked
    }
}
