import Alerting
import DriftDetection
import Foundation
import Logging
import OnlineLearning
import Prometheus
import StreamCore
import StreamKafka

/// One unit of state and work: a job over some input partitions, with its own snapshots, its own transactional
/// producer and its own bookkeeping of what its outputs already hold. With `kafka.assignment: all` one task reads
/// every partition; with `group` there is a task per partition number (partition p of the requests topic with
/// partition p of the feedback topic), and a rebalance moves tasks whole between instances.
///
/// Exactly once (`output.mode: exactly-once`): outputs are sent in Kafka transactions, each output carrying the
/// input message it answers in a `streamlearn.source` header (`name/topic:partition:offset`) and going to a
/// partition chosen by its key. A snapshot is written only between transactions, with the input offsets and where
/// each output partition ended. Recovery loads the newest good snapshot, reads what the output partitions
/// received since (with `read_committed`), and re-learns the messages from the snapshot on without sending again
/// any output already there: per output partition, a task's outputs arrive in input order, so the newest source
/// seen there tells which answers it already holds. The job is deterministic, so the state, and each answer, is
/// the same as an uninterrupted run's. This holds whether or not the brokers abort a crashed instance's open
/// transaction (Kafka does when the next owner starts its producer; the embedded broker leaves its delivered
/// messages visible).
final class RuntimeTask {
    /// The runtime outlives its tasks (it closes them before it ends).
    unowned(unsafe) let runtime: StreamRuntime
    /// The partition number the task owns (`group`), or `nil` for every partition (`all`).
    let number: Int?
    let store: SnapshotStore
    let producer: KafkaProducer
    let waits: KafkaWaits
    var job: (any StreamJob)!
    var output: RuntimeOutput!
    let partitions: [TopicPartition]
    let roles: [JobMessage.Role]
    /// Next offset to process, per partition (index into `partitions`).
    var positions: [Int64] = []
    /// Messages read per partition since the last metrics flush.
    var consumed: [Int]
    /// Output partitions per output topic.
    private var outputPartitions: [String: Int] = [:]
    /// Per output partition, the newest input offset (per input partition) it already holds an answer for:
    /// answers to older inputs are not sent again.
    private var delivered: [TopicPartition: [Int64]] = [:]
    /// Per input partition, the newest offset any output partition already holds an answer for.
    private(set) var deliveredThrough: [Int64] = []
    /// The input message being processed (index into `partitions`, offset), for the outputs' source.
    private var currentSource: (index: Int, offset: Int64)?
    private(set) var inTransaction = false
    private var transactionStart = ContinuousClock.now
    private(set) var transactionMessages = 0
    private var messagesSinceSnapshot = 0
    private(set) var lastSnapshot = ContinuousClock.now
    private var record = 0
    var summary = StreamRuntime.Summary()
    /// Answers sent since the last metrics flush.
    var answersSent = 0
    /// The path of the snapshot written or restored last.
    private(set) var newestSnapshot: String?
    /// The input paused to keep requests and feedback in step (``alignInputs(_:)``), if one is.
    private var paused: JobMessage.Role?
    /// Whether the task reads a feedback partition of its own (requests and feedback on two topics).
    private let hasFeedbackPartition: Bool
    /// Events the join may hold before one expires: `join.capacity`, or `join.max_age_messages` when smaller.
    private let eventRoom: Int
    /// Positions moved past lost messages: the next snapshot is written at once, so no snapshot keeps the gap.
    private var snapshotAfterLoss = false

    var configuration: RuntimeConfiguration { runtime.configuration }
    // Read per message: kept here rather than copied out of the configuration each time.
    let exactlyOnce: Bool
    let maxMessageBytes: Int
    /// The largest message the producer takes (`message.max.bytes`, librdkafka's default 1,000,000), less the
    /// record's framing: a dead letter is cut to fit it.
    let maxProducedBytes: Int
    let outputsTopic: String
    private let jobName: String
    private var logger: Logger { runtime.logger }
    /// The name in alerts and logs: the job's, with the partition number in `group`.
    var modelName: String { number.map { "\(configuration.name)-p\($0)" } ?? configuration.name }

