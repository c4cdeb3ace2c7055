public import Alerting
import DriftDetection
public import Foundation
public import Logging
public import OnlineLearning
public import StreamCore
public import StreamKafka
import Synchronization

/// Why the runtime stopped or could not start; the message names the key, topic, partition or file at fault.
public struct RuntimeError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case configuration
        case snapshot
        case kafka
        /// A snapshot's offset is no longer in its partition and `kafka.on_lost_offsets` is `fail`.
        case lostOffsets = "lost-offsets"
    }
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Runs a ``StreamJob`` on Kafka topics until asked to stop: reads every partition of its input topics from the
/// offsets its newest snapshot holds (the snapshot owns the offsets, as Flink's Kafka source does; the group's
/// committed offsets are written for monitoring only), answers and learns from each message, and writes outputs,
/// alerts and dead letters back to Kafka.
///
/// Exactly once (`output.mode: exactly-once`): everything a span of input produces is sent in one Kafka
/// transaction together with a progress record (the input offsets the span ends at) on the job's progress topic.
/// A snapshot is written only between transactions, with the offsets of the last committed one. A restart loads
/// the newest good snapshot, reads the last committed progress record, re-learns the messages between the two
/// without answering them (the job is deterministic, so its state is the same), and answers from there on.
///
/// One thread runs the loop (``run()``); ``requestStop()`` may be called from any thread.
public final class StreamRuntime: @unchecked Sendable {  // the loop's state belongs to the thread running run()
    public struct Options: Sendable {
        /// Stop gracefully once no input arrived for this long.
        public var exitWhenIdle: Duration?
        /// How often the status line is written.
        public var statusInterval: Duration = .seconds(5)
        /// Receives the status line (stderr in the CLI).
        public var status: @Sendable (String) -> Void = { _ in }

        public init() {}
    }

    /// What a run did.
    public struct Summary: Sendable {
        public var messages = 0
        public var answered = 0
        /// Messages re-learned without answering after a restart.
        public var replayed = 0
        public var deadLetters: [String: Int] = [:]
        public var transactions = 0
        public var snapshots = 0
        public var alerts = 0
        public var restoredFrom: String?
        public var counters: [(String, Int)] = []
        public var waiting = 0
    }

    public let configuration: RuntimeConfiguration
    public let options: Options
    let logger: Logger
    private let brokers: String
    private let stopRequested = Atomic<Bool>(false)

    // Set up by start(); used by the loop only.
    private var store: SnapshotStore!
    private var job: (any StreamJob)!
    private var producer: KafkaProducer!
    private var consumer: KafkaConsumer!
    private var output: RuntimeOutput!
    private var partitions: [TopicPartition] = []
    private var roles: [JobMessage.Role] = []
    /// Next offset to process, per partition (index into `partitions`).
    private var positions: [Int64] = []
    /// Messages below these offsets were answered by a committed transaction: re-learned silently.
    private var answeredThrough: [Int64] = []
    private var committed: [Int64] = []
    private var inTransaction = false
    private var transactionStart = ContinuousClock.now
    private var transactionMessages = 0
    private var messagesSinceSnapshot = 0
    private var lastSnapshot = ContinuousClock.now
    private var record = 0
    private var summary = Summary()

    public init(configuration: RuntimeConfiguration, brokers: String, options: Options = Options(), logger: Logger) {
        self.configuration = configuration
        self.brokers = brokers
        self.options = options
        self.logger = logger
    }

    /// Asks the loop to finish: the open transaction commits, a snapshot is written, clients close.
    public func requestStop() { stopRequested.store(true, ordering: .relaxed) }

    var exactlyOnce: Bool { configuration.output.mode == .exactlyOnce }

    // MARK: - Start

