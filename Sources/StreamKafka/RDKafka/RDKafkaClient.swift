// The one layer of StreamKafka that calls librdkafka. Every `rd_kafka_*` call lives in this folder.

internal import CLibrdkafka
import Logging
import Synchronization

/// An `rd_kafka_t` handle and the state its C callbacks write to.
///
/// `@unchecked Sendable` because librdkafka handles are thread-safe (librdkafka's own documentation: all
/// `rd_kafka_t` methods may be called from any thread), and every Swift-side mutable state here sits behind a
/// `Mutex`. `OpaquePointer` is not `Sendable` on its own, hence the wrapper.
final class RDKafkaClient: @unchecked Sendable {
    enum Kind {
        case producer
        case consumer
    }

    let kind: Kind
    let handle: OpaquePointer
    let context: RDKafkaClientContext
    /// The consumer queue that batch polls read from (consumers only).
    private(set) var consumerQueue: OpaquePointer?
    private let destroyed = Atomic<Bool>(false)

    /// Creates a client from `properties`, throwing librdkafka's message and the key for a refused property.
    ///
    /// `partitionQueues` (consumers): each assigned partition is read from its own queue (``RDKafkaPartitionQueues``).
    init(
        kind: Kind, properties: [(key: String, value: String)], logger: Logger, partitionQueues: Bool = false
    ) throws(KafkaError) {
        self.kind = kind
        let queues = partitionQueues ? try RDKafkaPartitionQueues() : nil
        let context = RDKafkaClientContext(logger: logger, partitionQueues: queues)
        self.context = context
        let conf = try Self.makeConf(properties)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_log_cb(conf, rdkafkaLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdkafkaErrorCallback)
        switch kind {
        case .producer:
            rd_kafka_conf_set_dr_msg_cb(conf, rdkafkaDeliveryCallback)
        case .consumer:
            rd_kafka_conf_set_rebalance_cb(conf, rdkafkaRebalanceCallback)
        }
        var errstr = [CChar](repeating: 0, count: 512)
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)  // rd_kafka_new takes the conf only on success
            throw KafkaError(.configuration, "librdkafka could not create the client: \(String(cCharBuffer: errstr))")
        }
        self.handle = handle
        if kind == .consumer {
            // Route the main queue (rebalances, errors) into the consumer queue that batch polls serve.
            rd_kafka_poll_set_consumer(handle)
            consumerQueue = rd_kafka_queue_get_consumer(handle)
            if let queues = context.partitionQueues, let consumerQueue { queues.watch(consumerQueue) }
        }
        logger.debug("librdkafka client created", metadata: ["config": "\(describe(properties))"])
    }

    /// Builds an `rd_kafka_conf_t`; on error names the key and keeps librdkafka's message.
    static func makeConf(_ properties: [(key: String, value: String)]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(.configuration, "librdkafka could not allocate a configuration")
        }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                let reason = String(cCharBuffer: errstr)
                if result == RD_KAFKA_CONF_UNKNOWN {
                    throw KafkaError(
                        .unknownConfigurationKey, "unknown configuration key '\(key)': \(reason)", key: key)
                }
                let shown = isSecretKafkaProperty(key) ? "[redacted]" : "'\(value)'"
                throw KafkaError(.configuration, "invalid value \(shown) for key '\(key)': \(reason)", key: key)
            }
        }
        return conf
    }

    /// Asks a broker for cluster metadata, proving the bootstrap list answers within `timeout`.
    func checkBrokersReachable(bootstrap: String, timeout: Duration) throws(KafkaError) {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, nil, &metadata, Int32(timeout.milliseconds))
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(
                .brokersUnreachable,
                "no broker of '\(bootstrap)' answered within \(timeout): \(Self.errorName(err))",
                librdkafkaCode: err.rawValue, isRetriable: true)
        }
    }

    /// Partition count of `topic`, from cluster metadata.
    func partitionCount(topic: String, timeout: Duration) throws(KafkaError) -> Int {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else {
            throw KafkaError(.invalidArgument, "invalid topic name '\(topic)'")
        }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, rkt, &metadata, Int32(timeout.milliseconds))
        defer { if let metadata { rd_kafka_metadata_destroy(metadata) } }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let md = metadata?.pointee, md.topic_cnt > 0 else {
            throw KafkaError(
                .brokersUnreachable, "no metadata for topic '\(topic)' within \(timeout): \(Self.errorName(err))",
                librdkafkaCode: err.rawValue, isRetriable: true)
        }
        let topicMetadata = md.topics[0]
        guard topicMetadata.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(
                .invalidArgument, "topic '\(topic)': \(Self.errorName(topicMetadata.err))",
                librdkafkaCode: topicMetadata.err.rawValue)
        }
        return Int(topicMetadata.partition_cnt)
    }

    /// Destroys the handle once; later calls do nothing.
    func destroy() {
        guard !destroyed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        context.partitionQueues?.removeAll()
        if let consumerQueue {
            if context.partitionQueues != nil { rd_kafka_queue_io_event_enable(consumerQueue, -1, nil, 0) }
            rd_kafka_queue_destroy(consumerQueue)
        }
        rd_kafka_destroy(handle)
    }

    var isDestroyed: Bool { destroyed.load(ordering: .acquiring) }

    static func errorName(_ err: rd_kafka_resp_err_t) -> String {
        String(cString: rd_kafka_err2str(err))
    }

    static func error(
        _ code: KafkaError.Code, _ what: String, _ err: rd_kafka_resp_err_t
    ) -> KafkaError {
        KafkaError(
            code, "\(what): \(errorName(err))", librdkafkaCode: err.rawValue,
            isFatal: err == RD_KAFKA_RESP_ERR__FATAL, isRetriable: isRetriable(err))
    }

    static func isRetriable(_ err: rd_kafka_resp_err_t) -> Bool {
        switch err {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT,
            RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR__QUEUE_FULL,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
            RD_KAFKA_RESP_ERR__WAIT_COORD, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            // A commit from a generation that a rebalance just ended; the same offsets commit after rejoining.
            RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION, RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
            return true
        default:
            return false
        }
    }

    /// Converts an `rd_kafka_error_t` (which the caller must not use afterwards) to a `KafkaError`.
    static func consume(_ error: OpaquePointer, _ code: KafkaError.Code, _ what: String) -> KafkaError {
        defer { rd_kafka_error_destroy(error) }
        return KafkaError(
            code, "\(what): \(String(cString: rd_kafka_error_string(error)))",
            librdkafkaCode: rd_kafka_error_code(error).rawValue,
            isFatal: rd_kafka_error_is_fatal(error) != 0, isRetriable: rd_kafka_error_is_retriable(error) != 0)
    }
}