    /// Opens the task's snapshot store and producer (fencing the task's previous owner).
    init(runtime: StreamRuntime, number: Int?, partitions: [TopicPartition], roles: [JobMessage.Role]) throws {
        self.runtime = runtime
        self.number = number
        self.partitions = partitions
        self.roles = roles
        consumed = Array(repeating: 0, count: partitions.count)
        let configuration = runtime.configuration
        hasFeedbackPartition = roles.contains(.feedback)
        eventRoom = max(2, min(configuration.join.capacity, configuration.join.maxAgeMessages ?? .max))
        exactlyOnce = configuration.output.mode == .exactlyOnce
        maxMessageBytes = configuration.output.maxMessageBytes
        maxProducedBytes = (configuration.kafka.properties["message.max.bytes"].flatMap { Int($0) } ?? 1_000_000) - 512
        outputsTopic = configuration.topics.outputs
        jobName = configuration.name
        let directory = number.map { "\(configuration.snapshots.directory)/p\($0)" } ?? configuration.snapshots.directory
        do {
            store = try SnapshotStore(directory: directory, keepLast: configuration.snapshots.keep)
        } catch {
            throw RuntimeError(.snapshot, "snapshots.directory: \(error)")
        }
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: runtime.brokers)
        producerConfiguration.clientID = "streamlearn-\(configuration.name)"
        producerConfiguration.properties = configuration.kafka.properties
        producerConfiguration.linger = configuration.output.linger
        let exactlyOnce = configuration.output.mode == .exactlyOnce
        if exactlyOnce {
            producerConfiguration.transactionalID = configuration.transactionalID + (number.map { "-p\($0)" } ?? "")
        }
        waits = runtime.waits
        do {
            producer = try KafkaProducer(configuration: producerConfiguration, logger: runtime.logger)
        } catch {
            throw RuntimeError.kafka(error, "cannot start the producer")
        }
        // Fences an older owner (Kafka aborts its open transaction) before the outputs are read.
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

    // MARK: - Recovery

    /// Loads the newest good snapshot, finds what committed transactions answered, and returns where each input
    /// partition starts. Used when the task starts and after a transaction the brokers aborted.
    func recover(consumer: KafkaConsumer) throws -> [TopicPartitionOffset] {
        let raiser = AlertRaiser(
            model: Alert.Model(name: modelName, version: "streamlearn"),
            metrics: DriftMetrics(model: modelName, registry: runtime.metrics.registry))
        output = RuntimeOutput(task: self)
        raiser.onAlert = { [unowned self] alert in self.output.alert(alert) }
        raiser.onReading = runtime.options.onReading
        // The newest snapshot that is this job's and loads; each one refused on the way is named with why.
        var refused: [SnapshotStoreError] = []
        let found = try store.newestUsable(refused: &refused) { entry throws -> Result<any StreamJob, SnapshotStoreError> in
            do {
                try checkIdentity(entry)
                return .success(try makeJob(payload: entry.payload, raiser: raiser, path: entry.path))
            } catch let refusal as SnapshotStoreError {
                return .failure(refusal)
            }
        }
        for error in refused { logger.warning("snapshot refused: \(error)") }
        if found == nil && !refused.isEmpty {
            throw RuntimeError(
                .noUsableSnapshot,
                "no usable snapshot in '\(store.directory)':\n  " + refused.map(\.description).joined(separator: "\n  ")
                    + "\nmove these files away to start a new model from kafka.start")
        }
        let entry = found?.entry
        var snapshotOffsets: [TopicPartition: Int64] = [:]
        for case .kafka(let position) in entry?.header.positions ?? [] {
            snapshotOffsets[TopicPartition(position.topic, position.partition)] = position.offset
        }
        summary.restoredFrom = entry?.path
        newestSnapshot = entry?.path
        job = try found?.value ?? makeJob(payload: nil, raiser: raiser, path: nil)

        positions = []
        var lost: [LostRange] = []
        for partition in partitions {
            let (low, high) = try waits.retrying("cannot read the offsets of \(partition)") { timeout throws(KafkaError) in
                try consumer.watermarks(topic: partition.topic, partition: partition.partition, timeout: timeout)
            }
            var start = snapshotOffsets[partition] ?? (configuration.kafka.start == .earliest ? low : high)
            if start < low || start > high {
                let range = LostRange(partition: partition, next: start, low: low, high: high)
                lost.append(range)
                start = range.readOn(configuration.kafka.onLostOffsets) ?? start
            }
            positions.append(start)
        }
        if !lost.isEmpty {
            try sendDataLossAlerts(lost)
            if configuration.kafka.onLostOffsets == .fail {
                throw RuntimeError(
                    .lostOffsets,
                    "input offsets fell out of retention (kafka.on_lost_offsets: fail):\n  "
                        + lost.map(\.description).joined(separator: "\n  ")
                        + "\nset kafka.on_lost_offsets to earliest or latest to continue without them")
            }
            logger.error("input offsets fell out of retention; continuing (kafka.on_lost_offsets): \(lost)")
            snapshotAfterLoss = true
        }
        try readDelivered(since: snapshotOffsets)
        paused = nil
        logger.info(
            "task started", metadata: [
                "task": "\(modelName)", "snapshot": "\(entry?.path ?? "none")", "partitions": "\(partitions.count)",
                "relearn": "\(relearnRemaining)",
            ])
        return zip(partitions, positions).map { TopicPartitionOffset($0, offset: $1) }
    }

