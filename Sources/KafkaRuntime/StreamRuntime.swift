import StreamJobs
public import StreamPipeline
import Alerting
import DriftDetection
public import Foundation
public import Logging
import OnlineLearning
import StreamCore
import StreamKafka
import Synchronization
import Prometheus

/// Why the runtime stopped or could not start; the message names the key, topic, partition or file at fault.
public struct RuntimeError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case configuration
        /// A snapshot cannot be written (or its directory cannot be used).
        case snapshot
        /// Snapshots exist but none of them can be used (each refused with its reason).
        case noUsableSnapshot = "no-usable-snapshot"
        case kafka
        /// A snapshot's offset is no longer in its partition and `kafka.on_lost_offsets` is `fail`.
        case lostOffsets = "lost-offsets"
        /// The ops endpoint cannot listen on its address.
        case ops
        /// The schema registry did not answer before the job was asked to stop (exit 69).
        case schemaRegistry = "schema-registry"
        /// Anything else: a defect (exit 70).
        case `internal`
    }
    public var code: Code
    public var message: String
    /// The error this one reports (a `KafkaError`, say), kept whole.
    public var underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    /// The one boundary where what the loop and its tasks throw becomes the runtime's error: a `KafkaError` is
    /// Kafka being unavailable (or the producer fenced), a snapshot write failure is a snapshot error.
    static func from(_ error: any Error) -> RuntimeError {
        switch error {
        case let error as RuntimeError: return error
        case let error as KafkaError: return .kafka(error, "Kafka failed")
        case let error as SchemaRegistryUnavailable:
            return RuntimeError(.schemaRegistry, "stopped while waiting for the schema registry: \(error.message)", underlying: error)
        case let error as PipelineError where error.code == .snapshotWriteFailed:
            return RuntimeError(.snapshot, error.message, underlying: error)
        case let error as PipelineError where error.code == .invalidConfiguration:
            return RuntimeError(.configuration, error.message, underlying: error)
        default: return RuntimeError(.internal, "internal error: \(error)")
        }
    }

    /// A Kafka failure in `context` (`cannot start the consumer`), keeping the error: a configuration value
    /// librdkafka refuses is a configuration error naming `kafka.properties.KEY` (exit 78), anything else Kafka
    /// being unavailable (exit 69).
    static func kafka(_ error: any Error, _ context: String) -> RuntimeError {
        if let error = error as? RuntimeError { return error }
        guard let error = error as? KafkaError else { return RuntimeError(.kafka, "\(context): \(error)") }
        if error.code == .configuration || error.code == .unknownConfigurationKey {
            return RuntimeError(
                .configuration, "kafka.properties\(error.key.map { ".\($0)" } ?? ""): \(error.message)", underlying: error)
        }
        return RuntimeError(.kafka, "\(context): \(error)", underlying: error)
    }

    public var description: String { message }
}

