/// The one error type of `StreamKafka`.
///
/// Codes are opaque values with `static let` cases (as `ServiceGroupError` does), so new cases do not break callers.
/// Messages name the configuration key, topic or broker at fault; librdkafka's own text is kept verbatim.
public struct KafkaError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case configuration
            case unknownConfigurationKey
            case brokersUnreachable
            case deliveryFailed
            case produce
            case consume
            case commit
            case seek
            case rebalance
            case timedOut
            case closed
            case embeddedBroker
            case invalidArgument
            case transaction
        }

        let base: Base

        /// A configuration value librdkafka refused.
        public static let configuration = Code(base: .configuration)
        /// A configuration key librdkafka does not know.
        public static let unknownConfigurationKey = Code(base: .unknownConfigurationKey)
        /// No broker answered within the timeout.
        public static let brokersUnreachable = Code(base: .brokersUnreachable)
        /// One or more messages could not be delivered (delivery report with an error).
        public static let deliveryFailed = Code(base: .deliveryFailed)
        /// librdkafka refused to enqueue a message.
        public static let produce = Code(base: .produce)
        /// The consumer reported an error while fetching.
        public static let consume = Code(base: .consume)
        /// An offset commit failed.
        public static let commit = Code(base: .commit)
        /// A seek, pause or resume failed.
        public static let seek = Code(base: .seek)
        /// Subscribing, assigning or rebalancing failed.
        public static let rebalance = Code(base: .rebalance)
        /// An operation did not finish within its timeout.
        public static let timedOut = Code(base: .timedOut)
        /// The client was already closed.
        public static let closed = Code(base: .closed)
        /// The embedded (mock) broker could not be started or controlled.
        public static let embeddedBroker = Code(base: .embeddedBroker)
        /// An argument was out of range.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// A transactional producer call failed (initialising, beginning, committing or aborting).
        public static let transaction = Code(base: .transaction)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence saying what failed, naming the key, topic or broker.
    public var message: String
    /// The configuration key at fault, for configuration errors.
    public var key: String?
    /// librdkafka's `rd_kafka_resp_err_t`, when librdkafka reported one.
    public var librdkafkaCode: Int32?
    /// The partition a consumer error is about, when it is about one (an offset out of range, say).
    public var partition: TopicPartition?
    /// librdkafka says the client cannot continue (for example a fatal idempotent-producer error).
    public var isFatal: Bool
    /// The same call may succeed later (transient broker or network trouble).
    public var isRetriable: Bool

    public init(
        _ code: Code,
        _ message: String,
        key: String? = nil,
        librdkafkaCode: Int32? = nil,
        isFatal: Bool = false,
        isRetriable: Bool = false
    ) {
        self.code = code
        self.message = message
        self.key = key
        self.librdkafkaCode = librdkafkaCode
        self.isFatal = isFatal
        self.isRetriable = isRetriable
    }

    public var description: String { "Kafka \(code) error: \(message)" }

    /// The consumer's position is outside what the partition still holds (fell out of retention, or beyond its
    /// end) and no automatic reset was allowed: librdkafka's `_AUTO_OFFSET_RESET` or Kafka's `OFFSET_OUT_OF_RANGE`.
    public var isOffsetOutOfRange: Bool { librdkafkaCode == -140 || librdkafkaCode == 1 }
}
