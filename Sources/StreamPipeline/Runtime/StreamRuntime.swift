public import Alerting
import DriftDetection
public import Foundation
public import Logging
public import OnlineLearning
public import StreamCore
public import StreamKafka
import Synchronization
import Prometheus

/// Why the runtime stopped or could not start; the message names the key, topic, partition or file at fault.
public struct RuntimeError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case configuration
        case snapshot
        case kafka
        /// A snapshot's offset is no longer in its partition and `kafka.on_lost_offsets` is `fail`.
        case lostOffsets = "lost-offsets"
        /// The ops endpoint cannot listen on its address.
        case ops
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
/// Exactly once (`output.mode: exactly-once`): outputs are sent in Kafka transactions, each output carrying the
/// input message it answers in a `streamlearn.source` header (`name/topic:partition:offset`) and going to a partition chosen by its key. A
/// snapshot is written only between transactions, with the input offsets and where each output partition ended.
/// A restart loads the newest good snapshot, reads what its outputs partitions received since (with
/// `read_committed`), and re-learns the messages from the snapshot on without sending again any output already
/// there: per output partition, outputs arrive in input order, so the newest source seen there tells which
/// answers it already holds. The job is deterministic, so the state, and each answer, is the same as an
/// uninterrupted run's. This holds whether or not the brokers abort a crashed instance's open transaction (Kafka
/// does when the next instance starts; the embedded broker leaves its delivered messages visible).
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
        /// From the first message received to the last one's processing (start-up and idle time excluded).
        public var busy: Duration = .zero
    }

    public let configuration: RuntimeConfiguration
    public let options: Options
    /// What the ops endpoint shows: phase, recovery progress, the model.
    public let status = RuntimeStatus()
    /// The Prometheus registry of everything the runtime measures.
    public let metrics: RuntimeMetrics
    let logger: Logger
    /// Alertmanager, when configured: every alert raised (not those raised again while re-learning).
    private let alertmanager: (dispatcher: AlertDispatcher, sink: AlertmanagerSink)?
    /// Counts since the last flush into ``metrics``.
    private var delta = RuntimeMetrics.Delta()
    /// Messages read per input partition since the last flush.
    private var consumed: [Int] = []
    private var lastFlush = ContinuousClock.now
    /// The path of the snapshot written or restored last.
    private var newestSnapshot: String?
    private var lastPublish = ContinuousClock.now
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
    /// Output partitions per output topic.
    private var outputPartitions: [String: Int] = [:]
    /// Per output partition, the newest input offset (per input partition) it already holds an answer for:
    /// answers to older inputs are not sent again.
    private var delivered: [TopicPartition: [Int64]] = [:]
    /// Per input partition, the newest offset any output partition already holds an answer for.
    private var deliveredThrough: [Int64] = []
    /// The input message being processed (index into `partitions`, offset), for the outputs' source.
    private var currentSource: (index: Int, offset: Int64)?
    private var inTransaction = false
    private var transactionStart = ContinuousClock.now
    private var transactionMessages = 0
    private var messagesSinceSnapshot = 0
    private var lastSnapshot = ContinuousClock.now
    private var record = 0
    private var summary = Summary()

    /// `generatorURL`: where alerts sent to Alertmanager point (the ops endpoint's `/model`).
    public init(
        configuration: RuntimeConfiguration, brokers: String, options: Options = Options(), logger: Logger,
        generatorURL: URL? = nil
    ) {
        self.configuration = configuration
        self.brokers = brokers
        self.options = options
        self.logger = logger
        metrics = RuntimeMetrics(job: configuration.name)
        alertmanager = configuration.alertmanager.map { settings in
            let sink = AlertmanagerSink(
                base: settings.url, timeout: settings.timeout, resendInterval: settings.resendInterval,
                generatorURL: generatorURL, logger: logger)
            return (AlertDispatcher(sinks: [sink], logger: logger), sink)
        }
    }

    /// Where alerts sent to Alertmanager point, once the ops endpoint listens (`http://host:port/model`).
    public func setGeneratorURL(_ url: URL) { alertmanager?.sink.generatorURL = url }

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
        producerConfiguration.linger = .milliseconds(20)
        if exactlyOnce { producerConfiguration.transactionalID = configuration.transactionalID }
        do {
            producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
            // Fences an older instance (Kafka aborts its open transaction) before the outputs are read.
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
        // An answer waits for its request's fetch: a fetch that found nothing is answered after this long by a
        // broker that does not wake it when data arrives (the embedded one); Kafka answers as soon as data is there.
        properties["fetch.wait.max.ms"] = properties["fetch.wait.max.ms"] ?? "10"
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
        for topic in outputTopics where configuration.inputTopics.contains(topic) {
            throw RuntimeError(.configuration, "topics: '\(topic)' is both an input and an output")
        }
        summary.restoredFrom = entry?.path
        newestSnapshot = entry?.path
        status.set(.recovering)
        let raiser = AlertRaiser(
            model: Alert.Model(name: configuration.name, version: "streamlearn"),
            metrics: DriftMetrics(model: configuration.name, registry: metrics.registry))
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
        positions = []
        consumed = Array(repeating: 0, count: partitions.count)
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
        try readDelivered(since: snapshotOffsets)
        feedbackPaused = false
        do {
            try consumer.assign(zip(partitions, positions).map { TopicPartitionOffset($0, offset: $1) })
        } catch {
            throw RuntimeError(.kafka, "cannot assign the input partitions: \(error)")
        }
        let behind = relearnRemaining
        status.set(behind > 0 ? .relearning : .running, remaining: behind)
        status.publish(job.liveModel())
        lastPublish = .now
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

    /// Messages to learn again before answering again (their answers are already out).
    private var relearnRemaining: Int {
        zip(deliveredThrough, positions).reduce(0) { $0 + max(0, Int($1.0 + 1 - $1.1)) }
    }

    private var outputTopics: [String] {
        [configuration.topics.outputs, configuration.topics.deadLetter, configuration.topics.alerts,
         configuration.topics.policy].compactMap { $0 }
    }

    /// Reads what the output partitions received since the snapshot (exactly-once mode): the newest source each
    /// holds, per input partition.
    private func readDelivered(since snapshot: [TopicPartition: Int64]) throws {
        outputPartitions = [:]
        delivered = [:]
        deliveredThrough = Array(repeating: -1, count: partitions.count)
        for topic in outputTopics {
            do {
                outputPartitions[topic] = try producer.partitionCount(topic: topic, timeout: .seconds(30))
            } catch {
                throw RuntimeError(.kafka, "topics: cannot read topic '\(topic)': \(error)")
            }
        }
        guard exactlyOnce else { return }
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: brokers, groupID: "\(self.configuration.kafka.group)-outputs")
        configuration.properties = self.configuration.kafka.properties
        configuration.properties["isolation.level"] = "read_committed"
        let inputIndex = Dictionary(uniqueKeysWithValues: partitions.enumerated().map { ("\($1.topic):\($1.partition)", $0) })
        let jobPrefix = "\(self.configuration.name)/"
        do {
            let reader = try KafkaConsumer(configuration: configuration, logger: logger)
            defer { try? reader.close(timeout: .seconds(5)) }
            var ends: [TopicPartition: Int64] = [:]
            var starts: [TopicPartitionOffset] = []
            for (topic, count) in outputPartitions {
                for partition in 0..<Int32(count) {
                    let key = TopicPartition(topic, partition)
                    let (low, high) = try reader.watermarks(topic: topic, partition: partition, timeout: .seconds(30))
                    let start = max(low, snapshot[key] ?? low)
                    if high > start {
                        ends[key] = high
                        starts.append(TopicPartitionOffset(key, offset: start))
                    }
                }
            }
            guard !starts.isEmpty else { return }
            try reader.assign(starts)
            let deadline = ContinuousClock.now + .seconds(120)
            while !ends.isEmpty {
                guard ContinuousClock.now < deadline else { throw KafkaError(.timedOut, "outputs not read to their end within 120 s") }
                try reader.poll(timeout: .milliseconds(100)) { batch in
                    for message in batch {
                        guard let source = message.headers.first(where: { $0.name == sourceHeader })?.value else { continue }
                        let text = String(decoding: source, as: UTF8.self)
                        // Another job's answer (outputs topics may be shared) is not this job's.
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
                for key in Array(ends.keys) where (reader.position(topic: key.topic, partition: key.partition) ?? 0) >= ends[key]! {
                    ends[key] = nil
                }
            }
        } catch {
            throw RuntimeError(.kafka, "cannot read the outputs already sent: \(error)")
        }
    }

    private func sendDataLossAlert(_ lost: [String]) throws {
        guard let topic = configuration.topics.alerts else { return }
        // Its own transaction: what was processed so far commits first.
        if inTransaction { try commit() }
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
            // A transaction covers at most max_messages_per_transaction input messages.
            let budget = configuration.output.maxMessagesPerTransaction - (inTransaction ? transactionMessages : 0)
            let count = try poll(max: max(1, min(4096, budget)))

            let now = ContinuousClock.now
            if count > 0 { lastInput = now }
            try handleConsumerEvents()
            try alignFeedback()
            if inTransaction
                && (now - transactionStart >= configuration.output.commitInterval
                    || transactionMessages >= configuration.output.maxMessagesPerTransaction || count == 0)
            {
                try commit()
            }
            // Delivery reports: a message counts against the producer's queue until its report is served.
            producer.poll()
            if !inTransaction { try snapshotIfDue(force: nil) }
            if now - lastStatus >= options.statusInterval {
                let seconds = Double((now - lastStatus).components.seconds) + Double((now - lastStatus).components.attoseconds) * 1e-18
                options.status(statusLine(
                    inRate: Double(summary.messages - statusMessages.0) / seconds,
                    outRate: Double(summary.answered - statusMessages.1) / seconds))
                statusMessages = (summary.messages, summary.answered)
                lastStatus = now
            }
            if now - lastFlush >= .milliseconds(250) { flushMetrics(now: now) }
            if let idle = options.exitWhenIdle, now - lastInput >= idle { break }
        }
        status.set(.stopping)
        if inTransaction { try commit() }
        try snapshotIfDue(force: .shutdown)
        flushMetrics(now: .now)
        if let alertmanager {
            alertmanager.dispatcher.finish(within: .seconds(10))
            alertmanager.sink.close()
        }
        summary.alerts = job.alerts
        summary.counters = job.counters
        summary.waiting = job.waiting
        return summary
    }

    private func poll(max: Int) throws -> Int {
        // What is already fetched, at once; when nothing is, a wait (of up to 50 ms) for the first message only: a
        // batch poll with a timeout waits for a full batch, holding back the messages it already has.
        let count = try poll(max: max, timeout: .zero)
        return count > 0 ? count : try poll(max: 1, timeout: .milliseconds(50))
    }

    private func poll(max: Int, timeout: Duration) throws -> Int {
        try consumer.poll(maxMessages: max, timeout: timeout) { batch in
            let received = ContinuousClock.now
            if firstMessage == nil { firstMessage = received }
            defer { summary.busy = ContinuousClock.now - firstMessage! }
            for message in batch {
                guard let index = partitionIndex(message) else { continue }
                let offset = message.offset
                guard offset >= positions[index] else { continue }  // already processed (a re-fetch)
                currentSource = (index, offset)
                consumed[index] += 1
                record += 1
                summary.messages += 1
                if offset <= deliveredThrough[index] {
                    summary.replayed += 1
                    delta.relearned += 1
                }
                let reason: DeadLetterReason?
                if message.value.count > configuration.output.maxMessageBytes {
                    reason = DeadLetterReason(
                        kind: "oversized", stage: .decode,
                        message: "message of \(message.value.count) bytes, over output.max_message_bytes (\(configuration.output.maxMessageBytes))")
                } else {
                    output.current = message
                    defer { output.current = nil }
                    reason = try job.process(
                        JobMessage(
                            role: roles[index], value: message.value, record: record, topic: partitions[index].topic,
                            partition: message.partition, offset: offset, received: received),
                        output)
                }
                if let failure = output.failure {
                    output.failure = nil
                    throw failure
                }
                if let reason {
                    summary.deadLetters[reason.kind, default: 0] += 1
                    delta.deadLetters[reason.kind, default: 0] += 1
                    try deadLetter(message, reason)
                }
                currentSource = nil
                (roles[index] == .requests ? metrics.scoreLatency : metrics.learnLatency).record(ContinuousClock.now - received)
                positions[index] = offset + 1
                transactionMessages += 1
                messagesSinceSnapshot += 1
            }
        }
    }

    private var partitionLookup: [UInt: Int] = [:]
    private var firstMessage: ContinuousClock.Instant?


    private var feedbackPaused = false

    /// Labels read far ahead of their events would pile up waiting: while more than 1,000 wait and the events
    /// topic has messages not read yet, the feedback topic is paused.
    private func alignFeedback() throws {
        let held = job.heldFeedback
        if !feedbackPaused && held <= 1_000 { return }
        var requestsBehind = false
        for (index, partition) in partitions.enumerated() where roles[index] == .requests {
            if let marks = consumer.cachedWatermarks(topic: partition.topic, partition: partition.partition),
                marks.high > positions[index]
            {
                requestsBehind = true
                break
            }
        }
        let feedback = partitions.indices.filter { roles[$0] == .feedback }.map { partitions[$0] }
        if !feedbackPaused && held > 1_000 && requestsBehind {
            try consumer.pause(feedback)
            feedbackPaused = true
        } else if feedbackPaused && (held < 500 || !requestsBehind) {
            try consumer.resume(feedback)
            feedbackPaused = false
        }
    }

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
        var headers = message.headers
        headers.append(contentsOf: [
            KafkaHeader(name: "__connect.errors.topic", value: Array(message.topic.utf8)),
            KafkaHeader(name: "__connect.errors.partition", value: Array(String(message.partition).utf8)),
            KafkaHeader(name: "__connect.errors.offset", value: Array(String(message.offset).utf8)),
            KafkaHeader(name: "__connect.errors.exception.class.name", value: Array("streamlearn.\(reason.kind)".utf8)),
            KafkaHeader(name: "__connect.errors.exception.message", value: Array(reason.message.utf8)),
            KafkaHeader(name: "__connect.errors.stage", value: Array(reason.stage.utf8)),
        ])
        try send(
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
            var failure: KafkaError?
            do {
                try producer.commitTransaction(timeout: .seconds(60))
            } catch {
                failure = error
            }
            inTransaction = false
            transactionMessages = 0
            if let failure {
                if failure.isFatal {
                    throw RuntimeError(.kafka, "the transaction failed and the producer cannot continue: \(failure)")
                }
                try recoverAfterAbort(reason: "\(failure)")
                return
            }
        }
        summary.transactions += 1
        delta.transactions += 1
    }

    /// A transaction was aborted (its outputs will never show): the state has moved past what Kafka holds, so
    /// start again from the newest snapshot and what the outputs already hold, as a restart would.
    private func recoverAfterAbort(reason: String) throws {
        logger.warning("transaction aborted; recovering from the newest snapshot: \(reason)")
        if exactlyOnce { try? producer.abortTransaction(timeout: .seconds(30)) }
        inTransaction = false
        partitionLookup = [:]
        try recover()
    }

    private func snapshotIfDue(force: SnapshotStore.Reason?) throws {
        // Not while re-learning messages whose answers are already out: the snapshot would not say which.
        guard zip(positions, deliveredThrough).allSatisfy({ $0 > $1 }) else { return }
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
        var offsets = partitions.indices.map { index in
            SourcePosition.kafka(KafkaPosition(
                topic: partitions[index].topic, partition: partitions[index].partition, offset: positions[index]))
        }
        if exactlyOnce {
            // Where each output partition ends: a restart reads what came after.
            for (topic, count) in outputPartitions.sorted(by: { $0.key < $1.key }) {
                for partition in 0..<Int32(count) {
                    do {
                        let (_, high) = try consumer.watermarks(topic: topic, partition: partition, timeout: .seconds(30))
                        offsets.append(.kafka(KafkaPosition(topic: topic, partition: partition, offset: high)))
                    } catch {
                        throw RuntimeError(.kafka, "cannot read the end of \(topic)[\(partition)]: \(error)")
                    }
                }
            }
        }
        do {
            newestSnapshot = try store.write(payload, reason: reason, positions: offsets, at: Date())
        } catch {
            throw RuntimeError(.snapshot, "cannot write a snapshot: \(error)")
        }
        summary.snapshots += 1
        delta.snapshots += 1
        messagesSinceSnapshot = 0
        lastSnapshot = ContinuousClock.now
        // For monitoring only: the group's offsets follow the snapshots.
        try? consumer.commit(zip(partitions, positions).map { TopicPartitionOffset($0, offset: $1) }, timeout: .seconds(5))
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
        topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, headers: [KafkaHeader] = [],
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
        var headers = headers
        if exactlyOnce, let source = currentSource {
            let input = partitions[source.index]
            headers.append(KafkaHeader(
                name: sourceHeader, value: Array("\(configuration.name)/\(input.topic):\(input.partition):\(source.offset)".utf8)))
        }
        try producer.send(
            topic: topic, partition: partition, key: key, value: value, headers: headers,
            timestampMilliseconds: timestampMilliseconds)
        delta.messagesOut[topic, default: 0] += 1
        return true
    }

    func send(
        topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader], timestampMilliseconds: Int64?
    ) throws {
        try value.withUnsafeBytes { valueBytes in
            if let key {
                try key.withUnsafeBytes { keyBytes in
                    try send(topic: topic, key: keyBytes, value: valueBytes, headers: headers, timestampMilliseconds: timestampMilliseconds)
                }
            } else {
                try send(topic: topic, key: nil, value: valueBytes, headers: headers, timestampMilliseconds: timestampMilliseconds)
            }
        }
    }

    func answered() { summary.answered += 1 }

    func countDeadLetter(_ reason: DeadLetterReason) {
        summary.deadLetters[reason.kind, default: 0] += 1
        delta.deadLetters[reason.kind, default: 0] += 1
    }

    /// Alertmanager gets every alert but those raised again while re-learning (already sent).
    func notifyAlertmanager(_ alert: Alert) {
        guard let alertmanager else { return }
        if let source = currentSource, source.offset <= deliveredThrough[source.index] { return }
        alertmanager.dispatcher.dispatch(alert)
    }

    /// Hands the counts to the registry, the model to `POST /score` when due, and the `/model` document over.
    private func flushMetrics(now: ContinuousClock.Instant) {
        lastFlush = now
        for index in partitions.indices where consumed[index] > 0 {
            delta.messagesIn[partitions[index].topic, default: 0] += consumed[index]
            consumed[index] = 0
        }
        delta.lag = partitions.indices.compactMap { index in
            consumer.cachedWatermarks(topic: partitions[index].topic, partition: partitions[index].partition).map {
                (partitions[index].topic, partitions[index].partition, max(0, $0.high - positions[index]))
            }
        }
        if summary.snapshots > 0 || summary.restoredFrom != nil {
            let age = now - lastSnapshot
            delta.snapshotAgeSeconds = Double(age.components.seconds) + Double(age.components.attoseconds) * 1e-18
        }
        delta.joinWaiting = job.waiting
        delta.heldFeedback = job.heldFeedback
        delta.modelVersion = job.modelVersion
        delta.partitions = partitions.count
        metrics.flush(delta)
        delta = RuntimeMetrics.Delta()
        let remaining = relearnRemaining
        let phase: RuntimeStatus.Phase = remaining > 0 ? .relearning : .running
        if now - lastPublish >= configuration.ops.modelRefresh {
            status.publish(job.liveModel())
            lastPublish = now
        }
        status.set(phase, remaining: remaining)
        status.loopTurned(model: modelDocument(phase: phase))
    }

    /// `/model`: the job, its version, newest snapshot, partitions and recent figures.
    private func modelDocument(phase: RuntimeStatus.Phase) -> [UInt8] {
        var document: [String: Any] = [
            "name": configuration.name, "job": configuration.job.rawValue, "model_version": job.modelVersion,
            "phase": phase.rawValue, "assignment": configuration.kafka.assignment.rawValue,
            "partitions": partitions.indices.map { ["topic": partitions[$0].topic, "partition": Int(partitions[$0].partition), "next_offset": positions[$0]] },
            "snapshot": newestSnapshot ?? NSNull(), "restored_from": summary.restoredFrom ?? NSNull(),
            "alerts": job.alerts, "waiting": job.waiting,
        ]
        var figures: [String: Any] = [:]
        for (name, value) in job.recentMetrics where value.isFinite { figures[name] = value }
        for (name, value) in job.counters { figures[name] = value }
        document["metrics"] = figures
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Array(data)
    }

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

