internal import CLibrdkafka

/// Conversions between `rd_kafka_topic_partition_list_t` and Swift values.
enum RDKafkaTopicPartitionList {
    /// Calls `body` with a C list of `offsets` (offset -1001, `RD_KAFKA_OFFSET_INVALID`, where `nil`).
    static func with<R, E: Error>(
        _ entries: [(TopicPartition, Int64?)],
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws(E) -> R
    ) throws(E) -> R {
        let list = rd_kafka_topic_partition_list_new(Int32(entries.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (tp, offset) in entries {
            let element = rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)!
            element.pointee.offset = offset ?? Int64(RD_KAFKA_OFFSET_INVALID)
        }
        return try body(list)
    }

    static func read(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartitionOffset] {
        let count = Int(list.pointee.cnt)
        var result: [TopicPartitionOffset] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            let element = list.pointee.elems[index]
            result.append(TopicPartitionOffset(String(cString: element.topic), element.partition, offset: element.offset))
        }
        return result
    }

    /// The first per-partition error in `list`, if any.
    static func firstError(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> (TopicPartition, rd_kafka_resp_err_t)? {
        for index in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[index]
            if element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                return (TopicPartition(String(cString: element.topic), element.partition), element.err)
            }
        }
        return nil
    }

    static func setOffsets(
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, _ offsets: [TopicPartition: Int64]
    ) {
        guard !offsets.isEmpty else { return }
        for index in 0..<Int(list.pointee.cnt) {
            let tp = TopicPartition(String(cString: list.pointee.elems[index].topic), list.pointee.elems[index].partition)
            if let offset = offsets[tp] { list.pointee.elems[index].offset = offset }
        }
    }
}
