import StreamJobs
import Alerting
import DriftDetection
import Foundation
import Logging
import StreamCore
import StreamKafka

/// A task's outputs, as Kafka Streams' `RecordCollector`: the task's producer, its transactions, where each output
/// goes (by key, CRC-32 as librdkafka's default partitioner), the headers that say which input an output answers,
/// the dead-letter topic with Kafka Connect's headers, and the suppression of outputs a restarted task already
/// sent. It is the job's ``JobOutput``; it holds no reference to its task or to the loop.
///
/// Exactly once: each output carries the input message it answers in a `streamlearn.source` header
/// (`name/topic:partition:offset`). After a restart ``readDelivered(since:)`` reads what the output partitions
/// received since the snapshot (`read_committed`); per output partition, a task's outputs arrive in input order,
/// so the newest source seen there tells which answers it already holds, and those are not sent again.
final class RecordCollector: JobOutput {
    let producer: KafkaProducer
    let exactlyOnce: Bool
    let outputsTopic: String
    private let waits: KafkaWaits
    private let logger: Logger
    private let configuration: RuntimeConfiguration
    private let brokers: String
    /// The input partitions of the task (an output's source names one).
    private let partitions: [TopicPartition]
    /// The `streamlearn.source` header every exactly-once output carries, built without allocating: its name as a
    /// C string, per input partition the start of its value (`job/topic:partition:`), and the value (the offset
    /// written after that start) in a buffer reused from one output to the next.
    private let sourceHeaderName = ContiguousArray(sourceHeader.utf8CString)
    private let sourcePrefixes: [[UInt8]]
    private var sourceValue = JSONWriter(capacity: 64)
    /// The largest message the producer takes (`message.max.bytes`, librdkafka's default 1,000,000), less the
    /// record's framing: a dead letter is cut to fit it.
    private let maxProducedBytes: Int
    /// Every alert raised (Alertmanager).
    private let notify: @Sendable (Alert) -> Void

    private(set) var inTransaction = false
    private(set) var transactionStart = ContinuousClock.now
    /// Input messages processed since the open transaction began.
    private(set) var transactionMessages = 0
    /// Output partitions per output topic.
    private var outputPartitions: [String: Int] = [:]
    /// Per output partition, the newest input offset (per input partition) it already holds an answer for:
    /// answers to older inputs are not sent again.
    private var delivered: [TopicPartition: [Int64]] = [:]
    /// Per input partition, the newest offset any output partition already holds an answer for.
    private(set) var deliveredThrough: [Int64]

    /// The input message being processed (index into `partitions`, and the message), for the outputs' source
    /// and for dead letters kept for later.
    var currentSource: (index: Int, offset: Int64)?
    var current: KafkaMessageView?

    /// Answers sent (not suppressed), dead letters by reason, transactions committed: the task's summary.
    private(set) var answered = 0
    private(set) var deadLetters: [String: Int] = [:]
    private(set) var transactions = 0
    /// Counts since the last ``takeDelta()``.
    private var delta = RuntimeMetrics.Delta()
    private var answersSent = 0

