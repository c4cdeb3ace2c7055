internal import CLibrdkafka

extension RDKafkaClient {
    /// What a failed transactional call asks of the caller, from librdkafka's error flags.
    enum TransactionFailure {
        /// Try the same call again.
        case retriable(KafkaError)
        /// Abort the transaction, then carry on with a new one.
        case abortable(KafkaError)
        /// The producer cannot continue (fenced by a newer instance, or a fatal idempotence error).
        case fatal(KafkaError)
    }

    /// Runs one `rd_kafka_*_transaction(s)` call; `nil` on success.
    func transactionCall(_ what: String, _ call: () -> OpaquePointer?) -> TransactionFailure? {
        guard let error = call() else { return nil }
        let retriable = rd_kafka_error_is_retriable(error) != 0
        let abortable = rd_kafka_error_txn_requires_abort(error) != 0
        let fatal = rd_kafka_error_is_fatal(error) != 0
        let converted = Self.consume(error, .transaction, what)
        if fatal { return .fatal(converted) }
        if abortable { return .abortable(converted) }
        if retriable { return .retriable(converted) }
        return .fatal(converted)
    }

    func initTransactions(timeoutMs: Int32) -> TransactionFailure? {
        transactionCall("initialising transactions") { rd_kafka_init_transactions(handle, timeoutMs) }
    }

    func beginTransaction() -> TransactionFailure? {
        transactionCall("beginning a transaction") { rd_kafka_begin_transaction(handle) }
    }

    func commitTransaction(timeoutMs: Int32) -> TransactionFailure? {
        transactionCall("committing a transaction") { rd_kafka_commit_transaction(handle, timeoutMs) }
    }

    func abortTransaction(timeoutMs: Int32) -> TransactionFailure? {
        transactionCall("aborting a transaction") { rd_kafka_abort_transaction(handle, timeoutMs) }
    }

    /// The watermarks librdkafka last saw in fetch responses (no request); `nil` when unknown yet.
    func cachedWatermarks(topic: String, partition: Int32) -> (low: Int64, high: Int64)? {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(handle, topic, partition, &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }

    /// The consumer's fetch position in a partition (the next offset it will return), `nil` when unknown.
    func position(topic: String, partition: Int32) -> Int64? {
        let entries = [(TopicPartition(topic, partition), Int64?.none)]
        var offset: Int64?
        _ = RDKafkaTopicPartitionList.with(entries) { list -> rd_kafka_resp_err_t in
            let err = rd_kafka_position(handle, list)
            let read = RDKafkaTopicPartitionList.read(list)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR, let first = read.first, first.offset >= 0 { offset = first.offset }
            return err
        }
        return offset
    }

    /// The low and high watermarks of a partition, asked of its leader.
    func watermarks(topic: String, partition: Int32, timeoutMs: Int32) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw Self.error(.consume, "querying the offsets of \(topic)[\(partition)] failed", err)
        }
        return (low, high)
    }
}