/// What C callbacks write and Swift reads: logger, events, delivery results, start offsets.
final class RDKafkaClientContext: Sendable {
    struct State {
        var events: [KafkaConsumerEvent] = []
        var assignment: Set<TopicPartition> = []
        /// Whether the group ever assigned partitions to this member (see librdkafka issue #4312).
        var everAssigned = false
        /// Counts revokes and losses, so a poll can tell whether one happened while it ran.
        var revocations = 0
        var startOffsets: [TopicPartition: Int64] = [:]
        var delivered: Int = 0
        var failed: Int = 0
        var failures: [KafkaDeliveryFailure] = []
    }

    /// The most delivery failures kept with their payloads; beyond it only the count grows.
    static let maxKeptFailures = 1000

    let logger: Logger
    let state = Mutex(State())
    /// The application's part in rebalances, called inside librdkafka's callback (on the polling thread).
    let rebalanceHandler = Mutex<KafkaRebalanceHandler?>(nil)
    /// Each assigned partition's own queue, when the consumer reads them separately.
    let partitionQueues: RDKafkaPartitionQueues?

    init(logger: Logger, partitionQueues: RDKafkaPartitionQueues? = nil) {
        self.logger = logger
        self.partitionQueues = partitionQueues
    }
}

// MARK: - C callbacks (no captures: state comes through the conf opaque)

private func context(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaClientContext? {
    guard let opaque else { return nil }
    return Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
}

private let rdkafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?)
    -> Void = { rk, level, facility, line in
        guard let rk, let ctx = context(rd_kafka_opaque(rk)) else { return }
        let swiftLevel: Logger.Level
        switch level {
        case ...2: swiftLevel = .critical
        case 3: swiftLevel = .error
        case 4: swiftLevel = .warning
        case 5: swiftLevel = .notice
        case 6: swiftLevel = .info
        default: swiftLevel = .debug
        }
        ctx.logger.log(
            level: swiftLevel, "\(line.map { String(cString: $0) } ?? "")",
            metadata: [
                "librdkafka.facility": "\(facility.map { String(cString: $0) } ?? "")",
                "librdkafka.client": "\(String(cString: rd_kafka_name(rk)))",
            ])
    }

private let rdkafkaErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?)
    -> Void = { rk, err, reason, opaque in
        guard let ctx = context(opaque) else { return }
        let code = rd_kafka_resp_err_t(rawValue: err)
        var text = reason.map { String(cString: $0) } ?? RDKafkaClient.errorName(code)
        let fatal = code == RD_KAFKA_RESP_ERR__FATAL
        if fatal, let rk {
            var buffer = [CChar](repeating: 0, count: 512)
            let underlying = rd_kafka_fatal_error(rk, &buffer, buffer.count)
            text = "\(RDKafkaClient.errorName(underlying)): \(String(cCharBuffer: buffer))"
        }
        let error = KafkaError(
            fatal ? .consume : .brokersUnreachable, text, librdkafkaCode: err, isFatal: fatal,
            isRetriable: RDKafkaClient.isRetriable(code))
        // librdkafka logs the same trouble itself; the error is also kept as an event for the application.
        ctx.logger.log(level: fatal ? .critical : .info, "librdkafka error: \(text)")
        ctx.state.withLock { $0.events.append(.error(error)) }
    }