    private func start() throws {
        do {
            store = try SnapshotStore(directory: configuration.snapshots.directory, keepLast: configuration.snapshots.keep)
        } catch {
            throw RuntimeError(.snapshot, "snapshots.directory: \(error)")
        }
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: brokers)
        producerConfiguration.clientID = "streamlearn-\(configuration.name)"
        producerConfiguration.properties = configuration.kafka.properties
        producerConfiguration.linger = .milliseconds(exactlyOnce ? 5 : 1)
        if exactlyOnce { producerConfiguration.transactionalID = configuration.transactionalID }
        do {
            producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
            // Fences an older instance and aborts its open transaction, before the progress topic is read.
            if exactlyOnce { try producer.initTransactions(timeout: .seconds(60)) }
        } catch {
            throw RuntimeError(.kafka, "cannot start the producer: \(error)")
        }
        var consumerConfiguration = KafkaConsumerConfiguration(bootstrapServers: brokers, groupID: configuration.kafka.group)
        consumerConfiguration.clientID = "streamlearn-\(configuration.name)"
        var properties = configuration.kafka.properties
        properties["isolation.level"] = properties["isolation.level"] ?? "read_committed"
        // Offsets that fell out of the topic are an error to decide on, never a silent jump.
        properties["auto.offset.reset"] = "error"
        consumerConfiguration.properties = properties
        consumerConfiguration.maxBatchSize = 4096
        do {
            consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        } catch {
            throw RuntimeError(.kafka, "cannot start the consumer: \(error)")
        }
        try recover()
    }

    /// Loads the newest good snapshot, finds what committed transactions answered, and assigns every input
    /// partition from the snapshot's offsets. Used at start and after a transaction the brokers aborted.
    private func recover() throws {
        let (entry, refused) = store.newestGood()
        for error in refused { logger.warning("snapshot refused, using an older one: \(error)") }
        var snapshotOffsets: [TopicPartition: Int64] = [:]
        for case .kafka(let position) in entry?.header.positions ?? [] {
            snapshotOffsets[TopicPartition(position.topic, position.partition)] = position.offset
        }
        summary.restoredFrom = entry?.path
        let raiser = AlertRaiser(model: Alert.Model(name: configuration.name, version: "streamlearn"))
        output = RuntimeOutput(runtime: self)
        raiser.onAlert = { [unowned self] alert in self.output.alert(alert) }
        job = try makeJob(payload: entry?.payload, raiser: raiser)

        partitions = []
        roles = []
        for (topic, role) in [(configuration.topics.events, JobMessage.Role.requests)]
            + (configuration.topics.feedback.map { [($0, JobMessage.Role.feedback)] } ?? [])
        {
            let count: Int
            do {
                count = try producer.partitionCount(topic: topic, timeout: .seconds(30))
            } catch {
                throw RuntimeError(.kafka, "topics: cannot read topic '\(topic)': \(error)")
            }
            for partition in 0..<count {
                partitions.append(TopicPartition(topic, Int32(partition)))
                roles.append(role)
            }
        }
        let progress = exactlyOnce ? try readProgress() : [:]
        positions = []
        answeredThrough = []
        var lost: [String] = []
        for partition in partitions {
            let (low, high): (Int64, Int64)
            do {
                (low, high) = try consumer.watermarks(topic: partition.topic, partition: partition.partition, timeout: .seconds(30))
            } catch {
                throw RuntimeError(.kafka, "cannot read the offsets of \(partition): \(error)")
            }
            var start = snapshotOffsets[partition] ?? (configuration.kafka.start == .earliest ? low : high)
            if start < low {
                lost.append("\(partition): snapshot at offset \(start), oldest kept \(low) (\(low - start) message(s) lost)")
                switch configuration.kafka.onLostOffsets {
                case .fail: break
                case .earliest: start = low
                case .latest: start = high
                }
            }
            positions.append(start)
            answeredThrough.append(max(progress[partition] ?? start, start))
        }
        if !lost.isEmpty {
            try sendDataLossAlert(lost)
            if configuration.kafka.onLostOffsets == .fail {
                throw RuntimeError(
                    .lostOffsets,
                    "input offsets fell out of retention (kafka.on_lost_offsets: fail):\n  " + lost.joined(separator: "\n  ")
                        + "\nset kafka.on_lost_offsets to earliest or latest to continue without them")
            }
            logger.error("input offsets fell out of retention; continuing (kafka.on_lost_offsets): \(lost)")
        }
        committed = answeredThrough
        do {
            try consumer.assign(zip(partitions, positions).map { TopicPartitionOffset($0, offset: $1) })
        } catch {
            throw RuntimeError(.kafka, "cannot assign the input partitions: \(error)")
        }
        let behind = zip(answeredThrough, positions).reduce(0) { $0 + Int($1.0 - $1.1) }
        logger.info(
            "started", metadata: [
                "snapshot": "\(entry?.path ?? "none")", "partitions": "\(partitions.count)",
                "relearn": "\(behind)",
            ])
    }

    private func makeJob(payload: Data?, raiser: AlertRaiser) throws -> any StreamJob {
        do {
            switch configuration.job {
            case .scoring:
                let state = try payload.map { try Snapshot.decode(PipelineState.self, from: $0) }
                return try ScoringJob(configuration: configuration, state: state, store: store, raiser: raiser)
            case .bandit:
                return try BanditJob(configuration: configuration, payload: payload)
            case .reinforcement:
                return try ReinforcementJob(configuration: configuration, payload: payload)
            }
        } catch let error as LearningError {
            throw RuntimeError(.snapshot, "the snapshot in '\(configuration.snapshots.directory)' cannot be used: \(error)")
        }
    }

    /// The offsets of the last committed progress record (nothing when the topic is new).
    private func readProgress() throws -> [TopicPartition: Int64] {
        let topic = configuration.topics.progress
        var configuration = KafkaConsumerConfiguration(bootstrapServers: brokers, groupID: "\(self.configuration.kafka.group)-progress")
        configuration.properties = self.configuration.kafka.properties
        configuration.properties["isolation.level"] = "read_committed"
        configuration.properties["enable.partition.eof"] = "false"
        let reader: KafkaConsumer
        let (low, high): (Int64, Int64)
        do {
            reader = try KafkaConsumer(configuration: configuration, logger: logger)
            (low, high) = try reader.watermarks(topic: topic, partition: 0, timeout: .seconds(30))
        } catch {
            throw RuntimeError(.kafka, "topics.progress: cannot read '\(topic)': \(error)")
        }
        defer { try? reader.close(timeout: .seconds(5)) }
        guard high > low else { return [:] }
        var last: [UInt8]?
        do {
            // Each transaction adds one record and one commit marker; aborted ones add an abort marker.
            try reader.assign([TopicPartitionOffset(topic, 0, offset: max(low, high - 64))])
            // Read up to the end: the position passes aborted records and transaction markers too.
            let deadline = ContinuousClock.now + .seconds(30)
            while (reader.position(topic: topic, partition: 0) ?? low) < high {
                guard ContinuousClock.now < deadline else { throw KafkaError(.timedOut, "not read to its end within 30 s") }
                let messages: [KafkaMessage] = try reader.poll(timeout: .milliseconds(100))
                for message in messages { last = message.value }
            }
        } catch {
            throw RuntimeError(.kafka, "topics.progress: cannot read '\(topic)': \(error)")
        }
        guard let last else { return [:] }
        guard let record = try? JSONDecoder().decode(ProgressRecord.self, from: Data(last)) else {
            throw RuntimeError(.kafka, "topics.progress: the last record of '\(topic)' is not a progress record")
        }
        var offsets: [TopicPartition: Int64] = [:]
        for position in record.positions { offsets[TopicPartition(position.topic, position.partition)] = position.offset }
        return offsets
    }

    private func sendDataLossAlert(_ lost: [String]) throws {
        guard let topic = configuration.topics.alerts else { return }
        let alert = Alert(
            id: "\(configuration.name)/data-loss/input", kind: "data-loss", severity: .critical, state: .firing,
            detector: "offsets", feature: "input", value: Double(lost.count), threshold: 0,
            window: Alert.Window(start: 0, end: 0), model: Alert.Model(name: configuration.name, version: "streamlearn"),
            offsets: [:], at: Date())
        do {
            if exactlyOnce { try producer.beginTransaction() }
            try producer.send(topic: topic, key: alert.id, value: alert.jsonLine())
            if exactlyOnce { try producer.commitTransaction() } else { try producer.flush(timeout: .seconds(30)) }
        } catch {
            logger.error("cannot send the data-loss alert: \(error)")
        }
    }

    // MARK: - The loop

    /// Runs until ``requestStop()`` (or `exitWhenIdle`); then commits, snapshots and closes. Blocks.
    public func run() throws -> Summary {
        try start()
        var lastInput = ContinuousClock.now
        var lastStatus = ContinuousClock.now
        var statusMessages = (summary.messages, summary.answered)
        defer { closeClients() }
        while !stopRequested.load(ordering: .relaxed) {
            let budget = configuration.output.maxMessagesPerTransaction - transactionMessages
            let count = try poll(max: max(1, min(4096, budget)))
            let now = ContinuousClock.now
            if count > 0 { lastInput = now }
            try handleConsumerEvents()
            if inTransaction
                && (now - transactionStart >= configuration.output.commitInterval
                    || transactionMessages >= configuration.output.maxMessagesPerTransaction || count == 0)
            {
                try commit()
            }
            if !exactlyOnce && count == 0 { producer.poll() }
            if !inTransaction { try snapshotIfDue(force: nil) }
            if now - lastStatus >= options.statusInterval {
                let seconds = Double((now - lastStatus).components.seconds) + Double((now - lastStatus).components.attoseconds) * 1e-18
                options.status(statusLine(
                    inRate: Double(summary.messages - statusMessages.0) / seconds,
                    outRate: Double(summary.answered - statusMessages.1) / seconds))
                statusMessages = (summary.messages, summary.answered)
                lastStatus = now
            }
            if let idle = options.exitWhenIdle, now - lastInput >= idle { break }
        }
        if inTransaction { try commit() }
        try snapshotIfDue(force: .shutdown)
        summary.alerts = job.alerts
        summary.counters = job.counters
        summary.waiting = job.waiting
        return summary
    }

    private func poll(max: Int) throws -> Int {
        try consumer.poll(maxMessages: max, timeout: .milliseconds(50)) { batch in
            let received = ContinuousClock.now
            for message in batch {
                guard let index = partitionIndex(message) else { continue }
                let offset = message.offset
                guard offset >= positions[index] else { continue }  // already processed (a re-fetch)
                let answering = offset >= answeredThrough[index]
                if answering && exactlyOnce && !inTransaction {
                    try producer.beginTransaction()
                    inTransaction = true
                    transactionStart = received
                    transactionMessages = 0
                }
                output.suppressed = !answering
                record += 1
                summary.messages += 1
                if !answering { summary.replayed += 1 }
                let reason: DeadLetterReason?
                if message.value.count > configuration.output.maxMessageBytes {
                    reason = DeadLetterReason(
                        kind: "oversized", stage: .decode,
                        message: "message of \(message.value.count) bytes, over output.max_message_bytes (\(configuration.output.maxMessageBytes))")
                } else {
                    output.current = message
                    defer { output.current = nil }
                    reason = try job.process(
                        JobMessage(role: roles[index], value: message.value, record: record, offset: offset, received: received),
                        output)
                }
                if let failure = output.failure {
                    output.failure = nil
                    throw failure
                }
                if let reason {
                    summary.deadLetters[reason.kind, default: 0] += 1
                    if answering { try deadLetter(message, reason) }
                }
                positions[index] = offset + 1
                if answering { transactionMessages += 1 }
                messagesSinceSnapshot += 1
            }
        }
    }

    private var partitionLookup: [UInt: Int] = [:]

    private func partitionIndex(_ message: KafkaMessageView) -> Int? {
        let identity = message.topicIdentity
        let base: Int
        if let found = partitionLookup[identity] {
            base = found
        } else {
            let topic = message.topic
            guard let first = partitions.firstIndex(where: { $0.topic == topic }) else { return nil }
            partitionLookup[identity] = first
            base = first
        }
        let index = base + Int(message.partition)
        return index < partitions.count && partitions[index].partition == message.partition ? index : nil
    }

    private func deadLetter(_ message: KafkaMessageView, _ reason: DeadLetterReason) throws {
        try deadLetter(DeadLetterOrigin(message), reason)
    }

    func deadLetter(_ message: DeadLetterOrigin, _ reason: DeadLetterReason) throws {
        if exactlyOnce && !inTransaction {
            try producer.beginTransaction()
            inTransaction = true
            transactionStart = ContinuousClock.now
            transactionMessages = 0
        }
        var headers = message.headers
        headers.append(contentsOf: [
            KafkaHeader(name: "__connect.errors.topic", value: Array(message.topic.utf8)),
            KafkaHeader(name: "__connect.errors.partition", value: Array(String(message.partition).utf8)),
            KafkaHeader(name: "__connect.errors.offset", value: Array(String(message.offset).utf8)),
            KafkaHeader(name: "__connect.errors.exception.class.name", value: Array("streamlearn.\(reason.kind)".utf8)),
            KafkaHeader(name: "__connect.errors.exception.message", value: Array(reason.message.utf8)),
            KafkaHeader(name: "__connect.errors.stage", value: Array(reason.stage.utf8)),
        ])
        try producer.send(
            topic: configuration.topics.deadLetter, key: message.key, value: message.value, headers: headers,
            timestampMilliseconds: message.timestampMilliseconds)
    }

    private func handleConsumerEvents() throws {
        for event in consumer.takeEvents() {
            guard case .error(let error) = event else { continue }
            if error.isOffsetOutOfRange {
                // Retention overtook the position while running: the same decision as at start.
                try sendDataLossAlert([error.message])
                if configuration.kafka.onLostOffsets == .fail {
                    throw RuntimeError(.lostOffsets, "input offsets fell out of retention while running: \(error.message)")
                }
                try recoverAfterAbort(reason: "lost offsets: \(error.message)")
                return
            }
            if error.isFatal { throw RuntimeError(.kafka, "\(error)") }
            logger.debug("consumer: \(error.message)")
        }
    }

    // MARK: - Transactions and snapshots

    private func commit() throws {
        if exactlyOnce {
            var progress = ProgressRecord(positions: [])
            for (index, partition) in partitions.enumerated() {
                progress.positions.append(
                    KafkaPosition(topic: partition.topic, partition: partition.partition,
                                  offset: max(positions[index], answeredThrough[index])))
            }
            let bytes = (try? JSONEncoder().encode(progress)) ?? Data()
            var failure: KafkaError?
            do {
                try producer.send(topic: configuration.topics.progress, partition: 0, key: Array(configuration.name.utf8), value: Array(bytes))
                try producer.commitTransaction(timeout: .seconds(60))
            } catch {
                failure = error
            }
            if let failure {
                if failure.isFatal {
                    throw RuntimeError(.kafka, "the transaction failed and the producer cannot continue: \(failure)")
                }
                inTransaction = false
                try recoverAfterAbort(reason: "\(failure)")
                return
            }
            inTransaction = false
        }
        summary.transactions += 1
        for index in positions.indices { committed[index] = max(positions[index], answeredThrough[index]) }
    }

    /// A transaction was aborted (its outputs will never show): the state has moved past what Kafka holds, so
    /// start again from the newest snapshot and the last committed progress, as a restart would.
    private func recoverAfterAbort(reason: String) throws {
        logger.warning("transaction aborted; recovering from the newest snapshot: \(reason)")
        if exactlyOnce { try? producer.abortTransaction(timeout: .seconds(30)) }
        inTransaction = false
        partitionLookup = [:]
        try recover()
    }

    private func snapshotIfDue(force: SnapshotStore.Reason?) throws {
        let requested = job.takeSnapshotRequest()
        guard let reason = force ?? requested ?? (isPeriodicSnapshotDue ? .periodic : nil) else { return }
        if !exactlyOnce {
            // Never a snapshot ahead of what was delivered.
            try producer.flush(timeout: .seconds(60))
        }
        let payload: Data
        do {
            payload = try job.encodeState()
        } catch {
            throw RuntimeError(.snapshot, "cannot encode the state: \(error)")
        }
        let offsets = partitions.indices.map { index in
            SourcePosition.kafka(KafkaPosition(
                topic: partitions[index].topic, partition: partitions[index].partition, offset: positions[index]))
        }
        do {
            try store.write(payload, reason: reason, positions: offsets, at: Date())
        } catch {
            throw RuntimeError(.snapshot, "cannot write a snapshot: \(error)")
        }
        summary.snapshots += 1
        messagesSinceSnapshot = 0
        lastSnapshot = ContinuousClock.now
        // For monitoring only: the group's offsets follow the snapshots.
        try? consumer.commit(zip(partitions, positions).map { TopicPartitionOffset($0, offset: $1) }, timeout: .seconds(5))
        output.suppressed = false
        job.snapshotWritten(output)
        if inTransaction { try commit() }
    }

    private var isPeriodicSnapshotDue: Bool {
        guard messagesSinceSnapshot > 0 else { return false }
        if let every = configuration.snapshots.everyMessages, messagesSinceSnapshot >= every { return true }
        if let seconds = configuration.snapshots.everySeconds, ContinuousClock.now - lastSnapshot >= .seconds(seconds) {
            return true
        }
        return false
    }

    // MARK: - Output

    func send(topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer) throws {
        if exactlyOnce && !inTransaction {
            try producer.beginTransaction()
            inTransaction = true
            transactionStart = ContinuousClock.now
            transactionMessages = 0
        }
        try producer.send(topic: topic, key: key, value: value)
    }

    func answered() { summary.answered += 1 }

    func countDeadLetter(_ reason: DeadLetterReason) { summary.deadLetters[reason.kind, default: 0] += 1 }

    private func statusLine(inRate: Double, outRate: Double) -> String {
        var lag: Int64 = 0
        for (index, partition) in partitions.enumerated() {
            if let marks = consumer.cachedWatermarks(topic: partition.topic, partition: partition.partition) {
                lag += max(0, marks.high - positions[index])
            }
        }
        let dead = summary.deadLetters.values.reduce(0, +)
        return "run \(configuration.name): in \(Int(inRate))/s, out \(Int(outRate))/s, lag \(lag), "
            + "waiting \(job.waiting), alerts \(job.alerts), dead letters \(dead), snapshots \(summary.snapshots)"
    }

    private func closeClients() {
        do {
            try consumer?.close(timeout: .seconds(10))
        } catch {
            logger.warning("closing the consumer: \(error)")
        }
        if inTransaction { try? producer?.abortTransaction(timeout: .seconds(10)) }
        do {
            try producer?.close(timeout: .seconds(30))
        } catch {
            logger.warning("closing the producer: \(error)")
        }
    }
}

