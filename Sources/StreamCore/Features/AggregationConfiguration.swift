/// Keyed aggregates: features computed from each key's history in event time (a card's count of transactions in
/// the last hour, its mean amount over a day, its merchant's fraud rate over a month).
///
/// Every aggregate is read from the key's history **before** its event is added, then the event is added: a
/// feature never contains its own event. Target aggregates (``AggregateSpec/Function/targetRate``,
/// ``AggregateSpec/Function/targetCount``) change only when a label is learned, at the label's time: never at the
/// event's, so a score never sees the outcome of an event that had no label yet.
public struct AggregationConfiguration: Sendable, Hashable, Codable {
    /// The aggregates, each a dense feature named by its ``AggregateSpec/name``.
    public var aggregates: [AggregateSpec] = []
    /// Events up to this much older than the newest event seen are added to their own time's bucket; older ones
    /// are *late*: counted, scored against the state as it is, never added. Default 0.
    public var allowedLatenessMilliseconds: Int64 = 0
    /// The most keys kept per key (each distinct ``AggregateSpec/key``); the least recently seen is evicted
    /// (counted) when a new key would exceed it. Default 1,048,576.
    public var capacity: Int = 1 << 20
    /// The most distinct values a key remembers for `distinct` and `first_seen` (exact up to this many values in
    /// the window; beyond it the value seen longest ago is forgotten). One 8-byte word per value per key. Default 16.
    public var maxDistinct: Int = 16
    /// A target rate starts from the global rate with this weight in labels (a new key scores the global rate;
    /// after `prior` labels of its own, half its own rate). Default 10.
    public var prior: Double = 10

    public init(aggregates: [AggregateSpec] = []) {
        self.aggregates = aggregates
    }

    /// The longest window (the idle time after which a key is dropped) of the aggregates over `key`.
    public func timeToLive(key: [String]) -> Int64 {
        aggregates.filter { $0.key == key }.map(\.windowMilliseconds).max() ?? 0
    }

    /// Checks every value; the message names the aggregate (`aggregates[2].window`) at fault.
    public func validate() throws(AggregationError) {
        var names = Set<String>()
        for (index, spec) in aggregates.enumerated() {
            let path = "aggregates[\(index)]"
            if spec.name.isEmpty { throw AggregationError(path: "\(path).name", reason: "must not be empty") }
            if !names.insert(spec.name).inserted {
                throw AggregationError(path: "\(path).name", reason: "'\(spec.name)' is used twice")
            }
            if spec.key.isEmpty || spec.key.contains(where: \.isEmpty) {
                throw AggregationError(path: "\(path).key", reason: "needs one or more field names")
            }
            if spec.function.needsField && (spec.field ?? "").isEmpty {
                throw AggregationError(path: "\(path).field", reason: "is required for \(spec.function.rawValue)")
            }
            if !spec.function.needsField && spec.field != nil {
                throw AggregationError(path: "\(path).field", reason: "is not used by \(spec.function.rawValue)")
            }
            let thirtyDays: Int64 = 30 * 86_400_000
            if spec.windowMilliseconds < 1_000 || spec.windowMilliseconds > thirtyDays {
                throw AggregationError(
                    path: "\(path).window", reason: "must be from 1 s to 30 days, got \(spec.windowMilliseconds) ms")
            }
            if spec.function.isBucketed && !(1...64).contains(spec.buckets) {
                throw AggregationError(path: "\(path).buckets", reason: "must be from 1 to 64, got \(spec.buckets)")
            }
        }
        if allowedLatenessMilliseconds < 0 {
            throw AggregationError(path: "allowed_lateness", reason: "must not be negative")
        }
        if !(1...(1 << 26)).contains(capacity) {
            throw AggregationError(path: "capacity", reason: "must be from 1 to 67,108,864 keys, got \(capacity)")
        }
        if !(1...1_024).contains(maxDistinct) {
            throw AggregationError(path: "max_distinct", reason: "must be from 1 to 1,024, got \(maxDistinct)")
        }
        if !(prior >= 0 && prior.isFinite) {
            throw AggregationError(path: "prior", reason: "must be a finite number ≥ 0, got \(prior)")
        }
    }
}

/// One keyed aggregate.
public struct AggregateSpec: Sendable, Hashable, Codable {
    public enum Function: String, Sendable, Hashable, Codable, CaseIterable {
        /// Events of the key in the window.
        case count
        /// Sum, mean, minimum, maximum and (population) standard deviation of `field` in the window.
        case sum, mean, min, max, std
        /// How many standard deviations this event's `field` is from the key's mean in the window (missing until
        /// the key has two events with different values).
        case zscore
        /// Distinct values of `field` in the window (exact up to ``AggregationConfiguration/maxDistinct``).
        case distinct
        /// Seconds since the key's previous event (missing for a key's first event).
        case sinceLast = "since_last"
        /// 1 when the key has not seen this event's `field` value within the window, else 0.
        case firstSeen = "first_seen"
        /// The key's rate of positive labels in the window, shrunk towards the global rate.
        case targetRate = "target_rate"
        /// The key's positive labels in the window.
        case targetCount = "target_count"

        public var needsField: Bool {
            switch self {
            case .count, .sinceLast, .targetRate, .targetCount: false
            default: true
            }
        }

        /// Kept as a ring of time buckets (the others keep values or one time).
        public var isBucketed: Bool {
            switch self {
            case .distinct, .sinceLast, .firstSeen: false
            default: true
            }
        }

        public var isTarget: Bool { self == .targetRate || self == .targetCount }
    }

    /// The dense feature's name.
    public var name: String
    /// The key: one field or a tuple of fields (string or number values).
    public var key: [String]
    public var function: Function
    /// The value field (numeric for sum/mean/min/max/std/zscore, either for distinct/first_seen).
    public var field: String?
    /// The window in event time: from 1 s to 30 days.
    public var windowMilliseconds: Int64
    /// The window is a ring of this many buckets of `window / buckets` each: an event counts while its bucket is
    /// in the ring, so a window of W covers between W − W/buckets and W of history. Default 8.
    public var buckets: Int = 8

    public init(
        name: String, key: [String], function: Function, field: String? = nil, windowMilliseconds: Int64,
        buckets: Int = 8
    ) {
        self.name = name
        self.key = key
        self.function = function
        self.field = field
        self.windowMilliseconds = windowMilliseconds
        self.buckets = buckets
    }
}

/// A configuration error of keyed aggregates, naming the key at fault.
public struct AggregationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}