private let rdkafkaDeliveryCallback: @convention(c) (
    OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?
) -> Void = { _, message, opaque in
    guard let ctx = context(opaque), let message = message?.pointee else { return }
    if message.err == RD_KAFKA_RESP_ERR_NO_ERROR {
        ctx.state.withLock { $0.delivered += 1 }
        return
    }
    let failure = KafkaDeliveryFailure(
        topic: message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
        partition: message.partition,
        key: message.key.map { Array(UnsafeRawBufferPointer(start: $0, count: message.key_len)) },
        value: message.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: message.len)) } ?? [],
        error: RDKafkaClient.error(.deliveryFailed, "message not delivered", message.err))
    ctx.state.withLock { state in
        state.failed += 1
        if state.failures.count < RDKafkaClientContext.maxKeptFailures { state.failures.append(failure) }
    }
}

private let rdkafkaRebalanceCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
    UnsafeMutableRawPointer?
) -> Void = { rk, err, partitions, opaque in
    guard let rk, let ctx = context(opaque) else { return }
    let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
    let listed = partitions.map(RDKafkaTopicPartitionList.read) ?? []
    let topicPartitions = listed.map(\.topicPartition)
    switch err {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        // Exact restarts: partitions with a start offset (from a snapshot) begin there, the rest at the
        // group's committed offset. A handler decides the offsets itself, before anything is fetched.
        if let partitions {
            var starts = ctx.state.withLock { $0.startOffsets }
            if let handler = ctx.rebalanceHandler.withLock({ $0 }) {
                for entry in handler.assigned(topicPartitions) { starts[entry.topicPartition] = entry.offset }
            }
            RDKafkaTopicPartitionList.setOffsets(partitions, starts)
        }
        // Split before assigning: nothing of these partitions ever reaches the consumer queue.
        ctx.partitionQueues?.split(rk, topicPartitions)
        var failure: String?
        if cooperative {
            if let error = rd_kafka_incremental_assign(rk, partitions) {
                failure = String(cString: rd_kafka_error_string(error))
                rd_kafka_error_destroy(error)
            }
        } else {
            let result = rd_kafka_assign(rk, partitions)
            if result != RD_KAFKA_RESP_ERR_NO_ERROR { failure = RDKafkaClient.errorName(result) }
        }
        ctx.state.withLock { state in
            if let failure {
                state.events.append(.error(KafkaError(.rebalance, "assigning \(topicPartitions) failed: \(failure)")))
            } else {
                state.assignment.formUnion(topicPartitions)
                state.everAssigned = true
                state.events.append(.assigned(topicPartitions))
            }
        }
        ctx.logger.info("partitions assigned", metadata: ["partitions": "\(topicPartitions)"])
    default:
        // RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, or an error: give the partitions up either way.
        let lost = rd_kafka_assignment_lost(rk) != 0
        // The application finishes its work on these partitions while they are still this member's.
        ctx.rebalanceHandler.withLock({ $0 })?.revoked(topicPartitions, lost)
        if !lost {
            // The generation is still valid here: commit what the application stored as durable, so that the
            // next owner starts right after it (no re-processing). Lost partitions are not ours to commit.
            let result = rd_kafka_commit(rk, nil, 0)
            if result != RD_KAFKA_RESP_ERR_NO_ERROR && result != RD_KAFKA_RESP_ERR__NO_OFFSET {
                ctx.logger.warning(
                    "commit of stored offsets on revoke failed", metadata: ["error": "\(RDKafkaClient.errorName(result))"])
            }
        }
        if cooperative {
            if let error = rd_kafka_incremental_unassign(rk, partitions) { rd_kafka_error_destroy(error) }
        } else {
            rd_kafka_assign(rk, nil)
        }
        ctx.partitionQueues?.remove(topicPartitions)
        ctx.state.withLock { state in
            state.revocations += 1
            state.assignment.subtract(topicPartitions)
            state.events.append(lost ? .lost(topicPartitions) : .revoked(topicPartitions))
        }
        ctx.logger.info(
            lost ? "partitions lost" : "partitions revoked", metadata: ["partitions": "\(topicPartitions)"])
    }
}

extension String {
    /// The NUL-terminated text in a C character buffer that librdkafka wrote to.
    init(cCharBuffer buffer: [CChar]) {
        self = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