/// A consumed message kept whole for the dead-letter topic.
struct DeadLetterOrigin: Codable {
    var topic: String
    var partition: Int32
    var offset: Int64
    var key: [UInt8]?
    var value: [UInt8]
    var headers: [KafkaHeader]
    var timestampMilliseconds: Int64?

    init(_ message: KafkaMessageView) {
        topic = message.topic
        partition = message.partition
        offset = message.offset
        key = message.key.map { Array($0) }
        value = Array(message.value)
        headers = message.headers
        timestampMilliseconds = message.timestampMilliseconds
    }
}

/// The offsets a committed transaction's outputs cover, one record per transaction on the progress topic.
struct ProgressRecord: Codable {
    var positions: [KafkaPosition]
}

/// The job's ``JobOutput``: writes into the runtime's producer, or nothing while a re-learned message is processed.
final class RuntimeOutput: JobOutput {
    unowned let runtime: StreamRuntime
    var suppressed = false
    /// The message being processed.
    var current: KafkaMessageView?
    /// A send that failed inside a job's call, rethrown by the runtime after it.
    var failure: (any Error)?

    init(runtime: StreamRuntime) { self.runtime = runtime }

    func answer(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard !suppressed else { return }
        do {
            try runtime.send(topic: runtime.configuration.topics.outputs, key: key, value: value)
            runtime.answered()
        } catch {
            failure = error
        }
    }

    func publish(topic: String, key: String, value: [UInt8]) {
        guard !suppressed else { return }
        var key = key
        key.withUTF8 { keyBytes in
            value.withUnsafeBytes { valueBytes in
                do {
                    try runtime.send(topic: topic, key: UnsafeRawBufferPointer(keyBytes), value: valueBytes)
                } catch {
                    failure = error
                }
            }
        }
    }

    func origin() -> [UInt8] {
        guard let current else { return [] }
        return (try? Array(JSONEncoder().encode(DeadLetterOrigin(current)))) ?? []
    }

    func deadLetter(origin: [UInt8], _ reason: DeadLetterReason) {
        runtime.countDeadLetter(reason)
        guard !suppressed, let message = try? JSONDecoder().decode(DeadLetterOrigin.self, from: Data(origin)) else { return }
        do {
            try runtime.deadLetter(message, reason)
        } catch {
            failure = error
        }
    }

    func alert(_ alert: Alert) {
        guard let topic = runtime.configuration.topics.alerts else { return }
        publish(topic: topic, key: alert.id, value: Array(alert.jsonLine().utf8))
    }
}
