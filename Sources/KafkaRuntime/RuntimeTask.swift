import StreamPipeline
import StreamJobs
import Alerting
import DriftDetection
import Foundation
import Logging
import OnlineLearning
import Prometheus
import StreamCore
import StreamKafka

/// What a task is given, once, by the loop that runs it: the configuration, the Kafka clients and bounds it
/// shares, where metrics and alerts go. No reference back to the loop: a task returns what the loop needs
/// (positions to read from, a recovery to run, counts) as Kafka Streams' tasks do.
struct TaskContext {
    let configuration: RuntimeConfiguration
    let brokers: String
    /// The loop's consumer: watermarks, and the group offsets committed after each snapshot (for monitoring).
    let consumer: KafkaConsumer
    let waits: KafkaWaits
    let logger: Logger
    let metrics: RuntimeMetrics
    /// Receives every detector evaluation (the scenario runner draws them).
    let onReading: (@Sendable (DetectorReading) -> Void)?
    /// Every alert raised (Alertmanager, when configured).
    let notify: @Sendable (Alert) -> Void
    /// Writer schemas of Avro and JSON Schema inputs (`input.schema_registry`), shared by every task.
    let schemas: (any SchemaSource)?
}

/// One unit of state and work, as a Kafka Streams `StreamTask`: a job over some input partitions, with its state
/// manager (snapshots, written off the loop by a ``SnapshotWriter``, and recovery) and its output collector (a
/// ``RecordCollector``: its own transactional producer and its own bookkeeping of what its outputs already hold).
/// With `kafka.assignment: all` one task reads every partition; with `group` there is a task per partition number
/// (partition p of the requests topic with partition p of the feedback topic), and a rebalance moves tasks whole
/// between instances.
///
/// Its life: ``recover()`` (the newest good snapshot, what the outputs already hold: where to read from), then
/// per message ``process(_:index:received:)``; on each turn of the loop ``commitNeeded(now:idle:)``,
/// ``commit()`` and ``postCommit()`` (a snapshot, when due, between transactions); ``closeClean(_:)`` when it is
/// handed over or the job stops, ``closeDirty()`` when its partitions were lost. A transaction the brokers abort
/// is reported by ``takeRecoveryRequest()``: the loop runs ``recover()`` again.
///
/// Exactly once (`output.mode: exactly-once`): a snapshot is written only between transactions, with the input
/// offsets and where each output partition ended. Recovery loads the newest good snapshot, reads what the output
/// partitions received since (with `read_committed`), and re-learns the messages from the snapshot on without
/// sending again any output already there. The job is deterministic, so the state, and each answer, is the same as
/// an uninterrupted run's. This holds whether or not the brokers abort a crashed instance's open transaction (Kafka
/// does when the next owner starts its producer; the embedded broker leaves its delivered messages visible).
final class RuntimeTask {
    let context: TaskContext
    /// The partition number the task owns (`group`), or `nil` for every partition (`all`).
    let number: Int?
    let store: SnapshotStore
    /// Encodes and writes snapshots off the loop.
    let writer: SnapshotWriter
    /// The task's outputs: producer, transactions, suppression of what is already out.
    let collector: RecordCollector
    private(set) var job: (any StreamJob)!
    let partitions: [TopicPartition]
    let roles: [JobMessage.Role]
    /// Next offset to process, per partition (index into `partitions`).
    private(set) var positions: [Int64] = []
    /// Messages read per partition since the last ``takeDelta()``.
    private var consumed: [Int]
    private var messagesSinceSnapshot = 0
    private(set) var lastSnapshot = ContinuousClock.now
    private var record = 0
    /// Messages, re-learned, snapshots, where the state came from (the collector counts the rest).
    private var counts = StreamRuntime.Summary()
    /// Counts since the last ``takeDelta()`` (the collector keeps its own).
    private var delta = RuntimeMetrics.Delta()
    /// The path of the snapshot written or restored last.
    private(set) var newestSnapshot: String?
    /// Per partition, its input as a group of ``readInputs(_:max:)``'s read: 0 requests, 1 feedback.
    private let roleGroups: [Int]
    /// Per partition: since when reading waits for it (``hold(_:_:)``), and the position it was passed over at.
    private var holdingSince: [ContinuousClock.Instant?]
    private var passedOver: [Int64]
    /// Whether the task reads a feedback partition of its own (requests and feedback on two topics).
    private let hasFeedbackPartition: Bool
    /// Events the join may hold before one expires: `join.capacity`, or `join.max_age_messages` when smaller.
    private let eventRoom: Int
    /// Positions moved past lost messages: the next snapshot is written at once, so no snapshot keeps the gap.
    private var snapshotAfterLoss = false
    /// Why the brokers aborted a transaction, until the loop recovers the task.
    private var recoveryReason: String?
    /// Read per message: kept here rather than copied out of the configuration each time.
    private let maxMessageBytes: Int

