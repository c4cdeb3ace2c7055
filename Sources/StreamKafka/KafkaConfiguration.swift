/// Where offsets start for a consumer group that has no committed offset yet.
public enum AutoOffsetReset: String, Sendable, Codable, CaseIterable {
    /// From the oldest message still stored.
    case earliest
    /// Only messages produced after the consumer joins (Kafka's default).
    case latest
}

/// How a consumer group spreads partitions over its members (`partition.assignment.strategy`).
public enum AssignmentStrategy: String, Sendable, Codable, CaseIterable {
    case range
    case roundRobin = "roundrobin"
    /// Incremental rebalancing: members keep their partitions while others join or leave.
    case cooperativeSticky = "cooperative-sticky"
}

/// Settings of a ``KafkaConsumer``.
///
/// Typed properties cover the common keys; ``properties`` passes any librdkafka property through unchanged
/// (SASL, SSL, fetch tuning) and wins over a typed one with the same key.
public struct KafkaConsumerConfiguration: Sendable, CustomStringConvertible {
    /// Comma-separated `host:port` list (`bootstrap.servers`).
    public var bootstrapServers: String
    /// Consumer group (`group.id`).
    public var groupID: String
    /// `client.id`. Default `streamlearn`.
    public var clientID: String = "streamlearn"
    /// Where a group without committed offsets starts. Default ``AutoOffsetReset/latest``.
    public var autoOffsetReset: AutoOffsetReset = .latest
    /// Partition assignment strategy. Default ``AssignmentStrategy/roundRobin``.
    ///
    /// - Note: With Debian's librdkafka 2.0.2, a `cooperative-sticky` consumer that is destroyed before its first
    ///   assignment aborts the process (librdkafka issue #4312, fixed in 2.3.0). ``KafkaConsumer/close()`` then
    ///   leaves the handle undestroyed rather than crash; prefer the eager strategies on that version.
    public var assignmentStrategy: AssignmentStrategy = .roundRobin
    /// Let librdkafka commit on a timer. Default `false`: offsets are committed only when the application
    /// says their effects are durable (``KafkaConsumer/commit(_:)``).
    public var enableAutoCommit: Bool = false
    /// Group session timeout (`session.timeout.ms`). Default 10 s (Kafka's default before 3.0; librdkafka's is
    /// 45 s).
    ///
    /// - Note: After the last member of a group leaves, librdkafka 2.0.2's mock coordinator (the embedded broker)
    ///   keeps the group rebalancing for this long minus a second before it lets a new member in, so the next
    ///   consumer of the group waits that long for its assignment; with 45 s, a second `consume --group g` gave up
    ///   before it was assigned. Real brokers let the next member in at once.
    public var sessionTimeout: Duration = .seconds(10)

    /// The session timeout librdkafka will use: a `session.timeout.ms` in ``properties`` wins over
    /// ``sessionTimeout``, as every passed-through property does.
    public var effectiveSessionTimeout: Duration {
        properties["session.timeout.ms"].flatMap { Int64($0) }.map { .milliseconds($0) } ?? sessionTimeout
    }
    /// The most messages one ``KafkaConsumer/poll(maxMessages:timeout:_:)`` hands out. Default 4096.
    public var maxBatchSize: Int = 4096
    /// Read each assigned partition from its own queue
    /// (``KafkaConsumer/poll(inTimestampOrder:maxMessages:groups:quotas:hold:_:)``) rather than
    /// all of them through one. A reader then decides which partition goes next, and a partition it leaves unread
    /// stops being fetched once its queue is full (`queued.max.messages.kbytes`, per partition) — no pause, no
    /// refetch. ``KafkaConsumer/poll(maxMessages:timeout:_:)`` still serves rebalances and errors. Default `false`.
    public var partitionQueues: Bool = false
    /// Any other librdkafka property, passed through as is.
    public var properties: [String: String] = [:]