/// Runs a ``StreamJob`` on Kafka topics until asked to stop: reads its input partitions from the offsets its
/// snapshots hold (the snapshot owns the offsets, as Flink's Kafka source does; the group's committed offsets are
/// written for monitoring only), answers and learns from each message, and writes outputs, alerts and dead
/// letters back to Kafka, exactly once by default (``RuntimeTask``).
///
/// With `kafka.assignment: all` (the default) the instance reads every partition into one state. With `group`
/// the instances of a consumer group share the partitions: the state is kept per partition number (a task), each
/// with its own snapshots under `snapshots.directory/pN` and its own transactional producer, and a rebalance moves
/// tasks whole — the old owner commits and writes a `handover` snapshot before giving a partition up, the new one
/// loads it (or, after a crash, the newest snapshot, re-learning what came after without answering again).
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
        /// Receives every detector evaluation, on the loop's thread (the scenario runner draws them).
        public var onReading: (@Sendable (DetectorReading) -> Void)?

        public init() {}
    }

    /// What a run did.
    public struct Summary: Sendable {
        public init() {}

        public var messages = 0
        public var answered = 0
        /// Messages re-learned without answering after a restart.
        public var relearned = 0
        public var deadLetters: [String: Int] = [:]
        public var transactions = 0
        public var snapshots = 0
        public var alerts = 0
        public var restoredFrom: String?
        public var counters: [(String, Int)] = []
        public var waiting = 0
        /// From the first message received to the last one's processing (start-up and idle time excluded).
        public var busy: Duration = .zero
        /// Partition numbers this instance held at some point (`kafka.assignment: group`).
        public var tasks: [Int] = []

        mutating func add(_ other: Summary) {
            messages += other.messages
            answered += other.answered
            relearned += other.relearned
            for (kind, count) in other.deadLetters { deadLetters[kind, default: 0] += count }
            transactions += other.transactions
            snapshots += other.snapshots
            restoredFrom = restoredFrom ?? other.restoredFrom
        }
    }

    public let configuration: RuntimeConfiguration
    public let options: Options
    /// What the ops endpoint shows: phase, recovery progress, the model.
    public let status = RuntimeStatus()
    /// The Prometheus registry of everything the runtime measures.
    public let metrics: RuntimeMetrics
    /// The bound on every wait on Kafka (``KafkaWaits``).
    let waits: KafkaWaits
    let logger: Logger
    let brokers: String
    /// Alertmanager, when configured: every alert raised (not those raised again while re-learning).
    private let alertmanager: (dispatcher: AlertDispatcher, sink: AlertmanagerSink)?
    /// Where Avro and JSON Schema inputs' writer schemas come from: waited for while it does not answer.
    public let schemaRegistry: SchemaRegistryClient?
    private let stopRequested = Atomic<Bool>(false)
    private let stopAfter = Atomic<Int>(.max)

    // Set up by start(); used by the loop (and the rebalance handler, which runs inside its polls) only.
    private(set) var consumer: KafkaConsumer!
    private var tasks: [RuntimeTask] = []
    /// Per topic, per partition number: the task reading it and the partition's index in the task.
    private var topicRoutes: [String: [(task: RuntimeTask, index: Int)?]] = [:]
    /// `topicRoutes` by the topic's identity in librdkafka (no `String` per message).
    private var routeCache: [UInt: [(task: RuntimeTask, index: Int)?]] = [:]
    /// Counts since the last flush into ``metrics``.
    var delta = RuntimeMetrics.Delta()
    private var lastFlush = ContinuousClock.now
    private var lastPublish = ContinuousClock.now
    private var firstMessage: ContinuousClock.Instant?
    /// What tasks that ended did (their counts), and the latest counters per partition number.
    private var retired = Summary()
    private var jobCounters: [Int: (counters: [(String, Int)], alerts: Int, waiting: Int)] = [:]
    /// An error raised inside the rebalance handler, thrown by the loop after the poll.
    private var rebalanceFailure: (any Error)?
    /// Partitions of the requests topic (`group`: the number of tasks).
    private var taskCount = 0

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
        if let every = configuration.snapshots.everySeconds { metrics.setSnapshotInterval(seconds: every) }
        waits = KafkaWaits(
            unavailableTimeout: configuration.kafka.unavailableTimeout, shutdownTimeout: configuration.kafka.shutdownTimeout,
            status: status)
        schemaRegistry = configuration.schemaRegistry.map { [status, waits] settings in
            SchemaRegistryClient(
                settings: settings, waits: true,
                onWaiting: { reason in
                    status.setRegistryUnavailable(reason.map { "schema registry: \($0)" })
                    if let reason { logger.warning("waiting for the schema registry: \(reason)") }
                },
                isStopping: { waits.isStopping })
        }
        alertmanager = configuration.alertmanager.map { settings in
            let sink = AlertmanagerSink(
                base: settings.url, timeout: settings.timeout, resendInterval: settings.resendInterval,
                generatorURL: generatorURL, logger: logger)
            return (AlertDispatcher(sinks: [sink], logger: logger), sink)
        }
    }

    /// Where alerts sent to Alertmanager point, once the ops endpoint listens (`http://host:port/model`).
    public func setGeneratorURL(_ url: URL) { alertmanager?.sink.generatorURL = url }

    /// Asks the loop to finish: the open transactions commit, snapshots are written, clients close, all within
    /// `kafka.shutdown_timeout_s` (what Kafka has not answered by then is given up: a restart recovers it).
    public func requestStop() {
        waits.stop()
        stopRequested.store(true, ordering: .relaxed)
    }

    /// Asks the loop to finish, as ``requestStop()`` does, once it has processed `messages` input messages in this
    /// run (a driver that knows how many it sent stops the job right after the last, with no idle wait).
    public func requestStop(afterMessages messages: Int) { stopAfter.store(messages, ordering: .relaxed) }

    var grouped: Bool { configuration.kafka.assignment == .group }

    /// What a task is given (once the consumer is up).
    private var taskContext: TaskContext {
        let dispatcher = alertmanager?.dispatcher
        return TaskContext(
            configuration: configuration, brokers: brokers, consumer: consumer, waits: waits, logger: logger,
            metrics: metrics, onReading: options.onReading, notify: { alert in dispatcher?.dispatch(alert) },
            schemas: schemaRegistry)
    }

    // MARK: - Start

    private func start() throws {
        for topic in configuration.outputTopics where configuration.inputTopics.contains(topic) {
            throw RuntimeError(.configuration, "topics: '\(topic)' is both an input and an output")
        }
        // Local before remote: a snapshot directory the job cannot write in stops it before Kafka is asked.
        do {
            try SnapshotStore(directory: configuration.snapshots.directory, keepLast: configuration.snapshots.keep)
                .checkWritable()
        } catch {
            throw RuntimeError(.snapshot, "snapshots.directory: \(error)")
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
        // Tasks pair partition p of each input topic: the range assignor gives both to the same member.
        if grouped { properties["partition.assignment.strategy"] = "range" }
        consumerConfiguration.properties = properties
        consumerConfiguration.maxBatchSize = 4096
        // Each input partition is read from its own queue, in the order the join wants (RuntimeTask.readInputs).
        consumerConfiguration.partitionQueues = true
        do {
            consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        } catch {
            throw RuntimeError.kafka(error, "cannot start the consumer")
        }
        status.set(.recovering)
        var counts: [(topic: String, role: JobMessage.Role, count: Int)] = []
        for (topic, role) in zip(configuration.inputTopics, [JobMessage.Role.requests, .feedback]) {
            let count = try waits.retrying("topics: cannot read topic '\(topic)'") { timeout throws(KafkaError) in
                try consumer.partitionCount(topic: topic, timeout: timeout)
            }
            counts.append((topic, role, count))
        }
        taskCount = counts[0].count
        if grouped {
            for entry in counts.dropFirst() where entry.count != taskCount {
                throw RuntimeError(
                    .configuration,
                    "kafka.assignment: group pairs partition p of '\(counts[0].topic)' with partition p of '\(entry.topic)', "
                        + "which needs as many partitions in each (\(taskCount) and \(entry.count))")
            }
            consumer.setRebalanceHandler(KafkaRebalanceHandler(
                assigned: { [unowned self] partitions in assigned(partitions) },
                revoked: { [unowned self] partitions, lost in revoked(partitions, lost: lost) }))
            do {
                try consumer.subscribe(topics: configuration.inputTopics)
            } catch {
                throw RuntimeError.kafka(error, "cannot join the group '\(configuration.kafka.group)'")
            }
            status.set(.rebalancing)
            logger.info("joining the group", metadata: ["group": "\(configuration.kafka.group)"])
            return
        }
        var partitions: [TopicPartition] = []
        var roles: [JobMessage.Role] = []
        for entry in counts {
            for partition in 0..<entry.count {
                partitions.append(TopicPartition(entry.topic, Int32(partition)))
                roles.append(entry.role)
            }
        }
        let task = try RuntimeTask(context: taskContext, number: nil, partitions: partitions, roles: roles)
        tasks = [task]
        rebuildRoutes()
        let starts = try task.recover()
        try reposition(starts)
        publishModels()
        status.set(task.relearnRemaining > 0 ? .relearning : .running, remaining: task.relearnRemaining)
    }

    /// Reads `starts` from now on: the assignment itself (`all`), or a seek within the group's assignment.
    private func reposition(_ starts: [TopicPartitionOffset]) throws {
        do {
            if grouped {
                try consumer.seek(to: starts)
            } else {
                try consumer.assign(starts)
            }
        } catch {
            throw RuntimeError.kafka(error, "cannot assign the input partitions")
        }
    }

    // MARK: - Rebalances (`kafka.assignment: group`; called inside a poll)

    private func assigned(_ partitions: [TopicPartition]) -> [TopicPartitionOffset] {
        var starts: [TopicPartitionOffset] = []
        let numbers = Set(partitions.map { Int($0.partition) }).sorted()
        for number in numbers where !tasks.contains(where: { $0.number == number }) {
            var taskPartitions = [TopicPartition(configuration.topics.events, Int32(number))]
            var roles = [JobMessage.Role.requests]
            if let feedback = configuration.topics.feedback, !configuration.sharesFeedbackTopic {
                taskPartitions.append(TopicPartition(feedback, Int32(number)))
                roles.append(.feedback)
            }
            for partition in taskPartitions where !partitions.contains(partition) {
                logger.error("the group assigned \(partitions) without \(partition): partition \(number)'s feedback is not read")
            }
            do {
                let task = try RuntimeTask(context: taskContext, number: number, partitions: taskPartitions, roles: roles)
                starts += try task.recover()
                tasks.append(task)
            } catch {
                rebalanceFailure = rebalanceFailure ?? error
            }
        }
        tasks.sort { ($0.number ?? 0) < ($1.number ?? 0) }
        rebuildRoutes()
        publishModels()
        retired.tasks = Array(Set(retired.tasks + numbers)).sorted()
        let remaining = tasks.reduce(0) { $0 + $1.relearnRemaining }
        status.set(remaining > 0 ? .relearning : .running, remaining: remaining)
        logger.info("tasks assigned", metadata: ["partitions": "\(numbers)"])
        return starts
    }

    private func revoked(_ partitions: [TopicPartition], lost: Bool) {
        status.set(.rebalancing)
        let numbers = Set(partitions.map { Int($0.partition) })
        for task in tasks where numbers.contains(task.number ?? -1) {
            do {
                // Handed over: the next owner starts from this snapshot. Lost: it has fenced this producer.
                if lost { task.closeDirty() } else { try task.closeClean(.handover) }
            } catch {
                logger.error("task \(task.modelName): the handover failed (its next owner re-learns from the snapshot before): \(error)")
            }
            retire(task)
        }
        tasks.removeAll { numbers.contains($0.number ?? -1) }
        rebuildRoutes()
        publishModels()
        logger.info(lost ? "tasks lost" : "tasks handed over", metadata: ["partitions": "\(numbers.sorted())"])
    }

    private func retire(_ task: RuntimeTask) {
        delta.merge(task.takeDelta())
        retired.add(task.summary)
        jobCounters[task.number ?? -1] = (task.job.counters, task.job.alerts, task.job.waiting)
    }

    private func rebuildRoutes() {
        topicRoutes = [:]
        for task in tasks {
            for (index, partition) in task.partitions.enumerated() {
                var list = topicRoutes[partition.topic] ?? []
                while list.count <= Int(partition.partition) { list.append(nil) }
                list[Int(partition.partition)] = (task, index)
                topicRoutes[partition.topic] = list
            }
        }
        routeCache = [:]
    }

    private func route(_ message: KafkaMessageView) -> (task: RuntimeTask, index: Int)? {
        let identity = message.topicIdentity
        let list: [(task: RuntimeTask, index: Int)?]
        if let cached = routeCache[identity] {
            list = cached
        } else {
            guard let found = topicRoutes[message.topic] else { return nil }
            routeCache[identity] = found
            list = found
        }
        let partition = Int(message.partition)
        return partition < list.count ? list[partition] : nil
    }

    // MARK: - The loop

    /// Runs until ``requestStop()`` (or `exitWhenIdle`); then commits, snapshots and closes. Blocks. Throws only
    /// ``RuntimeError``s.
    public func run() throws(RuntimeError) -> Summary {
        do {
            return try loop()
        } catch {
            throw RuntimeError.from(error)
        }
    }

    private func loop() throws -> Summary {
        defer { closeClients() }
        try start()
        var lastInput = ContinuousClock.now
        var lastStatus = ContinuousClock.now
        var statusMessages = (0, 0)
        while !stopRequested.load(ordering: .relaxed) {
            // A transaction covers at most max_messages_per_transaction input messages.
            let open = tasks.reduce(0) { max($0, $1.inTransaction ? $1.transactionMessages : 0) }
            let budget = configuration.output.maxMessagesPerTransaction - open
            let count = try read(max: max(1, budget))

            let now = ContinuousClock.now
            if count > 0 {
                lastInput = now
                if waits.isUnavailable { waits.answered() }
            }
            try handleConsumerEvents()
            // Idle for a second: whether a broker still answers (a metadata request), so that a job with nothing to
            // read still learns at once that Kafka is gone; while unavailable, once a second.
            if waits.probeDue(idle: now - lastInput >= .seconds(1)) { try probeBrokers() }
            for task in tasks {
                if task.commitNeeded(now: now, idle: count == 0) { try task.commit() }
                try task.postCommit()
                if let reason = task.takeRecoveryRequest() { try recover(task, afterAbort: reason) }
            }
            if now - lastStatus >= options.statusInterval {
                let total = totals()
                let seconds = (now - lastStatus).seconds
                options.status(statusLine(
                    inRate: Double(total.messages - statusMessages.0) / seconds,
                    outRate: Double(total.answered - statusMessages.1) / seconds))
                statusMessages = (total.messages, total.answered)
                lastStatus = now
            }
            if now - lastFlush >= .milliseconds(250) { flushMetrics(now: now) }
            if let idle = options.exitWhenIdle, now - lastInput >= idle { break }
            let target = stopAfter.load(ordering: .relaxed)
            if target != .max && tasks.reduce(retired.messages, { $0 + $1.summary.messages }) >= target { break }
        }
        // However the loop ended (a stop, idle, the driver's count), what follows ends within the shutdown bound.
        waits.stop()
        status.set(.stopping)
        for task in tasks {
            try task.closeClean(.shutdown)
            retire(task)
        }
        tasks = []
        rebuildRoutes()
        flushMetrics(now: .now)
        if let alertmanager {
            alertmanager.dispatcher.finish(within: waits.bounded(.seconds(10)))
            alertmanager.sink.close()
        }
        return totals()
    }

    /// The run's counts: tasks that ended and tasks still running.
    private func totals() -> Summary {
        var total = retired
        var counters = jobCounters
        for task in tasks {
            total.add(task.summary)
            counters[task.number ?? -1] = (task.job.counters, task.job.alerts, task.job.waiting)
        }
        var merged: [(String, Int)] = []
        for entry in counters.keys.sorted().compactMap({ counters[$0] }) {
            total.alerts += entry.alerts
            total.waiting += entry.waiting
            for (name, value) in entry.counters {
                if let index = merged.firstIndex(where: { $0.0 == name }) {
                    merged[index].1 += value
                } else {
                    merged.append((name, value))
                }
            }
        }
        total.counters = merged
        total.busy = busy
        if !grouped { total.tasks = [] }
        return total
    }

    private var busy: Duration = .zero
    /// The task that reads first in the next turn (``readFetched(max:)``).
    private var firstTask = 0

    /// Reads at most `max` input messages: what is already fetched, at once; when nothing is, after a wait of up to
    /// 50 ms for anything to arrive (librdkafka wakes the wait when a queue gets a message).
    private func read(max: Int) throws -> Int {
        let count = try readFetched(max: max)
        guard count == 0 else { return count }
        consumer.waitForMessages(timeout: .milliseconds(50))
        return try readFetched(max: max)
    }

    /// The consumer queue first (rebalances, which change the tasks, and errors), then each task's partitions.
    private func readFetched(max: Int) throws -> Int {
        let started = ContinuousClock.now
        var count = try consumer.poll(maxMessages: min(max, 4_096), timeout: .zero) { batch in
            // (Every input partition has its own queue: a message here is one assigned some other way.)
            let received = ContinuousClock.now
            for message in batch {
                guard let (task, index) = route(message) else { continue }
                try task.process(message, index: index, received: received)
            }
        }
        if let failure = rebalanceFailure { throw failure }
        // The first task to read moves round.
        firstTask = tasks.isEmpty ? 0 : (firstTask + 1) % tasks.count
        for step in tasks.indices where count < max {
            count += try tasks[(firstTask + step) % tasks.count].readInputs(consumer, max: max - count)
        }
        if count > 0 {
            if firstMessage == nil { firstMessage = started }
            busy = ContinuousClock.now - firstMessage!
        }
        return count
    }

    /// While Kafka is not answering: whether a broker answers now (a metadata request of up to a second); the
    /// job stops once `kafka.unavailable_timeout_s` has passed without one.
    private func probeBrokers() throws {
        do {
            try consumer.checkBrokersReachable(timeout: waits.bounded(.seconds(1)))
            waits.answered()
        } catch {
            waits.failed(error.message)
            if waits.isOver { throw waits.givingUp("waiting for the brokers", error) }
        }
        status.loopTurned()
    }

    private func handleConsumerEvents() throws {
        for event in consumer.takeEvents() {
            guard case .error(let error) = event else { continue }
            if error.librdkafkaCode == -187 {  // _ALL_BROKERS_DOWN: not ready until a broker answers again
                waits.failed(error.message)
                continue
            }
            if error.isOffsetOutOfRange {
                // Retention overtook the position while running: the same decision as at start, for that partition.
                guard let partition = error.partition else {
                    throw RuntimeError(.lostOffsets, "input offsets fell out of retention while running: \(error.message)")
                }
                for task in tasks where task.partitions.contains(partition) {
                    try task.lostWhileRunning(partition)
                }
                // A partition stopped by the error fetches again only when assigned anew (a seek is refused).
                do {
                    try consumer.assign(tasks.flatMap { task in
                        zip(task.partitions, task.positions).map { TopicPartitionOffset($0, offset: $1) }
                    })
                } catch {
                    throw RuntimeError.kafka(error, "cannot read \(partition) again")
                }
                continue
            }
            if error.isFatal { throw RuntimeError.kafka(error, "the consumer cannot continue") }
            logger.debug("consumer: \(error.message)")
        }
    }

    /// A task's transaction was aborted (its outputs will never show): the task starts again from its newest
    /// snapshot and what the outputs already hold, as a restart would.
    private func recover(_ task: RuntimeTask, afterAbort reason: String) throws {
        logger.warning("transaction aborted; recovering from the newest snapshot: \(reason)", metadata: ["task": "\(task.modelName)"])
        task.abortForRecovery()
        let starts = try task.recover()
        try reposition(starts)
        routeCache = [:]
        publishModels()
    }

    // MARK: - Ops

    /// The models `POST /score` reads: one, or one per task (`group`). None without the ops endpoint: a published
    /// model shares the state's storage, so the loop's next writes copy what they touch (a page of keyed
    /// aggregates, the hashed weights), which only `POST /score` is worth.
    private func publishModels() {
        guard configuration.ops.address != nil else {
            lastPublish = .now
            return
        }
        var models: [Int: LiveModel] = [:]
        for task in tasks { if let model = task.job?.liveModel() { models[task.number ?? -1] = model } }
        status.publish(models, tasks: grouped ? taskCount : nil)
        lastPublish = .now
    }

    /// Hands the counts to the registry, the model to `POST /score` when due, and the `/model` document over.
    private func flushMetrics(now: ContinuousClock.Instant) {
        lastFlush = now
        var remaining = 0
        var oldestSnapshot: ContinuousClock.Instant?
        var figures: [[(String, Double)]] = []
        for task in tasks {
            delta.merge(task.takeDelta())
            figures.append(task.job.recentMetrics)
            delta.quality.append((task.modelName, figures[figures.count - 1]))
            remaining += task.relearnRemaining
            if task.summary.snapshots > 0 || task.summary.restoredFrom != nil {
                oldestSnapshot = min(oldestSnapshot ?? task.lastSnapshot, task.lastSnapshot)
            }
            delta.joinWaiting += task.job.waiting
            delta.heldFeedback += task.job.heldFeedback
            delta.modelVersion += task.job.modelVersion
            for (name, value) in task.job.counters where name.hasPrefix("aggregate_") {
                delta.aggregates[name, default: 0] += value
            }
            delta.partitions += task.partitions.count
        }
        delta.lag = partitionLags()
        if let oldestSnapshot {
            let age = now - oldestSnapshot
            delta.snapshotAgeSeconds = age.seconds
        }
        metrics.flush(delta)
        delta = RuntimeMetrics.Delta()
        // (With no task, as at shutdown, the last models stay: rebalances publish their changes themselves.)
        if now - lastPublish >= configuration.ops.modelRefresh && !tasks.isEmpty { publishModels() }
        let (current, _, _) = status.phase
        var phase: RuntimeStatus.Phase = remaining > 0 ? .relearning : .running
        if current == .stopping || (grouped && tasks.isEmpty && current == .rebalancing) { phase = current }
        status.set(phase, remaining: remaining)
        status.loopTurned(model: modelDocument(phase: phase, figures: figures))
    }

    /// `/model`: the job, its version, newest snapshot, partitions and recent figures (`figures`, task by task;
    /// per task in `group`).
    private func modelDocument(phase: RuntimeStatus.Phase, figures recent: [[(String, Double)]]) -> [UInt8] {
        func describe(_ index: Int) -> [String: Any] {
            let task = tasks[index]
            var figures: [String: Any] = [:]
            for (name, value) in recent[index] where value.isFinite { figures[name] = value }
            for (name, value) in task.job.counters { figures[name] = value }
            let weights = task.job.largestWeights.filter { $0.weight.isFinite }.map { ["feature": $0.feature, "weight": $0.weight] as [String: Any] }
            return [
                "largest_weights": weights,
                "model_version": task.job.modelVersion, "snapshot": task.newestSnapshot ?? NSNull(),
                "restored_from": task.summary.restoredFrom ?? NSNull(), "alerts": task.job.alerts,
                "waiting": task.job.waiting, "metrics": figures,
                "partitions": task.partitions.indices.map {
                    ["topic": task.partitions[$0].topic, "partition": Int(task.partitions[$0].partition), "next_offset": task.positions[$0]]
                },
            ]
        }
        var document: [String: Any] = [
            "name": configuration.name, "job": configuration.kind.rawValue, "phase": phase.rawValue,
            "assignment": configuration.kafka.assignment.rawValue,
        ]
        if let schemaRegistry {
            document["schemas"] = schemaRegistry.known.map { schema -> [String: Any] in
                [
                    "id": Int(schema.id), "type": schema.kind.rawValue, "subject": schema.subject ?? NSNull(),
                    "version": schema.version ?? NSNull(),
                ]
            }
        }
        if grouped {
            document["tasks"] = tasks.indices.map { describe($0).merging(["task": tasks[$0].number ?? 0]) { $1 } }
        } else if !tasks.isEmpty {
            document.merge(describe(0)) { $1 }
        }
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Array(data)
    }

    /// Messages not processed yet, per input partition (from the watermarks librdkafka last saw).
    private func partitionLags() -> [(topic: String, partition: Int32, lag: Int64)] {
        tasks.flatMap { task in
            task.partitions.indices.compactMap { index in
                let partition = task.partitions[index]
                return consumer.cachedWatermarks(topic: partition.topic, partition: partition.partition).map {
                    (partition.topic, partition.partition, max(0, $0.high - task.positions[index]))
                }
            }
        }
    }

    private func statusLine(inRate: Double, outRate: Double) -> String {
        let lag = partitionLags().reduce(Int64(0)) { $0 + $1.lag }
        let total = totals()
        let dead = total.deadLetters.values.reduce(0, +)
        let held = grouped ? ", tasks \(tasks.compactMap(\.number))" : ""
        return "run \(configuration.name): in \(Int(inRate))/s, out \(Int(outRate))/s, lag \(lag), "
            + "waiting \(total.waiting), alerts \(total.alerts), dead letters \(dead), snapshots \(total.snapshots)\(held)"
    }

    private func closeClients() {
        // Tasks still open here failed: their producers close without a snapshot (a restart recovers).
        for task in tasks { task.closeDirty() }
        tasks = []
        do {
            try consumer?.close(timeout: waits.bounded(.seconds(10)))
        } catch {
            logger.warning("closing the consumer: \(error)")
        }
    }
}