    /// Opens the task's producer (transactional for exactly once: fencing the task's previous owner, whose open
    /// transaction Kafka aborts, before the outputs are read).
    init(
        configuration: RuntimeConfiguration, brokers: String, number: Int?, partitions: [TopicPartition],
        waits: KafkaWaits, logger: Logger, notify: @escaping @Sendable (Alert) -> Void
    ) throws {
        self.configuration = configuration
        self.brokers = brokers
        self.partitions = partitions
        sourcePrefixes = partitions.map { Array("\(configuration.name)/\($0.topic):\($0.partition):".utf8) }
        self.waits = waits
        self.logger = logger
        self.notify = notify
        exactlyOnce = configuration.output.mode == .exactlyOnce
        outputsTopic = configuration.topics.outputs
        maxProducedBytes = (configuration.kafka.properties["message.max.bytes"].flatMap { Int($0) } ?? 1_000_000) - 512
        deliveredThrough = Array(repeating: -1, count: partitions.count)
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: brokers)
        producerConfiguration.clientID = "streamlearn-\(configuration.name)"
        producerConfiguration.properties = configuration.kafka.properties
        producerConfiguration.linger = configuration.output.linger
        if exactlyOnce {
            producerConfiguration.transactionalID = configuration.transactionalID + (number.map { "-p\($0)" } ?? "")
        }
        do {
            producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        } catch {
            throw RuntimeError.kafka(error, "cannot start the producer")
        }
        if exactlyOnce {
            let producer = producer
            do {
                try waits.retrying("cannot start the transactional producer") { timeout throws(KafkaError) in
                    try producer.initTransactions(timeout: timeout)
                }
            } catch {
                _ = try? producer.close(timeout: waits.bounded(.seconds(5)))
                throw error
            }
        }
    }

    // MARK: - What the outputs hold

    /// Whether the message being processed is re-learned (its answers are already out).
    var isRelearning: Bool {
        guard let source = currentSource else { return false }
        return source.offset <= deliveredThrough[source.index]
    }

    /// Reads what the output partitions received since the snapshot (exactly-once mode): the newest source each
    /// holds, per input partition of this task.
    func readDelivered(since snapshot: [TopicPartition: Int64]) throws {
        outputPartitions = [:]
        delivered = [:]
        deliveredThrough = Array(repeating: -1, count: partitions.count)
        let producer = producer
        for topic in configuration.outputTopics {
            outputPartitions[topic] = try waits.retrying("topics: cannot read topic '\(topic)'") { timeout throws(KafkaError) in
                try producer.partitionCount(topic: topic, timeout: timeout)
            }
        }
        guard exactlyOnce else { return }
        var readerConfiguration = KafkaConsumerConfiguration(
            bootstrapServers: brokers, groupID: "\(configuration.kafka.group)-outputs")
        readerConfiguration.properties = configuration.kafka.properties
        readerConfiguration.properties["isolation.level"] = "read_committed"
        let inputIndex = Dictionary(uniqueKeysWithValues: partitions.enumerated().map { ("\($1.topic):\($1.partition)", $0) })
        let jobPrefix = "\(configuration.name)/"
        let waits = waits
        do {
            let reader = try KafkaConsumer(configuration: readerConfiguration, logger: logger)
            defer { try? reader.close(timeout: waits.bounded(.seconds(5))) }
            var ends: [TopicPartition: Int64] = [:]
            var starts: [TopicPartitionOffset] = []
            for (topic, count) in outputPartitions {
                for partition in 0..<Int32(count) {
                    let key = TopicPartition(topic, partition)
                    let (low, high) = try waits.retrying("cannot read the end of \(key)") { timeout throws(KafkaError) in
                        try reader.watermarks(topic: topic, partition: partition, timeout: timeout)
                    }
                    let start = max(low, snapshot[key] ?? low)
                    if high > start {
                        ends[key] = high
                        starts.append(TopicPartitionOffset(key, offset: start))
                    }
                }
            }
            guard !starts.isEmpty else { return }
            try reader.assign(starts)
            var progress = ContinuousClock.now
            while !ends.isEmpty {
                // No message for 5 s while some are left to read: Kafka is not answering.
                if ContinuousClock.now - progress > .seconds(5) {
                    waits.failed("reading the outputs already sent made no progress for 5 s")
                    if waits.isOver { throw waits.givingUp("cannot read the outputs already sent", nil) }
                }
                let count = try reader.poll(timeout: .milliseconds(100)) { batch in
                    for message in batch {
                        guard let source = message.headers.first(where: { $0.name == sourceHeader })?.value else { continue }
                        let text = String(decoding: source, as: UTF8.self)
                        // Another job's answer (outputs topics may be shared), or another task's, is not this one's.
                        guard text.hasPrefix(jobPrefix), let colon = text.lastIndex(of: ":"),
                            let offset = Int64(text[text.index(after: colon)...]),
                            let index = inputIndex[String(text[text.index(text.startIndex, offsetBy: jobPrefix.count)..<colon])]
                        else { continue }
                        let key = TopicPartition(message.topic, message.partition)
                        var marks = delivered[key] ?? Array(repeating: -1, count: partitions.count)
                        marks[index] = max(marks[index], offset)
                        delivered[key] = marks
                        deliveredThrough[index] = max(deliveredThrough[index], offset)
                    }
                }
                if count > 0 { progress = .now }
                for key in Array(ends.keys) where (reader.position(topic: key.topic, partition: key.partition) ?? 0) >= ends[key]! {
                    ends[key] = nil
                    progress = .now
                }
            }
        } catch {
            throw RuntimeError.kafka(error, "cannot read the outputs already sent")
        }
    }

    /// Where each output partition ends (exactly once), for a snapshot: a restart reads what came after.
    func outputEnds(consumer: KafkaConsumer) throws -> [SourcePosition] {
        guard exactlyOnce else { return [] }
        var ends: [SourcePosition] = []
        for (topic, count) in outputPartitions.sorted(by: { $0.key < $1.key }) {
            for partition in 0..<Int32(count) {
                let (_, high) = try waits.retrying("cannot read the end of \(topic)[\(partition)]") { timeout throws(KafkaError) in
                    try consumer.watermarks(topic: topic, partition: partition, timeout: timeout)
                }
                ends.append(.kafka(KafkaPosition(topic: topic, partition: partition, offset: high)))
            }
        }
        return ends
    }

    // MARK: - Sending

    /// The partition an output goes to: by its key (CRC-32, as librdkafka's default partitioner), or by its
    /// source when it has none.
    private func outputPartition(topic: String, key: UnsafeRawBufferPointer?) -> Int32 {
        let count = UInt32(outputPartitions[topic] ?? 1)
        if let key { return Int32(CRC32.checksum(key) % count) }
        return Int32(UInt32(truncatingIfNeeded: currentSource?.offset ?? 0) % count)
    }

    /// Whether an output of the current message to `partition` must be sent (its partition does not hold it yet).
    private func mustSend(topic: String, partition: Int32) -> Bool {
        guard exactlyOnce, let source = currentSource, source.offset <= deliveredThrough[source.index] else { return true }
        return source.offset > (delivered[TopicPartition(topic, partition)]?[source.index] ?? -1)
    }

    /// Sends one output (in the open transaction, which it begins if needed); `false` when the output partition
    /// already holds it (a message re-learned after a restart).
    @discardableResult
    func send(
        topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [KafkaHeader] = [],
        timestampMilliseconds: Int64? = nil
    ) throws -> Bool {
        let partition = outputPartition(topic: topic, key: key)
        guard mustSend(topic: topic, partition: partition) else { return false }
        if exactlyOnce && !inTransaction {
            try producer.beginTransaction()
            inTransaction = true
            transactionStart = ContinuousClock.now
            transactionMessages = 0
        }
        if exactlyOnce, let source = currentSource {
            sourceValue.reset()
            sourceValue.raw(sourcePrefixes[source.index])
            sourceValue.int(Int(source.offset))
            try sourceHeaderName.withUnsafeBufferPointer { name in
                try sourceValue.bytes.withUnsafeBytes { source in
                    try enqueue(
                        topic: topic, partition: partition, key: key, value: value, headers: headers,
                        header: KafkaHeaderView(name: name.baseAddress!, value: source),
                        timestampMilliseconds: timestampMilliseconds)
                }
            }
        } else {
            try enqueue(
                topic: topic, partition: partition, key: key, value: value, headers: headers, header: nil,
                timestampMilliseconds: timestampMilliseconds)
        }
        if topic == outputsTopic { answersSent += 1 } else { delta.messagesOut[topic, default: 0] += 1 }
        return true
    }

    /// Hands one output to the producer; a queue that stays full (the brokers are not taking messages) is waited
    /// for within the job's bound.
    private func enqueue(
        topic: String, partition: Int32, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader], header: KafkaHeaderView?, timestampMilliseconds: Int64?
    ) throws {
        var enqueued = false
        while !enqueued {
            do {
                try producer.send(
                    topic: topic, partition: partition, key: key, value: value, headers: headers, header: header,
                    timestampMilliseconds: timestampMilliseconds, waitingAtMost: .seconds(1))
                enqueued = true
            } catch {
                guard error.code == .timedOut else { throw error }
                waits.failed(error.message)
                if waits.isOver { throw waits.givingUp("cannot send to '\(topic)'", error) }
            }
        }
    }

    func send(
        topic: String, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader], timestampMilliseconds: Int64?
    ) throws {
        _ = try withOptionalBytes(value) { valueBytes in
            if let key {
                try key.withUnsafeBytes { keyBytes in
                    try send(topic: topic, key: keyBytes, value: valueBytes, headers: headers, timestampMilliseconds: timestampMilliseconds)
                }
            } else {
                try send(topic: topic, key: nil, value: valueBytes, headers: headers, timestampMilliseconds: timestampMilliseconds)
            }
        }
    }

    /// Sends `message` unchanged (key, value, a null value, headers) to the dead-letter topic with Kafka Connect's
    /// error headers; a message larger than the producer takes is cut to fit, the cut named in headers
    /// (``DeadLetterOrigin/fit(within:extra:)``), so no input can stop the job. Counts it.
    func deadLetter(_ message: DeadLetterOrigin, _ reason: DeadLetterReason) throws {
        countDeadLetter(reason)
        var message = message
        var errors = [
            KafkaHeader(name: "__connect.errors.topic", value: Array(message.topic.utf8)),
            KafkaHeader(name: "__connect.errors.partition", value: Array(String(message.partition).utf8)),
            KafkaHeader(name: "__connect.errors.offset", value: Array(String(message.offset).utf8)),
            KafkaHeader(name: "__connect.errors.exception.class.name", value: Array("streamlearn.\(reason.kind)".utf8)),
            KafkaHeader(name: "__connect.errors.exception.message", value: Array(reason.message.utf8)),
            KafkaHeader(name: "__connect.errors.stage", value: Array(reason.stage.utf8)),
        ]
        errors += message.fit(within: maxProducedBytes, extra: errors)
        try send(
            topic: configuration.topics.deadLetter, key: message.key, value: message.value,
            headers: message.headers + errors, timestampMilliseconds: message.timestampMilliseconds)
    }

    private func countDeadLetter(_ reason: DeadLetterReason) {
        deadLetters[reason.kind, default: 0] += 1
        delta.deadLetters[reason.kind, default: 0] += 1
    }

    /// One critical `data-loss` alert per partition that lost messages, naming the partition (`feature`), the
    /// first offset lost (`offsets`), the range (`window`, offsets) and the count (`value`); in a transaction of
    /// its own (the open one commits first: the outcome says whether the brokers aborted it).
    func sendDataLossAlerts(_ lost: [LostRange], modelName: String) throws -> CommitOutcome {
        let outcome = inTransaction ? try commit() : .committed
        for range in lost {
            let key = "\(range.partition.topic):\(range.partition.partition)"
            let alert = Alert(
                id: "\(modelName)/data-loss/\(key)", kind: "data-loss", severity: .critical, state: .firing,
                detector: "offsets", feature: "\(range.partition)", value: Double(range.lost), threshold: 0,
                window: Alert.Window(start: Int(range.from), end: Int(range.to)),
                model: Alert.Model(name: modelName, version: "streamlearn"), offsets: [key: range.from], at: Date())
            notify(alert)
            guard let topic = configuration.topics.alerts else { continue }
            do {
                if exactlyOnce { try producer.beginTransaction() }
                try producer.send(topic: topic, key: alert.id, value: alert.jsonLine())
                if exactlyOnce {
                    try producer.commitTransaction(timeout: waits.bounded(.seconds(30)))
                } else {
                    try producer.flush(timeout: waits.bounded(.seconds(30)))
                }
            } catch {
                logger.error("cannot send the data-loss alert: \(error)")
                if exactlyOnce { try? producer.abortTransaction(timeout: waits.bounded(.seconds(10))) }
            }
        }
        return outcome
    }

    // MARK: - Transactions

    /// An input message was processed (it counts against `output.max_messages_per_transaction`).
    func inputProcessed() { transactionMessages += 1 }

    /// What committing the open transaction came to.
    enum CommitOutcome: Equatable {
        case committed
        /// The brokers aborted it (its outputs will never show): the task's state has moved past what Kafka
        /// holds, so it must start again from its newest snapshot.
        case aborted(String)
    }

    /// Commits the open transaction (exactly once; retried while the brokers are away, within
    /// `kafka.unavailable_timeout_s`). Throws when the producer is fenced or the brokers stayed away.
    func commit() throws -> CommitOutcome {
        if exactlyOnce {
            var failure: RuntimeError?
            let producer = producer
            do {
                try waits.retrying("cannot commit the transaction") { timeout throws(KafkaError) in
                    try producer.commitTransaction(timeout: timeout)
                }
            } catch {
                failure = error
            }
            inTransaction = false
            transactionMessages = 0
            if let failure {
                let underlying = failure.underlying as? KafkaError
                if underlying.map({ $0.isFatal || KafkaWaits.mayRetry($0) }) ?? true {
                    // Fenced, or the brokers stayed away: the job stops (a restart recovers).
                    throw failure
                }
                delta.transactionsAborted += 1
                return .aborted("\(failure)")
            }
        }
        transactions += 1
        delta.transactions += 1
        return .committed
    }

    /// Aborts the open transaction, if any (its outputs never show).
    func abort(within timeout: Duration) {
        if exactlyOnce && inTransaction { try? producer.abortTransaction(timeout: waits.bounded(timeout)) }
        inTransaction = false
        transactionMessages = 0
    }

    /// Waits until every output sent so far is delivered (at least once: before a snapshot, never ahead of
    /// what was delivered).
    func flush() throws {
        let producer = producer
        try waits.retrying("cannot deliver the outputs before a snapshot") { timeout throws(KafkaError) in
            try producer.flush(timeout: timeout)
        }
    }

    /// Serves delivery reports: a message counts against the producer's queue until its report is served.
    func poll() { producer.poll() }

    /// Aborts what is open and closes the producer.
    func close() {
        abort(within: .seconds(10))
        do {
            try producer.close(timeout: waits.bounded(.seconds(30)))
        } catch {
            logger.warning("closing the producer: \(error)")
        }
    }

    /// Counts since the last call: outputs by topic, dead letters, transactions.
    func takeDelta() -> RuntimeMetrics.Delta {
        var taken = delta
        if answersSent > 0 { taken.messagesOut[outputsTopic, default: 0] += answersSent }
        delta = RuntimeMetrics.Delta()
        answersSent = 0
        return taken
    }

    // MARK: - JobOutput

    func answer(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        if try send(topic: outputsTopic, key: key, value: value) { answered += 1 }
    }

    func publish(topic: String, key: String, value: [UInt8]) throws {
        var key = key
        try key.withUTF8 { keyBytes in
            try value.withUnsafeBytes { valueBytes in
                _ = try send(topic: topic, key: UnsafeRawBufferPointer(keyBytes), value: valueBytes)
            }
        }
    }

    func origin() -> [UInt8] {
        guard let current else { return [] }
        return DeadLetterOrigin.encode(current)
    }

    func deadLetter(origin: [UInt8], _ reason: DeadLetterReason) throws {
        guard let message = DeadLetterOrigin(decoding: origin) else {
            countDeadLetter(reason)
            return
        }
        try deadLetter(message, reason)
    }

    /// An alert the job raised: to Alertmanager (but not one raised again while re-learning: already sent) and
    /// to the alerts topic.
    func alert(_ alert: Alert) throws {
        if !isRelearning { notify(alert) }
        guard let topic = configuration.topics.alerts else { return }
        try publish(topic: topic, key: alert.id, value: Array(alert.jsonLine().utf8))
    }
}