    public init(bootstrapServers: String, groupID: String) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
    }

    /// The librdkafka properties this configuration sets, in the order they are applied.
    public var librdkafkaProperties: [(key: String, value: String)] {
        var typed: [(key: String, value: String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("group.id", groupID),
            ("client.id", clientID),
            ("auto.offset.reset", autoOffsetReset.rawValue),
            ("partition.assignment.strategy", assignmentStrategy.rawValue),
            ("enable.auto.commit", String(enableAutoCommit)),
            // Offsets are stored only by the application (`store`/`commit`), never as a side effect of polling.
            ("enable.auto.offset.store", "false"),
            ("session.timeout.ms", String(sessionTimeout.milliseconds)),
        ]
        return merged(&typed, with: properties)
    }

    public var description: String { describe(librdkafkaProperties) }
}

/// Settings of a ``KafkaProducer``.
public struct KafkaProducerConfiguration: Sendable, CustomStringConvertible {
    /// Comma-separated `host:port` list (`bootstrap.servers`).
    public var bootstrapServers: String
    /// `client.id`. Default `streamlearn`.
    public var clientID: String = "streamlearn"
    /// Exactly-once per partition, in order, with no duplicates on retry (`enable.idempotence`). Default `true`.
    public var enableIdempotence: Bool = true
    /// How long librdkafka keeps trying to deliver a message before reporting it failed
    /// (`message.timeout.ms`). Default 30 s.
    public var messageTimeout: Duration = .seconds(30)
    /// How long to wait to fill a batch (`linger.ms`). Default 5 ms.
    public var linger: Duration = .milliseconds(5)
    /// Makes the producer transactional (`transactional.id`): see ``KafkaProducer/initTransactions(timeout:)``.
    /// A new producer with the same id fences the old one and aborts its open transaction.
    public var transactionalID: String?
    /// Any other librdkafka property, passed through as is.
    public var properties: [String: String] = [:]

    public init(bootstrapServers: String) {
        self.bootstrapServers = bootstrapServers
    }

    /// The librdkafka properties this configuration sets, in the order they are applied.
    public var librdkafkaProperties: [(key: String, value: String)] {
        var typed: [(key: String, value: String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientID),
            ("enable.idempotence", String(enableIdempotence)),
            ("message.timeout.ms", String(messageTimeout.milliseconds)),
            ("linger.ms", String(linger.milliseconds)),
        ]
        if let transactionalID { typed.append(("transactional.id", transactionalID)) }
        return merged(&typed, with: properties)
    }

    public var description: String { describe(librdkafkaProperties) }
}

/// Property keys whose values are never logged or printed.
///
/// Any key naming a password, secret or private key counts (`sasl.password`, `ssl.key.password`,
/// `ssl.keystore.password`, `sasl.oauthbearer.client.secret`, `ssl.key.pem`, …).
public func isSecretKafkaProperty(_ key: String) -> Bool {
    let lowered = key.lowercased()
    return lowered.contains("password") || lowered.contains("secret") || lowered == "ssl.key.pem"
        || lowered == "sasl.oauthbearer.config" || lowered.hasSuffix(".jaas.config")
}

private func merged(
    _ typed: inout [(key: String, value: String)],
    with passThrough: [String: String]
) -> [(key: String, value: String)] {
    typed.removeAll { passThrough[$0.key] != nil }
    // Sorted so that the order (and the first error reported) does not depend on dictionary order.
    typed.append(contentsOf: passThrough.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) })
    return typed
}

func describe(_ properties: [(key: String, value: String)]) -> String {
    properties.map { "\($0.key)=\(isSecretKafkaProperty($0.key) ? "[redacted]" : $0.value)" }
        .joined(separator: " ")
}

extension Duration {
    /// Whole milliseconds, saturating at `Int32.max` (librdkafka's timeouts are `int`).
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return Int(min(max(ms, 0), Int64(Int32.max)))
    }
}