    /// The job over the state of the snapshot at `path` (a fresh one without): a state that does not load is
    /// refused (``SnapshotStoreError``, so that an older snapshot is tried), naming the key at fault.
    private func makeJob(payload: Data?, raiser: AlertRaiser, path: String?) throws -> any StreamJob {
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
            guard let path else { throw RuntimeError(.configuration, "\(error)") }
            throw SnapshotStoreError(path: path, reason: "its state cannot be loaded: \(error)")
        }
    }

    /// What this task's snapshots carry: the job's name and kind, and the settings that shape its model.
    private var identity: SnapshotStore.Identity {
        SnapshotStore.Identity(job: jobName, kind: configuration.job.rawValue, settings: configuration.modelSettings)
    }

    /// Refuses another job's snapshot (``SnapshotStoreError``: an older one is tried), and stops start-up when the
    /// configuration changed a setting the snapshot's model was built with (``RuntimeError``, naming both values).
    private func checkIdentity(_ entry: SnapshotStore.Entry) throws {
        guard let theirs = entry.header.identity else {
            logger.warning("snapshot '\(entry.path)' names no job (written before snapshots carried one): loaded as this job's")
            return
        }
        let ours = identity
        guard theirs.job == ours.job, theirs.kind == ours.kind else {
            throw SnapshotStoreError(
                path: entry.path,
                reason: "it belongs to the \(theirs.kind) job '\(theirs.job)', not to this \(ours.kind) job '\(ours.job)'")
        }
        let changed = Set(theirs.settings.keys).union(ours.settings.keys).sorted().filter {
            theirs.settings[$0] != ours.settings[$0]
        }
        guard changed.isEmpty else {
            let lines = changed.map { "\($0): '\(theirs.settings[$0] ?? "unset")' in the snapshot, '\(ours.settings[$0] ?? "unset")' now" }
            throw RuntimeError(
                .configuration,
                "the model in '\(entry.path)' was built with other settings, which it keeps:\n  "
                    + lines.joined(separator: "\n  ")
                    + "\nrestore the configuration's values, or move the snapshot directory away to start a new model")
        }
    }

    /// Messages to learn again before answering again (their answers are already out).
    var relearnRemaining: Int {
        zip(deliveredThrough, positions).reduce(0) { $0 + max(0, Int($1.0 + 1 - $1.1)) }
    }

    /// Whether the message being processed is re-learned (its answers are already out).
    var isRelearning: Bool {
        guard let source = currentSource else { return false }
        return source.offset <= deliveredThrough[source.index]
    }

    /// Reads what the output partitions received since the snapshot (exactly-once mode): the newest source each
    /// holds, per input partition of this task.
    private func readDelivered(since snapshot: [TopicPartition: Int64]) throws {
        outputPartitions = [:]
        delivered = [:]
        deliveredThrough = Array(repeating: -1, count: partitions.count)
        for topic in runtime.outputTopics {
            outputPartitions[topic] = try waits.retrying("topics: cannot read topic '\(topic)'") { timeout throws(KafkaError) in
                try producer.partitionCount(topic: topic, timeout: timeout)
            }
        }
        guard exactlyOnce else { return }
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: runtime.brokers, groupID: "\(self.configuration.kafka.group)-outputs")
        configuration.properties = self.configuration.kafka.properties
        configuration.properties["isolation.level"] = "read_committed"
        let inputIndex = Dictionary(uniqueKeysWithValues: partitions.enumerated().map { ("\($1.topic):\($1.partition)", $0) })
        let jobPrefix = "\(self.configuration.name)/"
        let waits = waits
        do {
            let reader = try KafkaConsumer(configuration: configuration, logger: logger)
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

    /// Input offsets that fell out of retention: in `partition`, from `from` (the next offset the task would
    /// read) up to `to` (the oldest one still kept). `beyondEnd`: `from` is past the partition's end `to` (the
    /// partition was truncated or made anew), so what was lost is not known.
    struct LostRange: CustomStringConvertible {
        var partition: TopicPartition
        var from: Int64
        var to: Int64
        var beyondEnd: Bool
        /// The oldest offset the partition keeps, and its end.
        var low: Int64
        var high: Int64

        /// The gap between `next`, the offset to read, and what the partition keeps (`low..<high`).
        init(partition: TopicPartition, next: Int64, low: Int64, high: Int64) {
            self.partition = partition
            from = next
            beyondEnd = next > high
            to = beyondEnd ? high : max(low, next)
            self.low = low
            self.high = high
        }

        var lost: Int64 { beyondEnd ? 0 : to - from }

        /// Where to read on under `policy` (`kafka.on_lost_offsets`): the oldest message kept, or the end; `nil`
        /// for `fail`.
        func readOn(_ policy: RuntimeConfiguration.LostOffsets) -> Int64? {
            switch policy {
            case .fail: nil
            case .earliest: beyondEnd ? low : to
            case .latest: high
            }
        }

        var description: String {
            beyondEnd
                ? "\(partition): snapshot at offset \(from), beyond the partition's end \(to) (truncated or made anew)"
                : "\(partition): snapshot at offset \(from), oldest kept \(to) (\(to - from) message(s) lost)"
        }
    }

    /// One critical `data-loss` alert per partition that lost messages, naming the partition (`feature`), the
    /// first offset lost (`offsets`), the range (`window`, offsets) and the count (`value`); in a transaction of
    /// its own (what was processed so far commits first).
    func sendDataLossAlerts(_ lost: [LostRange]) throws {
        if inTransaction { try commit() }
        for range in lost {
            let key = "\(range.partition.topic):\(range.partition.partition)"
            let alert = Alert(
                id: "\(modelName)/data-loss/\(key)", kind: "data-loss", severity: .critical, state: .firing,
                detector: "offsets", feature: "\(range.partition)", value: Double(range.lost), threshold: 0,
                window: Alert.Window(start: Int(range.from), end: Int(range.to)),
                model: Alert.Model(name: modelName, version: "streamlearn"), offsets: [key: range.from], at: Date())
            runtime.notifyAlertmanager(alert)
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
    }

    /// The input partition `partition` lost messages while the task ran (retention overtook its position):
    /// an alert, then by `kafka.on_lost_offsets` a stop, or a new position at the oldest (`earliest`) or newest
    /// (`latest`) message kept, which the caller has the consumer read from. The state is kept (nothing it learned
    /// is lost); the next snapshot, written at once, holds the new position, so a restart does not meet the same
    /// gap again.
    func lostWhileRunning(_ partition: TopicPartition, consumer: KafkaConsumer) throws {
        guard let index = partitions.firstIndex(of: partition) else { return }
        let (low, high) = try waits.retrying("cannot read the offsets of \(partition)") { timeout throws(KafkaError) in
            try consumer.watermarks(topic: partition.topic, partition: partition.partition, timeout: timeout)
        }
        let range = LostRange(partition: partition, next: positions[index], low: low, high: high)
        try sendDataLossAlerts([range])
        guard let next = range.readOn(configuration.kafka.onLostOffsets) else {
            throw RuntimeError(
                .lostOffsets,
                "input offsets fell out of retention while running (kafka.on_lost_offsets: fail):\n  \(range)"
                    + "\nset kafka.on_lost_offsets to earliest or latest to continue without them")
        }
        positions[index] = next
        logger.error("input offsets fell out of retention; continuing (kafka.on_lost_offsets): \(range)")
        snapshotAfterLoss = true
    }

    // MARK: - Messages

    /// Processes one input message of partition `index`.
    func process(_ message: KafkaMessageView, index: Int, received: ContinuousClock.Instant) throws {
        let offset = message.offset
        guard offset >= positions[index] else { return }  // already processed (a re-fetch)
        currentSource = (index, offset)
        consumed[index] += 1
        record += 1
        summary.messages += 1
        if offset <= deliveredThrough[index] {
            summary.replayed += 1
            runtime.delta.relearned += 1
        }
        let reason: DeadLetterReason?
        if message.value.count > maxMessageBytes {
            reason = DeadLetterReason(
                kind: "oversized", stage: .decode,
                message: "message of \(message.value.count) bytes, over output.max_message_bytes (\(maxMessageBytes))")
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
            countDeadLetter(reason)
            try deadLetter(DeadLetterOrigin(message), reason)
        }
        currentSource = nil
        (roles[index] == .requests ? runtime.metrics.scoreLatency : runtime.metrics.learnLatency)
            .record(ContinuousClock.now - received)
        positions[index] = offset + 1
        transactionMessages += 1
        messagesSinceSnapshot += 1
    }

    /// Requests and feedback kept in step when one input is far ahead of the other in a backlog (their relative
    /// order is otherwise the order they were fetched in). The join keeps events waiting for their labels, and
    /// labels read first waiting for their events, each for at most `room` later events (`join.capacity`, or
    /// `join.max_age_messages` when smaller):
    /// - while events are unread and 1,000 labels (or `room`, when smaller) wait, the feedback is paused;
    /// - while labels are unread and `room` events wait, the requests are paused;
    /// - polls take no more messages than the room left on the side that may expire (``pollLimit(_:)``: a poll's
    ///   batch is processed whole, so pausing after it would come too late).
    /// A paused side resumes once half its room is free or the other side has nothing unread. One side at most is
    /// paused. In real time neither input has unread messages for long and the join is far from full: nothing is
    /// paused or limited.
    func alignInputs(_ consumer: KafkaConsumer) throws {
        guard hasFeedbackPartition else { return }
        let held = job.heldFeedback
        let waiting = job.waiting
        let labelRoom = min(1_000, eventRoom)
        if paused == nil && held < labelRoom && waiting < eventRoom { return }
        switch paused {
        case nil:
            if held >= labelRoom && isBehind(.requests, consumer) {
                try pause(.feedback, consumer)
            } else if waiting >= eventRoom && isBehind(.feedback, consumer) {
                try pause(.requests, consumer)
            }
        case .feedback?:
            if held <= labelRoom / 2 || !isBehind(.requests, consumer) { try resume(consumer) }
        case .requests?:
            if waiting <= eventRoom / 2 || !isBehind(.feedback, consumer) { try resume(consumer) }
        }
    }

    /// The most messages the next poll should take: 4,096, or less when the join's room left is smaller — for
    /// events while labels are unread, for labels while events are unread.
    func pollLimit(_ consumer: KafkaConsumer) -> Int {
        guard hasFeedbackPartition else { return 4_096 }
        var limit = 4_096
        let eventsRoomLeft = eventRoom - job.waiting
        if paused != .requests && eventsRoomLeft < limit && isBehind(.feedback, consumer) { limit = eventsRoomLeft }
        let labelsRoomLeft = eventRoom - job.heldFeedback
        if paused != .feedback && labelsRoomLeft < limit && isBehind(.requests, consumer) { limit = labelsRoomLeft }
        return max(1, limit)
    }

    /// The consumer was assigned anew (its pauses are gone).
    func inputsReassigned() { paused = nil }

    /// Whether `role`'s partitions have messages not processed yet (a partition not fetched yet may have).
    private func isBehind(_ role: JobMessage.Role, _ consumer: KafkaConsumer) -> Bool {
        partitions.indices.contains { index in
            guard roles[index] == role else { return false }
            guard let marks = consumer.cachedWatermarks(topic: partitions[index].topic, partition: partitions[index].partition)
            else { return true }
            return marks.high > positions[index]
        }
    }

    private func pause(_ role: JobMessage.Role, _ consumer: KafkaConsumer) throws {
        try consumer.pause(partitions.indices.filter { roles[$0] == role }.map { partitions[$0] })
        paused = role
    }

    private func resume(_ consumer: KafkaConsumer) throws {
        guard let role = paused else { return }
        try consumer.resume(partitions.indices.filter { roles[$0] == role }.map { partitions[$0] })
        paused = nil
    }

    /// Commits when the open transaction is old or big enough (or `force`), and writes a snapshot when due.
    func tick(now: ContinuousClock.Instant, idle: Bool) throws {
        if inTransaction
            && (idle || now - transactionStart >= configuration.output.commitInterval
                || transactionMessages >= configuration.output.maxMessagesPerTransaction)
        {
            try commit()
        }
        // Delivery reports: a message counts against the producer's queue until its report is served.
        producer.poll()
        if !inTransaction { try snapshotIfDue(force: nil) }
    }

    // MARK: - Transactions and snapshots

    func commit() throws {
        if exactlyOnce {
            var failure: RuntimeError?
            let producer = producer
            do {
                // Retried while the brokers are away (within kafka.unavailable_timeout_s); an abort is not.
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
                try runtime.recoverAfterAbort(self, reason: "\(failure)")
                return
            }
        }
        summary.transactions += 1
        runtime.delta.transactions += 1
    }

    /// A transaction was aborted (its outputs will never show): the state has moved past what Kafka holds, so
    /// start again from the newest snapshot and what the outputs already hold, as a restart would.
    func abortForRecovery() {
        if exactlyOnce && inTransaction { try? producer.abortTransaction(timeout: waits.bounded(.seconds(30))) }
        inTransaction = false
        transactionMessages = 0
    }

    func snapshotIfDue(force: SnapshotStore.Reason?) throws {
        // Not while re-learning messages whose answers are already out: the snapshot would not say which.
        guard zip(positions, deliveredThrough).allSatisfy({ $0 > $1 }) else { return }
        let requested = job.takeSnapshotRequest()
        let afterLoss = snapshotAfterLoss ? SnapshotStore.Reason.periodic : nil
        guard let reason = force ?? requested ?? afterLoss ?? (isPeriodicSnapshotDue ? .periodic : nil) else { return }
        snapshotAfterLoss = false
        if !exactlyOnce {
            // Never a snapshot ahead of what was delivered.
            let producer = producer
            try waits.retrying("cannot deliver the outputs before a snapshot") { timeout throws(KafkaError) in
                try producer.flush(timeout: timeout)
            }
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
                    let consumer = runtime.consumer!
                    let (_, high) = try waits.retrying("cannot read the end of \(topic)[\(partition)]") { timeout throws(KafkaError) in
                        try consumer.watermarks(topic: topic, partition: partition, timeout: timeout)
                    }
                    offsets.append(.kafka(KafkaPosition(topic: topic, partition: partition, offset: high)))
                }
            }
        }
        do {
            newestSnapshot = try store.write(payload, reason: reason, positions: offsets, identity: identity, at: Date())
        } catch {
            throw RuntimeError(.snapshot, "cannot write a snapshot: \(error)")
        }
        summary.snapshots += 1
        runtime.delta.snapshots += 1
        messagesSinceSnapshot = 0
        lastSnapshot = ContinuousClock.now
        // For monitoring only: the group's offsets follow the snapshots.
        try? runtime.consumer.commit(zip(partitions, positions).map { TopicPartitionOffset($0, offset: $1) }, timeout: .seconds(5))
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

    /// Ends the task: with `save`, the open transaction commits and a snapshot with `reason` is written (a
    /// shutdown, or partitions handed to another instance); without, the open transaction is aborted (the
    /// partitions were lost: their new owner has fenced this producer). The producer closes.
    func close(save reason: SnapshotStore.Reason?) throws {
        defer {
            if inTransaction { try? producer.abortTransaction(timeout: waits.bounded(.seconds(10))) }
            inTransaction = false
            do {
                try producer.close(timeout: waits.bounded(.seconds(30)))
            } catch {
                logger.warning("closing the producer: \(error)")
            }
        }
        guard let reason else { return }
        if inTransaction { try commit() }
        try snapshotIfDue(force: reason)
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
        var headers = headers
        if exactlyOnce, let source = currentSource {
            let input = partitions[source.index]
            headers.append(KafkaHeader(
                name: sourceHeader, value: Array("\(jobName)/\(input.topic):\(input.partition):\(source.offset)".utf8)))
        }
        // A queue that stays full: the brokers are not taking messages; waited for within the job's bound.
        var enqueued = false
        while !enqueued {
            do {
                try producer.send(
                    topic: topic, partition: partition, key: key, value: value, headers: headers,
                    timestampMilliseconds: timestampMilliseconds, waitingAtMost: .seconds(1))
                enqueued = true
            } catch {
                guard error.code == .timedOut else { throw error }
                waits.failed(error.message)
                if waits.isOver { throw waits.givingUp("cannot send to '\(topic)'", error) }
            }
        }
        if topic == outputsTopic { answersSent += 1 } else { runtime.delta.messagesOut[topic, default: 0] += 1 }
        return true
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
    /// (``DeadLetterOrigin/fit(within:extra:)``), so no input can stop the job.
    func deadLetter(_ message: DeadLetterOrigin, _ reason: DeadLetterReason) throws {
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

    func answered() { summary.answered += 1 }

    func countDeadLetter(_ reason: DeadLetterReason) {
        summary.deadLetters[reason.kind, default: 0] += 1
        runtime.delta.deadLetters[reason.kind, default: 0] += 1
    }
}