    var configuration: RuntimeConfiguration { context.configuration }
    private var logger: Logger { context.logger }
    private var waits: KafkaWaits { context.waits }

    /// The name in alerts and logs: the job's, with the partition number in `group`.
    var modelName: String { number.map { "\(configuration.name)-p\($0)" } ?? configuration.name }

    /// What the task did (the runtime's summary of it).
    var summary: StreamRuntime.Summary {
        var summary = counts
        summary.answered = collector.answered
        summary.deadLetters = collector.deadLetters
        summary.transactions = collector.transactions
        return summary
    }

    var inTransaction: Bool { collector.inTransaction }
    var transactionMessages: Int { collector.transactionMessages }

    /// Opens the task's snapshot store and its collector's producer (fencing the task's previous owner).
    init(context: TaskContext, number: Int?, partitions: [TopicPartition], roles: [JobMessage.Role]) throws {
        self.context = context
        self.number = number
        self.partitions = partitions
        self.roles = roles
        consumed = Array(repeating: 0, count: partitions.count)
        holdingSince = Array(repeating: nil, count: partitions.count)
        passedOver = Array(repeating: -1, count: partitions.count)
        roleGroups = roles.map { $0 == .requests ? 0 : 1 }
        let configuration = context.configuration
        hasFeedbackPartition = roles.contains(.feedback)
        eventRoom = max(2, configuration.job.joinRoom ?? 100_000)
        maxMessageBytes = configuration.output.maxMessageBytes
        let directory = number.map { "\(configuration.snapshots.directory)/p\($0)" } ?? configuration.snapshots.directory
        do {
            store = try SnapshotStore(directory: directory, keepLast: configuration.snapshots.keep)
        } catch {
            throw RuntimeError(.snapshot, "snapshots.directory: \(error)")
        }
        writer = SnapshotWriter(store: store, label: directory)
        collector = try RecordCollector(
            configuration: configuration, brokers: context.brokers, number: number, partitions: partitions,
            waits: context.waits, logger: context.logger, notify: context.notify)
    }

    // MARK: - Recovery

