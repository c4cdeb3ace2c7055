public import Logging
import Synchronization

/// A message that librdkafka reported as not delivered, with its payload so the caller can retry or dead-letter it.
public struct KafkaDeliveryFailure: Hashable, Sendable {
    public var topic: String
    public var partition: Int32
    public var key: [UInt8]?
    public var value: [UInt8]
    public var error: KafkaError
}

/// How many messages were enqueued, delivered and failed since the producer started.
public struct KafkaDeliveryReport: Hashable, Sendable, CustomStringConvertible {
    /// Messages accepted by ``KafkaProducer/send(topic:partition:key:value:headers:)``.
    public var sent: Int
    /// Messages the brokers acknowledged.
    public var delivered: Int
    /// Messages librdkafka gave up on (each is in ``failures`` up to the first 1000).
    public var failed: Int
    /// The failed messages, oldest first, up to 1000.
    public var failures: [KafkaDeliveryFailure]

    /// Messages neither delivered nor failed yet.
    public var pending: Int { sent - delivered - failed }

    public var description: String { "sent \(sent), delivered \(delivered), failed \(failed), pending \(pending)" }
}

/// A Kafka producer with idempotence on by default and delivery reports that are never dropped silently.
///
/// ``send(topic:partition:key:value:headers:)`` enqueues (librdkafka copies the bytes); the outcome arrives as a
/// delivery report, counted in ``deliveryReport``. ``close(timeout:)`` flushes and throws if any message was not
/// delivered. Calls may block briefly (a full queue, a flush): keep them off Swift's cooperative pool.
public final class KafkaProducer: Sendable {
    /// The configuration this producer was created with.
    public let configuration: KafkaProducerConfiguration
    let client: RDKafkaClient
    private let topics = RDKafkaTopicCache()
    private let sent = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    /// Creates a producer; throws with the key for a configuration librdkafka refuses.
    public init(
        configuration: KafkaProducerConfiguration,
        logger: Logger = Logger(label: "streamlearn.kafka.producer")
    ) throws(KafkaError) {
        self.configuration = configuration
        client = try RDKafkaClient(kind: .producer, properties: configuration.librdkafkaProperties, logger: logger)
    }

    deinit {
        if !closed.load(ordering: .acquiring) {
            let undelivered = client.outQueueLength
            if undelivered > 0 {
                client.context.logger.error(
                    "producer released without close(): \(undelivered) message(s) dropped undelivered")
            }
            topics.destroyAll()
            client.destroy()
        }
    }

