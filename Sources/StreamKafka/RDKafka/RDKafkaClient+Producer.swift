internal import CLibrdkafka
import Synchronization

/// Cached `rd_kafka_topic_t` handles, so producing does not look a topic up by name per message.
final class RDKafkaTopicCache: @unchecked Sendable {  // state behind a Mutex; topic handles are thread-safe
    private let topics = Mutex<[String: OpaquePointer]>([:])

    func handle(_ name: String, client: RDKafkaClient) throws(KafkaError) -> OpaquePointer {
        let found: OpaquePointer? = topics.withLock { cache in
            if let handle = cache[name] { return handle }
            guard let handle = rd_kafka_topic_new(client.handle, name, nil) else { return nil }
            cache[name] = handle
            return handle
        }
        guard let found else { throw KafkaError(.invalidArgument, "invalid topic name '\(name)'") }
        return found
    }

    /// Releases the handles; call before destroying the client.
    func destroyAll() {
        topics.withLock { cache in
            for handle in cache.values { rd_kafka_topic_destroy(handle) }
            cache.removeAll()
        }
    }
}

extension RDKafkaClient {
    /// Result of one enqueue attempt.
    enum EnqueueResult {
        case enqueued
        case queueFull
    }

    /// Enqueues one message (librdkafka copies key, value and headers). Throws for anything but a full queue.
    func produce(
        topic: OpaquePointer,
        topicName: String,
        partition: Int32?,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader],
        header: KafkaHeaderView? = nil,
        timestampMilliseconds: Int64? = nil
    ) throws(KafkaError) -> EnqueueResult {
        let slots = 7 + headers.count
        let error: OpaquePointer? = withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: slots) { vus in
            var count = 0
            func add(_ fill: (inout rd_kafka_vu_t) -> Void) {
                var vu = rd_kafka_vu_t()
                fill(&vu)
                vus[count] = vu
                count += 1
            }
            add { $0.vtype = RD_KAFKA_VTYPE_RKT; $0.u.rkt = topic }
            add { $0.vtype = RD_KAFKA_VTYPE_PARTITION; $0.u.i32 = partition ?? Int32(RD_KAFKA_PARTITION_UA) }
            add { $0.vtype = RD_KAFKA_VTYPE_MSGFLAGS; $0.u.i = RD_KAFKA_MSG_F_COPY }
            add {
                $0.vtype = RD_KAFKA_VTYPE_VALUE
                // No pointer is a null value (a tombstone); an empty value needs one, with no bytes read from it.
                let empty = UnsafeMutableRawPointer(vus.baseAddress!)
                $0.u.mem.ptr = value.map { $0.baseAddress.map(UnsafeMutableRawPointer.init(mutating:)) ?? empty }
                $0.u.mem.size = value?.count ?? 0
            }
            if let timestampMilliseconds {
                add { $0.vtype = RD_KAFKA_VTYPE_TIMESTAMP; $0.u.i64 = timestampMilliseconds }
            }
            if let key {
                add {
                    $0.vtype = RD_KAFKA_VTYPE_KEY
                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                    $0.u.mem.size = key.count
                }
            }
            return withHeaderPointers(headers) { headerPointers in
                for (name, bytes, size) in headerPointers {
                    add {
                        $0.vtype = RD_KAFKA_VTYPE_HEADER
                        $0.u.header.name = name
                        $0.u.header.val = bytes
                        $0.u.header.size = size
                    }
                }
                if let header {
                    add {
                        $0.vtype = RD_KAFKA_VTYPE_HEADER
                        $0.u.header.name = header.name
                        $0.u.header.val = header.value.baseAddress
                        $0.u.header.size = header.value.count
                    }
                }
                return rd_kafka_produceva(handle, vus.baseAddress, count)
            }
        }
        guard let error else { return .enqueued }
        let code = rd_kafka_error_code(error)
        if code == RD_KAFKA_RESP_ERR__QUEUE_FULL {
            rd_kafka_error_destroy(error)
            return .queueFull
        }
        throw Self.consume(error, .produce, "producing to '\(topicName)' failed")
    }

    /// Serves delivery reports; returns how many events were served.
    @discardableResult
    func poll(timeoutMs: Int32) -> Int {
        Int(rd_kafka_poll(handle, timeoutMs))
    }

    /// Waits until every queued message is delivered or failed; `false` if some were still in flight.
    func flush(timeoutMs: Int32) -> Bool {
        rd_kafka_flush(handle, timeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    /// Fails every message still queued or in flight (their delivery reports say "purged"), so a producer whose
    /// brokers are gone can be destroyed at once with every message accounted for; serves those reports.
    func purgeAndServe() {
        _ = rd_kafka_purge(handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        var rounds = 0
        while rd_kafka_outq_len(handle) > 0 && rounds < 50 {
            rd_kafka_poll(handle, 10)
            rounds += 1
        }
    }

    /// Messages queued or in flight.
    var outQueueLength: Int {
        Int(rd_kafka_outq_len(handle))
    }
}

/// Calls `body` with C strings and byte pointers for each header, valid during the call. They are copied into
/// short-lived allocations: a header sent with every message goes as a `KafkaHeaderView` instead.
private func withHeaderPointers<R>(
    _ headers: [KafkaHeader],
    _ body: ([(UnsafePointer<CChar>, UnsafeRawPointer?, Int)]) -> R
) -> R {
    if headers.isEmpty { return body([]) }
    var keepAlive: [UnsafeMutableRawPointer] = []
    defer { keepAlive.forEach { $0.deallocate() } }
    let pointers = headers.map { header -> (UnsafePointer<CChar>, UnsafeRawPointer?, Int) in
        let name = Array(header.name.utf8CString)
        let namePointer = UnsafeMutablePointer<CChar>.allocate(capacity: name.count)
        namePointer.initialize(from: name, count: name.count)
        keepAlive.append(UnsafeMutableRawPointer(namePointer))
        guard let value = header.value else { return (UnsafePointer(namePointer), nil, 0) }
        let valuePointer = UnsafeMutableRawPointer.allocate(byteCount: max(value.count, 1), alignment: 1)
        value.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { valuePointer.copyMemory(from: base, byteCount: bytes.count) }
        }
        keepAlive.append(valuePointer)
        return (UnsafePointer(namePointer), UnsafeRawPointer(valuePointer), value.count)
    }
    return body(pointers)
}