    /// Loads the newest good snapshot, finds what committed transactions answered, and returns where each input
    /// partition starts. Run when the task starts and after a transaction the brokers aborted.
    func recover() throws -> [TopicPartitionOffset] {
        let raiser = AlertRaiser(
            model: Alert.Model(name: modelName, version: "streamlearn"),
            metrics: DriftMetrics(model: modelName, registry: context.metrics.registry))
        raiser.onAlert = { [unowned collector] alert in try collector.alert(alert) }
        raiser.onReading = context.onReading
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
        counts.restoredFrom = entry?.path
        newestSnapshot = entry?.path
        job = try found?.value ?? makeJob(payload: nil, raiser: raiser, path: nil)
        collector.currentSource = nil
        collector.current = nil

        positions = []
        var lost: [LostRange] = []
        let consumer = context.consumer
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
            _ = try collector.sendDataLossAlerts(lost, modelName: modelName)
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
        try collector.readDelivered(since: snapshotOffsets)
        recoveryReason = nil
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
            case .scoring(let scoring):
                let state = try payload.map { try Snapshot.decode(PipelineState.self, from: $0) }
                let writer = writer
                return try ScoringJob(
                    scoring, state: state, store: store, raiser: raiser, nextSnapshotPath: { writer.nextPath },
                    schemas: context.schemas)
            case .bandit(let bandit):
                return try BanditJob(bandit, context: configuration.jobContext, payload: payload)
            case .reinforcement(let agent):
                return try ReinforcementJob(agent, context: configuration.jobContext, payload: payload)
            }
        } catch let error as LearningError {
            guard let path else { throw RuntimeError(.configuration, "\(error)") }
            throw SnapshotStoreError(path: path, reason: "its state cannot be loaded: \(error)")
        }
    }

    /// What this task's snapshots carry: the job's name and kind, and the settings that shape its model.
    private var identity: SnapshotStore.Identity {
        SnapshotStore.Identity(job: configuration.name, kind: configuration.kind.rawValue, settings: configuration.job.modelSettings)
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
        zip(collector.deliveredThrough, positions).reduce(0) { $0 + max(0, Int($1.0 + 1 - $1.1)) }
    }

    /// The input partition `partition` lost messages while the task ran (retention overtook its position):
    /// an alert, then by `kafka.on_lost_offsets` a stop, or a new position at the oldest (`earliest`) or newest
    /// (`latest`) message kept, which the caller has the consumer read from. The state is kept (nothing it learned
    /// is lost); the next snapshot, written at once, holds the new position, so a restart does not meet the same
    /// gap again.
    func lostWhileRunning(_ partition: TopicPartition) throws {
        guard let index = partitions.firstIndex(of: partition) else { return }
        let consumer = context.consumer
        let (low, high) = try waits.retrying("cannot read the offsets of \(partition)") { timeout throws(KafkaError) in
            try consumer.watermarks(topic: partition.topic, partition: partition.partition, timeout: timeout)
        }
        let range = LostRange(partition: partition, next: positions[index], low: low, high: high)
        if case .aborted(let reason) = try collector.sendDataLossAlerts([range], modelName: modelName) {
            recoveryReason = reason
        }
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
        collector.currentSource = (index, offset)
        consumed[index] += 1
        record += 1
        counts.messages += 1
        if offset <= collector.deliveredThrough[index] {
            counts.relearned += 1
            delta.relearned += 1
        }
        let reason: DeadLetterReason?
        if message.value.count > maxMessageBytes {
            reason = DeadLetterReason(
                kind: "oversized", stage: .decode,
                message: "message of \(message.value.count) bytes, over output.max_message_bytes (\(maxMessageBytes))")
        } else {
            collector.current = message
            defer { collector.current = nil }
            reason = try job.process(
                JobMessage(
                    role: roles[index], value: message.value, record: record, topic: partitions[index].topic,
                    partition: message.partition, offset: offset, received: received),
                collector)
        }
        if let reason { try collector.deadLetter(DeadLetterOrigin(message), reason) }
        collector.currentSource = nil
        (roles[index] == .requests ? context.metrics.scoreLatency : context.metrics.learnLatency)
            .record(ContinuousClock.now - received)
        positions[index] = offset + 1
        collector.inputProcessed()
        messagesSinceSnapshot += 1
    }

    /// Reads what the task's partitions have fetched (each partition has its own queue), at most `max` messages,
    /// and returns how many it processed.
    ///
    /// The partitions are read in timestamp order, as Kafka Streams reads a task's partitions: a stream spread over
    /// partitions, and labels produced after their events, are processed in the order they were produced, run after
    /// run, however the fetches interleave. A partition with nothing fetched while it has messages to read holds
    /// the others back until they come, for up to 100 ms (then it is passed over until it delivers again).
    ///
    /// Requests and feedback are kept in step when one input is far ahead of the other in a backlog (in real time
    /// neither has unread messages for long). The join keeps events waiting for their labels, and labels read first
    /// waiting for their events, each for at most `room` later events (`join.capacity`, or `join.max_age_messages`
    /// when smaller), so
    /// - while feedback is unread, no more events are read than the room left for events waiting;
    /// - while events are unread, no more labels than the room left for labels waiting, and none while 1,000
    ///   (or `room`, when smaller) already wait;
    /// - when both are full, one event is read (the oldest waiting one expires, as it would in real time).
    /// A side left unread stays in its queue; librdkafka stops fetching it once the queue is full. Nothing is
    /// paused, nothing fetched twice. Outside those bounds the order is the timestamps' alone, so a run that stops
    /// and starts again from its snapshot reads the rest in the same order as one that did not stop.
    func readInputs(_ consumer: KafkaConsumer, max: Int) throws -> Int {
        let (requests, feedback) = inputLimits(consumer)
        let received = ContinuousClock.now
        return try consumer.poll(
            inTimestampOrder: partitions, maxMessages: min(max, 4_096), groups: roleGroups, quotas: [requests, feedback],
            hold: { hold($0, consumer) }
        ) { message, index in
            try process(message, index: index, received: received)
        }
    }

    /// Whether reading partition `index`'s input waits for the partition, which has nothing fetched: while it has
    /// messages to read (its fetch is under way), for up to 100 ms; then not until it delivers again.
    private func hold(_ index: Int, _ consumer: KafkaConsumer) -> Bool {
        guard passedOver[index] != positions[index], isBehind(index, consumer) else {
            holdingSince[index] = nil
            return false
        }
        let now = ContinuousClock.now
        guard let since = holdingSince[index] else {
            holdingSince[index] = now
            return true
        }
        if now - since < .milliseconds(100) { return true }
        // Messages the position never reaches (a transaction marker after the last message, say): go on.
        passedOver[index] = positions[index]
        holdingSince[index] = nil
        return false
    }

    /// How many requests and how many feedback messages may be read now (``readInputs(_:max:)``).
    private func inputLimits(_ consumer: KafkaConsumer) -> (requests: Int, feedback: Int) {
        guard hasFeedbackPartition else { return (.max, .max) }
        let labelRoom = min(1_000, eventRoom)
        var requests = Int.max
        var feedback = Int.max
        let (waiting, held) = (job.waiting, job.heldFeedback)
        if waiting + 4_096 >= eventRoom && isBehind(.feedback, consumer) { requests = eventRoom - waiting }
        if held >= labelRoom && isBehind(.requests, consumer) {
            feedback = 0
        } else if held + 4_096 >= eventRoom && isBehind(.requests, consumer) {
            feedback = eventRoom - held
        }
        if requests <= 0 && feedback <= 0 { requests = 1 }
        return (Swift.max(0, requests), Swift.max(0, feedback))
    }

    /// Whether `role`'s partitions have messages not processed yet (a partition not fetched yet may have).
    private func isBehind(_ role: JobMessage.Role, _ consumer: KafkaConsumer) -> Bool {
        partitions.indices.contains { roles[$0] == role && isBehind($0, consumer) }
    }

    /// Whether partition `index` has messages not processed yet (one not fetched yet may have).
    private func isBehind(_ index: Int, _ consumer: KafkaConsumer) -> Bool {
        guard let marks = consumer.cachedWatermarks(topic: partitions[index].topic, partition: partitions[index].partition)
        else { return true }
        return marks.high > positions[index]
    }

    // MARK: - Commit

    /// Whether the open transaction is old or big enough to commit (or the input is idle).
    func commitNeeded(now: ContinuousClock.Instant, idle: Bool) -> Bool {
        collector.inTransaction
            && (idle || now - collector.transactionStart >= configuration.output.commitInterval
                || collector.transactionMessages >= configuration.output.maxMessagesPerTransaction)
    }

    /// Commits the open transaction. One the brokers aborted leaves a recovery for the loop
    /// (``takeRecoveryRequest()``).
    func commit() throws {
        if case .aborted(let reason) = try collector.commit() { recoveryReason = reason }
    }

    /// After a commit, between transactions: delivery reports are served, snapshots the writer finished are
    /// taken in, and a snapshot is handed to it when one is due.
    func postCommit() throws {
        collector.poll()
        guard !collector.inTransaction, recoveryReason == nil else { return }
        try collectSnapshots()
        try snapshotIfDue(force: nil)
    }

    /// Why the brokers aborted a transaction of this task, once: the loop then recovers it (``recover()``), as a
    /// restart would, after ``abortForRecovery()``.
    func takeRecoveryRequest() -> String? {
        defer { recoveryReason = nil }
        return recoveryReason
    }

    /// A transaction was aborted (its outputs will never show): the state has moved past what Kafka holds. What
    /// is open is dropped before ``recover()`` starts again from the newest snapshot.
    func abortForRecovery() {
        writer.waitIdle()
        _ = writer.takeWritten()
        collector.abort(within: .seconds(30))
    }

    // MARK: - Snapshots

    /// Hands a snapshot to the writer when one is due (or `force`d): the state is captured here, between
    /// transactions, with the positions it covers; it is encoded and written on the writer's queue. While one is
    /// being written a due one waits for a later turn; a forced one waits for it.
    private func snapshotIfDue(force: SnapshotStore.Reason?) throws {
        // Not while re-learning messages whose answers are already out: the snapshot would not say which.
        guard zip(positions, collector.deliveredThrough).allSatisfy({ $0 > $1 }) else { return }
        if writer.isBusy {
            guard force != nil else { return }
            writer.waitIdle()
        }
        let requested = job.takeSnapshotRequest()
        let afterLoss = snapshotAfterLoss ? SnapshotStore.Reason.periodic : nil
        guard let reason = force ?? requested ?? afterLoss ?? (isPeriodicSnapshotDue ? .periodic : nil) else { return }
        snapshotAfterLoss = false
        // At least once: never a snapshot ahead of what was delivered.
        if !collector.exactlyOnce { try collector.flush() }
        let offsets = partitions.indices.map { index in
            SourcePosition.kafka(KafkaPosition(
                topic: partitions[index].topic, partition: partitions[index].partition, offset: positions[index]))
        }
        let ends = try collector.outputEnds(consumer: context.consumer)
        writer.write(job.captureState(), reason: reason, positions: offsets + ends, identity: identity, at: Date())
        messagesSinceSnapshot = 0
        lastSnapshot = ContinuousClock.now
        if force != nil {
            writer.waitIdle()
            try collectSnapshots()
        }
    }

    /// Takes in what the writer has written since the last turn: counts it, commits the group's offsets to its
    /// positions (for monitoring only) and lets the job publish (the reinforcement policy). A failed write stops
    /// the job.
    private func collectSnapshots() throws {
        for outcome in writer.takeWritten() {
            let written = try outcome.get()
            newestSnapshot = written.path
            counts.snapshots += 1
            delta.snapshots += 1
            let offsets = written.positions.prefix(partitions.count).compactMap { position -> TopicPartitionOffset? in
                guard case .kafka(let kafka) = position else { return nil }
                return TopicPartitionOffset(TopicPartition(kafka.topic, kafka.partition), offset: kafka.offset)
            }
            try? context.consumer.commit(offsets, timeout: .seconds(5))
            try job.snapshotWritten(collector)
        }
        if collector.inTransaction { try commit() }
    }

    private var isPeriodicSnapshotDue: Bool {
        guard messagesSinceSnapshot > 0 else { return false }
        if let every = configuration.snapshots.everyMessages, messagesSinceSnapshot >= every { return true }
        if let seconds = configuration.snapshots.everySeconds, ContinuousClock.now - lastSnapshot >= .seconds(seconds) {
            return true
        }
        return false
    }

    // MARK: - Closing

    /// Ends the task cleanly (handed over, or the job stops): the snapshot being written ends, the open transaction
    /// commits, a snapshot with `reason` is written, the producer closes.
    func closeClean(_ reason: SnapshotStore.Reason) throws {
        // The partitions' next owner may write in the same directory.
        writer.waitIdle()
        defer { collector.close() }
        if collector.inTransaction { try commit() }
        // The brokers aborted the last transaction: no snapshot past what Kafka holds (the next start recovers).
        guard recoveryReason == nil else { return }
        try snapshotIfDue(force: reason)
    }

    /// Ends the task without saving (its partitions were lost: their new owner has fenced this producer): the
    /// open transaction is aborted, the producer closes.
    func closeDirty() {
        writer.waitIdle()
        collector.close()
    }

    // MARK: - Counts

    /// Counts since the last call: messages in by topic, out by topic, dead letters, transactions, snapshots,
    /// re-learned messages.
    func takeDelta() -> RuntimeMetrics.Delta {
        var taken = delta
        taken.merge(collector.takeDelta())
        for index in partitions.indices where consumed[index] > 0 {
            taken.messagesIn[partitions[index].topic, default: 0] += consumed[index]
            consumed[index] = 0
        }
        delta = RuntimeMetrics.Delta()
        return taken
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