    /// Enqueues one message. With `partition` `nil` the key chooses the partition (librdkafka's default
    /// consistent-random partitioner). A `nil` value is a null value (a tombstone). `header` is one more header
    /// read in place, after `headers` (no allocation). When the local queue is full it
    /// serves delivery reports and retries for up to `waitingAtMost` (default: the message timeout), then throws
    /// ``KafkaError/Code/timedOut`` (retriable: the message was not enqueued). Throws for an invalid topic, an
    /// oversized message or a fatal producer error.
    public func send(
        topic: String,
        partition: Int32? = nil,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader] = [],
        header: KafkaHeaderView? = nil,
        timestampMilliseconds: Int64? = nil,
        waitingAtMost: Duration? = nil
    ) throws(KafkaError) {
        try checkOpen()
        let handle = try topics.handle(topic, client: client)
        let patience = waitingAtMost ?? configuration.messageTimeout
        let deadline = ContinuousClock.now + patience
        while true {
            switch try client.produce(
                topic: handle, topicName: topic, partition: partition, key: key, value: value, headers: headers,
                header: header, timestampMilliseconds: timestampMilliseconds)
            {
            case .enqueued:
                sent.add(1, ordering: .relaxed)
                return
            case .queueFull:
                guard ContinuousClock.now < deadline else {
                    throw KafkaError(
                        .timedOut, "the producer queue stayed full for \(patience) "
                            + "(topic '\(topic)'): brokers are not taking messages", isRetriable: true)
                }
                client.poll(timeoutMs: Int32(max(1, min(100, (deadline - ContinuousClock.now).milliseconds))))
            }
        }
    }

    /// Enqueues one message from byte arrays (a `nil` value: a tombstone).
    public func send(
        topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = [],
        timestampMilliseconds: Int64? = nil
    ) throws(KafkaError) {
        let result = withOptionalBytes(value) { valueBytes in
            guard let key else {
                return Result { () throws(KafkaError) in
                    try send(
                        topic: topic, partition: partition, key: nil, value: valueBytes, headers: headers,
                        timestampMilliseconds: timestampMilliseconds)
                }
            }
            return key.withUnsafeBytes { keyBytes in
                Result { () throws(KafkaError) in
                    try send(
                        topic: topic, partition: partition, key: keyBytes, value: valueBytes, headers: headers,
                        timestampMilliseconds: timestampMilliseconds)
                }
            }
        }
        try result.get()
    }

    /// Enqueues one message from strings (UTF-8).
    public func send(
        topic: String, partition: Int32? = nil, key: String?, value: String, headers: [KafkaHeader] = []
    ) throws(KafkaError) {
        try send(topic: topic, partition: partition, key: key.map { Array($0.utf8) }, value: Array(value.utf8),
                 headers: headers)
    }

    // MARK: - Transactions

    /// Registers the ``KafkaProducerConfiguration/transactionalID`` with the cluster, fencing any older producer
    /// with the same id and aborting its open transaction. Call once, before the first transaction. Retriable
    /// failures are retried within `timeout` in all.
    public func initTransactions(timeout: Duration = .seconds(30)) throws(KafkaError) {
        try checkOpen()
        try retrying(within: timeout) { (left: Duration) -> RDKafkaClient.TransactionFailure? in
            client.initTransactions(timeoutMs: Int32(left.milliseconds))
        }
    }

    /// Starts a transaction: every message sent until ``commitTransaction(timeout:)`` becomes visible to
    /// `read_committed` consumers together, or not at all.
    public func beginTransaction() throws(KafkaError) {
        try checkOpen()
        if let failure = client.beginTransaction() { throw Self.error(failure) }
    }

    /// Flushes and commits the open transaction. A retriable failure is retried until `timeout`; a failure that
    /// requires an abort aborts the transaction and throws (its messages will never be visible: send them again
    /// in a new one); a fatal one (fenced by a newer producer) throws with ``KafkaError/isFatal`` set.
    public func commitTransaction(timeout: Duration = .seconds(30)) throws(KafkaError) {
        try checkOpen()
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = max(deadline - ContinuousClock.now, .milliseconds(100))
            switch client.commitTransaction(timeoutMs: Int32(left.milliseconds)) {
            case nil:
                return
            case .retriable(let error):
                guard ContinuousClock.now < deadline else { throw error }
            case .abortable(let error):
                try abortTransaction(timeout: timeout)
                throw error
            case .fatal(let error):
                var error = error
                error.isFatal = true
                throw error
            }
        }
    }

    /// Aborts the open transaction: its messages are never shown to `read_committed` consumers. Retriable
    /// failures are retried within `timeout` in all.
    public func abortTransaction(timeout: Duration = .seconds(30)) throws(KafkaError) {
        try checkOpen()
        try retrying(within: timeout) { (left: Duration) -> RDKafkaClient.TransactionFailure? in
            client.abortTransaction(timeoutMs: Int32(left.milliseconds))
        }
    }

    /// Calls `call` with the time left until it succeeds or `timeout` has passed in all (librdkafka lets a
    /// transactional call that timed out be called again); at least one call is made.
    private func retrying(
        within timeout: Duration, _ call: (Duration) -> RDKafkaClient.TransactionFailure?
    ) throws(KafkaError) {
        let deadline = ContinuousClock.now + timeout
        while true {
            switch call(max(deadline - ContinuousClock.now, .milliseconds(1))) {
            case nil:
                return
            case .retriable(let error):
                if ContinuousClock.now >= deadline { throw error }
                client.poll(timeoutMs: 50)
            case .abortable(let error), .fatal(let error):
                throw Self.error(.fatal(error))
            }
        }
    }

    private static func error(_ failure: RDKafkaClient.TransactionFailure) -> KafkaError {
        switch failure {
        case .retriable(let error), .abortable(let error): return error
        case .fatal(var error):
            error.isFatal = true
            return error
        }
    }

    /// Serves delivery reports without waiting. Call regularly while sending (``send`` does when the queue fills).
    public func poll() {
        client.poll(timeoutMs: 0)
    }

    /// Waits up to `timeout` until every enqueued message is delivered or failed; throws
    /// ``KafkaError/Code/timedOut`` naming how many are still pending. Failures are in ``deliveryReport``.
    public func flush(timeout: Duration) throws(KafkaError) {
        try checkOpen()
        guard client.flush(timeoutMs: Int32(timeout.milliseconds)) else {
            throw KafkaError(
                .timedOut, "\(client.outQueueLength) message(s) still undelivered after \(timeout)", isRetriable: true)
        }
    }

    /// Counts of sent, delivered and failed messages, and the failed messages themselves.
    public var deliveryReport: KafkaDeliveryReport {
        let sent = sent.load(ordering: .relaxed)
        return client.context.state.withLock { state in
            KafkaDeliveryReport(
                sent: sent, delivered: state.delivered, failed: state.failed, failures: state.failures)
        }
    }

    /// Throws ``KafkaError/Code/brokersUnreachable`` unless a broker answers a metadata request within `timeout`.
    public func checkBrokersReachable(timeout: Duration) throws(KafkaError) {
        try checkOpen()
        try client.checkBrokersReachable(bootstrap: configuration.bootstrapServers, timeout: timeout)
    }

    /// The number of partitions of `topic`, from the brokers' metadata.
    public func partitionCount(topic: String, timeout: Duration = .seconds(10)) throws(KafkaError) -> Int {
        try checkOpen()
        return try client.partitionCount(topic: topic, timeout: timeout)
    }

    /// Flushes for up to `timeout`, fails what is still undelivered then (purged), frees the client and returns
    /// the final report. Throws
    /// ``KafkaError/Code/deliveryFailed`` if any message failed or was still pending. Idempotent: a second call
    /// throws ``KafkaError/Code/closed``.
    @discardableResult
    public func close(timeout: Duration = .seconds(30)) throws(KafkaError) -> KafkaDeliveryReport {
        try checkOpen()
        if !client.flush(timeoutMs: Int32(timeout.milliseconds)) {
            // Past the deadline: what is left fails now (counted, with its reason), instead of holding destroy.
            client.purgeAndServe()
        }
        var report = deliveryReport
        let stillQueued = client.outQueueLength
        closed.store(true, ordering: .releasing)
        topics.destroyAll()
        client.destroy()
        // Whatever librdkafka still held at destroy is lost: report it as failed, never silently.
        report.failed += max(0, min(stillQueued, report.pending))
        guard report.failed == 0 else {
            let first = report.failures.first.map { ": first failure: \($0.error.message)" } ?? ""
            throw KafkaError(
                .deliveryFailed, "\(report.failed) of \(report.sent) message(s) were not delivered\(first)")
        }
        return report
    }

    private func checkOpen() throws(KafkaError) {
        if closed.load(ordering: .acquiring) { throw KafkaError(.closed, "the producer is closed") }
    }
}

/// `body` with the bytes of `array`, or with `nil` for no array (a null value, as ``KafkaProducer`` sends it).
public func withOptionalBytes<Result>(
    _ array: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> Result
) rethrows -> Result {
    guard let array else { return try body(nil) }
    return try array.withUnsafeBytes { try body($0) }
}