/// A consumed message kept whole for the dead-letter topic, in a compact binary form (kept with each label that
/// waits for its event, so encoding it must be cheap).
struct DeadLetterOrigin {
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

    /// The message's bytes: topic, partition, offset, timestamp, key, value and headers, length-prefixed.
    static func encode(_ message: KafkaMessageView) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(message.value.count + (message.key?.count ?? 0) + 64)
        func integer<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        func blob(_ data: UnsafeRawBufferPointer?) {
            guard let data else { return integer(Int32(-1)) }
            integer(Int32(data.count))
            bytes.append(contentsOf: data)
        }
        var topic = message.topic
        topic.withUTF8 { blob(UnsafeRawBufferPointer($0)) }
        integer(message.partition)
        integer(message.offset)
        integer(message.timestampMilliseconds ?? .min)
        blob(message.key)
        blob(message.value)
        let headers = message.headers
        integer(Int32(headers.count))
        for header in headers {
            var name = header.name
            name.withUTF8 { blob(UnsafeRawBufferPointer($0)) }
            if let value = header.value { value.withUnsafeBytes { blob($0) } } else { blob(nil) }
        }
        return bytes
    }

    init?(decoding bytes: [UInt8]) {
        var position = 0
        func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard position + MemoryLayout<T>.size <= bytes.count else { return nil }
            var value = T.zero
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes[position..<position + MemoryLayout<T>.size]) }
            position += MemoryLayout<T>.size
            return T(littleEndian: value)
        }
        func blob() -> [UInt8]?? {
            guard let length = integer(Int32.self) else { return nil }
            if length < 0 { return .some(nil) }
            guard position + Int(length) <= bytes.count else { return nil }
            defer { position += Int(length) }
            return .some(Array(bytes[position..<position + Int(length)]))
        }
        guard let topic = blob(), let topic, let partition = integer(Int32.self), let offset = integer(Int64.self),
            let timestamp = integer(Int64.self), let key = blob(), let value = blob(), let value,
            let count = integer(Int32.self), count >= 0
        else { return nil }
        var headers: [KafkaHeader] = []
        for _ in 0..<count {
            guard let name = blob(), let name, let headerValue = blob() else { return nil }
            headers.append(KafkaHeader(name: String(decoding: name, as: UTF8.self), value: headerValue))
        }
        self.topic = String(decoding: topic, as: UTF8.self)
        self.partition = partition
        self.offset = offset
        self.timestampMilliseconds = timestamp == .min ? nil : timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// The header naming the job and the input message an output answers (`name/topic:partition:offset`).
let sourceHeader = "streamlearn.source"

/// The job's ``JobOutput``: writes into the runtime's producer, or nothing while a re-learned message is processed.
final class RuntimeOutput: JobOutput {
    unowned let runtime: StreamRuntime
    /// The message being processed.
    var current: KafkaMessageView?
    /// A send that failed inside a job's call, rethrown by the runtime after it.
    var failure: (any Error)?

    init(runtime: StreamRuntime) { self.runtime = runtime }

    func answer(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        do {
            if try runtime.send(topic: runtime.configuration.topics.outputs, key: key, value: value) { runtime.answered() }
        } catch {
            failure = error
        }
    }

    func publish(topic: String, key: String, value: [UInt8]) {
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
        return DeadLetterOrigin.encode(current)
    }

    func deadLetter(origin: [UInt8], _ reason: DeadLetterReason) {
        runtime.countDeadLetter(reason)
        guard let message = DeadLetterOrigin(decoding: origin) else { return }
        do {
            try runtime.deadLetter(message, reason)
        } catch {
            failure = error
        }
    }

    func alert(_ alert: Alert) {
        runtime.notifyAlertmanager(alert)
        guard let topic = runtime.configuration.topics.alerts else { return }
        publish(topic: topic, key: alert.id, value: Array(alert.jsonLine().utf8))
    }
}
