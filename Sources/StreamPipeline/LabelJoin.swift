import DequeModule
import OnlineLearning
public import StreamCore

/// Scored events waiting for their labels, which arrive later as label lines (`{"id": …, "label": …}`, no
/// features) or on a labels topic: the event is scored when it arrives and learned when its label comes.
///
/// The buffer is bounded by ``Configuration/capacity`` events and by age (``Configuration/maxAge``: events seen
/// since, or event time). An event that leaves it unlabelled has *expired* and is handled by
/// ``Configuration/expiry``: dropped, or learned with a default label (as decision services apply a default
/// reward). A label whose id is not waiting is an *orphan* (never seen, or already expired) or a *duplicate* (its
/// event was joined recently, among the last `capacity` joins); neither is learned. Everything, counts included,
/// is part of the pipeline's snapshot, so a resumed run joins exactly as an uninterrupted one.
///
/// - Complexity: O(1) amortised per event and label; memory O(capacity × features).
public struct LabelJoin: Sendable {
    public struct Configuration: Sendable, Hashable, Codable {
        /// Events that may wait at once; the oldest expires when one more arrives. Default 100,000.
        public var capacity = 100_000
        /// How old a waiting event may grow. Default: 100,000 events.
        public var maxAge = MaxAge.events(100_000)
        /// What happens to an event that expires. Default: dropped.
        public var expiry = ExpiryPolicy.drop
        /// Hold a label that comes before its event (another topic read ahead), within the same bounds, and learn
        /// the event as soon as it arrives; such a label becomes an orphan only when it expires unmatched.
        /// Default `false` (a file's labels follow their events); the runtime turns it on.
        public var holdEarlyLabels = false

        public init() {}

        public func validate() throws(PipelineError) {
            guard capacity >= 1 else {
                throw PipelineError(.invalidConfiguration, "label_join.capacity: must be at least 1, got \(capacity)")
            }
            switch maxAge {
            case .events(let count) where count < 1:
                throw PipelineError(.invalidConfiguration, "label_join.max_age: must be at least 1 event, got \(count)")
            case .milliseconds(let milliseconds) where milliseconds < 1:
                throw PipelineError(.invalidConfiguration, "label_join.max_age: must be at least 1 ms, got \(milliseconds)")
            default: break
            }
        }
    }

    /// How long an event may wait for its label.
    public enum MaxAge: Sendable, Hashable, Codable {
        /// Events seen since it arrived (labelled or not).
        case events(Int)
        /// Event time (the events' `ts`) since it arrived; events without a time wait until pushed out by capacity.
        case milliseconds(Int64)
    }

    /// What happens to an event whose label never came.
    public enum ExpiryPolicy: Sendable, Hashable, Codable {
        case drop
        /// Learn it with this label.
        case learn(label: Bool)
    }

    /// What the join has done so far (cumulative across restarts).
    public struct Counts: Sendable, Hashable, Codable {
        /// Labels joined to their event.
        public var joined = 0
        /// Events that expired unlabelled.
        public var expired = 0
        /// Of those, learned with the default label.
        public var expiredLearned = 0
        /// Labels for no waiting event.
        public var orphans = 0
        /// Labels for an event already joined.
        public var duplicates = 0
        /// Events whose id was already waiting (scored, not held).
        public var duplicateEvents = 0

        public init() {}
    }

    /// An event waiting for its label.
    public struct Held: Sendable, Equatable {
        public var id: String
        public var score: Double
        public var features: FeatureVector
        /// The join's clock when it arrived.
        var arrival: Int
        var timestamp: Int64?
        /// Its place in the hold order (its queue index is `sequence − frontSequence`); not state.
        var sequence = 0
    }

    /// The outcome of a label.
    public enum Match: Sendable, Equatable {
        case joined(Held)
        case orphan
        case duplicate
        /// Held until its event arrives (``Configuration/holdEarlyLabels``).
        case early
    }

    /// What holding an event did.
    public enum HoldResult: Sendable, Equatable {
        case held
        /// An event with its id is already waiting: nothing held.
        case duplicate
        /// Its label came first: learn it now with this label (nothing held).
        case labelled(Bool)
    }

    /// A label that came before its event.
    public struct EarlyLabel: Sendable, Equatable, Codable {
        public var id: String
        public var label: Bool
        var arrival: Int
        var timestamp: Int64?
        /// What the caller attached to it (the runtime: the message, for the dead-letter topic on expiry).
        public var origin: [UInt8]
    }

    /// Replaced on a restart whose configuration changed it: a smaller capacity or age evicts at the next event.
    public var configuration: Configuration
    public private(set) var counts = Counts()
    /// Held events in arrival order; `nil` features mark one already joined (removed when it reaches the front).
    private var queue: Deque<Held?> = []
    /// Waiting ids, and their hold sequence numbers.
    private var waiting: [String: Int] = [:]
    /// The sequence number of the queue's first slot, and of the next hold.
    private var frontSequence = 0
    private var nextSequence = 0
    /// The last `capacity` joined ids (duplicates are told from orphans by them).
    private var joinedRecently: Deque<String> = []
    private var joinedSet: Set<String> = []
    /// Feature vectors of joined or expired events, kept for the next holds (not state): holding an event then
    /// copies into buffers that already have the capacity, without allocating.
    private var spare: [FeatureVector] = []
    /// Events seen.
    private var clock = 0
    /// The newest event time seen.
    private var newestTimestamp: Int64?
    /// Labels waiting for their event, and their arrival order (entries whose label left are skipped).
    private var early: [String: EarlyLabel] = [:]
    private var earlyOrder: Deque<(id: String, arrival: Int)> = []

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Events waiting for a label.
    public var waitingCount: Int { waiting.count }

    /// Labels waiting for their event.
    public var earlyCount: Int { early.count }

    private func isOld(arrival: Int, timestamp: Int64?) -> Bool {
        switch configuration.maxAge {
        case .events(let age): return clock - arrival > age
        case .milliseconds(let age):
            return timestamp.map { stamp in newestTimestamp.map { $0 - stamp > age } ?? false } ?? false
        }
    }

    /// Counts one more event seen (labelled or not) at event time `timestamp`, then expires what has grown too
    /// old, oldest first, handing each event to `expire` and each early label to `orphan`.
    public mutating func advance(
        timestamp: Int64?, orphan: (EarlyLabel) throws -> Void = { _ in }, expire: (Held) throws -> Void
    ) rethrows {
        clock += 1
        if let timestamp, timestamp > newestTimestamp ?? .min { newestTimestamp = timestamp }
        while let (id, arrival) = earlyOrder.first {
            guard let label = early[id], label.arrival == arrival else {
                earlyOrder.removeFirst()
                continue
            }
            guard isOld(arrival: arrival, timestamp: label.timestamp) || early.count > configuration.capacity else { break }
            earlyOrder.removeFirst()
            early[id] = nil
            counts.orphans += 1
            try orphan(label)
        }
        while let front = queue.first {
            guard let held = front else {
                popFront()
                continue
            }
            let old = isOld(arrival: held.arrival, timestamp: held.timestamp)
            // Bounded by live events, and by joined ones not yet at the front (they cost no features).
            guard old || waiting.count > configuration.capacity || queue.count > 2 * configuration.capacity else { break }
            popFront()
            waiting[held.id] = nil
            counts.expired += 1
            if case .learn = configuration.expiry { counts.expiredLearned += 1 }
            try expire(held)
        }
    }

    /// Holds a scored event until its label comes, with a copy of `features` (into a recycled buffer when there
    /// is one); or says why not: an event with its id is waiting, or its label already came.
    @discardableResult
    public mutating func hold(id: String, score: Double, copying features: FeatureVector, timestamp: Int64?) -> HoldResult {
        guard waiting[id] == nil else {
            counts.duplicateEvents += 1
            return .duplicate
        }
        if !early.isEmpty, let label = early.removeValue(forKey: id) {
            remember(joined: id)
            return .labelled(label.label)
        }
        var copy = spare.popLast() ?? FeatureVector()
        copy.dense.removeAll(keepingCapacity: true)
        copy.dense.append(contentsOf: features.dense)
        copy.hashedIndices.removeAll(keepingCapacity: true)
        copy.hashedIndices.append(contentsOf: features.hashedIndices)
        copy.hashedValues.removeAll(keepingCapacity: true)
        copy.hashedValues.append(contentsOf: features.hashedValues)
        copy.targetKeys.removeAll(keepingCapacity: true)
        copy.targetKeys.append(contentsOf: features.targetKeys)
        waiting[id] = nextSequence
        queue.append(Held(id: id, score: score, features: copy, arrival: clock, timestamp: timestamp, sequence: nextSequence))
        nextSequence += 1
        return .held
    }

    /// Gives a taken or expired event's buffers back for later holds (at most 64 are kept).
    public mutating func recycle(_ held: Held) {
        if spare.count < 64 { spare.append(held.features) }
    }

    /// The waiting event a label with `id` belongs to, taken out of the buffer; or why there is none. With
    /// ``Configuration/holdEarlyLabels``, a label for an id not seen yet is held (with `origin`) for its event.
    public mutating func take(
        id: String, label: Bool = false, timestamp: Int64? = nil, origin: @autoclosure () -> [UInt8] = []
    ) -> Match {
        guard let sequence = waiting.removeValue(forKey: id) else {
            if joinedSet.contains(id) || early[id] != nil {
                counts.duplicates += 1
                return .duplicate
            }
            guard configuration.holdEarlyLabels else {
                counts.orphans += 1
                return .orphan
            }
            early[id] = EarlyLabel(id: id, label: label, arrival: clock, timestamp: timestamp, origin: origin())
            earlyOrder.append((id, clock))
            return .early
        }
        let index = sequence - frontSequence
        let held = queue[index]!
        queue[index] = nil
        remember(joined: id)
        while queue.first == .some(nil) { popFront() }
        return .joined(held)
    }

    private mutating func remember(joined id: String) {
        counts.joined += 1
        joinedRecently.append(id)
        joinedSet.insert(id)
        while joinedRecently.count > configuration.capacity { joinedSet.remove(joinedRecently.removeFirst()) }
    }

    private mutating func popFront() {
        queue.removeFirst()
        frontSequence += 1
    }
}

extension LabelJoin: Equatable {
    /// Equal when they hold the same events and would join the same labels alike.
    public static func == (lhs: LabelJoin, rhs: LabelJoin) -> Bool {
        lhs.configuration == rhs.configuration && lhs.counts == rhs.counts && lhs.clock == rhs.clock
            && lhs.newestTimestamp == rhs.newestTimestamp && lhs.joinedRecently == rhs.joinedRecently
            && lhs.queue.compactMap { $0 } == rhs.queue.compactMap { $0 } && lhs.earlyInOrder == rhs.earlyInOrder
    }

    /// The early labels, oldest first.
    var earlyInOrder: [EarlyLabel] {
        earlyOrder.compactMap { entry in early[entry.id].flatMap { $0.arrival == entry.arrival ? $0 : nil } }
    }
}

extension LabelJoin.Held {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.id == rhs.id && lhs.score.bitPattern == rhs.score.bitPattern && lhs.features == rhs.features
            && lhs.arrival == rhs.arrival && lhs.timestamp == rhs.timestamp
    }
}

extension LabelJoin: Codable {
    enum CodingKeys: String, CodingKey {
        case configuration, counts, held, joinedRecently = "joined_recently", clock, newestTimestamp = "newest_timestamp"
        case early = "early_labels", heldColumns = "held_columns"
    }

    /// The held events as columns: one packed array per field over all events (ids a list of strings), so that a
    /// join holding 100,000 events encodes as a few long strings rather than 100,000 objects.
    struct HeldColumns: Codable {
        var ids: [String]
        var scores: PackedDoubles
        var arrivals: PackedInt64s
        /// `Int64.min`: no timestamp.
        var timestamps: PackedInt64s
        var denseCounts: PackedIndices
        var dense: PackedDoubles
        var hashedCounts: PackedIndices
        var hashedIndices: PackedIndices
        var hashedValues: PackedDoubles
        /// Each event's keys for target aggregates, as many per event (absent without target aggregates).
        var targetKeys: PackedInt64s?

        enum CodingKeys: String, CodingKey {
            case ids, scores, arrivals, timestamps, denseCounts = "dense_counts", dense, hashedCounts = "hashed_counts"
            case hashedIndices = "hashed_indices", hashedValues = "hashed_values", targetKeys = "target_keys"
        }

        init(_ held: some Collection<Held>) {
            ids = held.map(\.id)
            scores = PackedDoubles(held.map(\.score))
            arrivals = PackedInt64s(held.map { Int64($0.arrival) })
            timestamps = PackedInt64s(held.map { $0.timestamp ?? .min })
            denseCounts = PackedIndices(held.map { UInt32($0.features.dense.count) })
            hashedCounts = PackedIndices(held.map { UInt32($0.features.hashedIndices.count) })
            var dense: [Double] = []
            var indices: [UInt32] = []
            var values: [Double] = []
            dense.reserveCapacity(held.reduce(0) { $0 + $1.features.dense.count })
            indices.reserveCapacity(held.reduce(0) { $0 + $1.features.hashedIndices.count })
            values.reserveCapacity(indices.capacity)
            for event in held {
                dense.append(contentsOf: event.features.dense)
                indices.append(contentsOf: event.features.hashedIndices)
                values.append(contentsOf: event.features.hashedValues)
            }
            self.dense = PackedDoubles(dense)
            hashedIndices = PackedIndices(indices)
            hashedValues = PackedDoubles(values)
            let keys = held.flatMap { $0.features.targetKeys.map { Int64(bitPattern: $0) } }
            targetKeys = keys.isEmpty ? nil : PackedInt64s(keys)
        }

        /// The events, or `nil` when the columns do not agree in length.
        var events: [Held]? {
            let count = ids.count
            guard scores.values.count == count, arrivals.values.count == count, timestamps.values.count == count,
                denseCounts.values.count == count, hashedCounts.values.count == count,
                denseCounts.values.reduce(0, { $0 + Int($1) }) == dense.values.count,
                hashedCounts.values.reduce(0, { $0 + Int($1) }) == hashedIndices.values.count,
                hashedIndices.values.count == hashedValues.values.count,
                (targetKeys?.values.count ?? 0) % max(count, 1) == 0
            else { return nil }
            let keysPerEvent = count == 0 ? 0 : (targetKeys?.values.count ?? 0) / count
            var events: [Held] = []
            events.reserveCapacity(count)
            var denseStart = 0
            var hashedStart = 0
            for index in 0..<count {
                var features = FeatureVector()
                let denseEnd = denseStart + Int(denseCounts.values[index])
                let hashedEnd = hashedStart + Int(hashedCounts.values[index])
                features.dense = Array(dense.values[denseStart..<denseEnd])
                features.hashedIndices = Array(hashedIndices.values[hashedStart..<hashedEnd])
                features.hashedValues = Array(hashedValues.values[hashedStart..<hashedEnd])
                if let targetKeys {
                    features.targetKeys = targetKeys.values[index * keysPerEvent..<(index + 1) * keysPerEvent]
                        .map { UInt64(bitPattern: $0) }
                }
                denseStart = denseEnd
                hashedStart = hashedEnd
                let timestamp = timestamps.values[index]
                events.append(Held(
                    id: ids[index], score: scores.values[index], features: features, arrival: Int(arrivals.values[index]),
                    timestamp: timestamp == .min ? nil : timestamp))
            }
            return events
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(configuration, forKey: .configuration)
        try container.encode(counts, forKey: .counts)
        try container.encode(HeldColumns(queue.lazy.compactMap { $0 }), forKey: .heldColumns)
        try container.encode(Array(joinedRecently), forKey: .joinedRecently)
        try container.encode(clock, forKey: .clock)
        try container.encodeIfPresent(newestTimestamp, forKey: .newestTimestamp)
        if !early.isEmpty { try container.encode(earlyInOrder, forKey: .early) }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(configuration: try container.decode(Configuration.self, forKey: .configuration))
        counts = try container.decode(Counts.self, forKey: .counts)
        // Snapshots written before the columns hold one object per event.
        let held: [Held]
        if let columns = try container.decodeIfPresent(HeldColumns.self, forKey: .heldColumns) {
            guard let events = columns.events else {
                throw DecodingError.dataCorruptedError(
                    forKey: .heldColumns, in: container, debugDescription: "the held events' columns differ in length")
            }
            held = events
        } else {
            held = try container.decode([Held].self, forKey: .held)
        }
        clock = try container.decode(Int.self, forKey: .clock)
        newestTimestamp = try container.decodeIfPresent(Int64.self, forKey: .newestTimestamp)
        guard zip(held, held.dropFirst()).allSatisfy({ $0.arrival < $1.arrival }), held.allSatisfy({ $0.arrival <= clock }),
            Set(held.map(\.id)).count == held.count
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .held, in: container, debugDescription: "held events must have distinct ids and ascending arrivals")
        }
        for var entry in held {
            entry.sequence = nextSequence
            waiting[entry.id] = nextSequence
            queue.append(entry)
            nextSequence += 1
        }
        joinedRecently = Deque(try container.decode([String].self, forKey: .joinedRecently))
        joinedSet = Set(joinedRecently)
        for label in try container.decodeIfPresent([EarlyLabel].self, forKey: .early) ?? [] {
            early[label.id] = label
            earlyOrder.append((label.id, label.arrival))
        }
    }
}

extension LabelJoin.Held: Codable {
    enum CodingKeys: String, CodingKey {
        case id, score, dense, hashedIndices = "hashed_indices", hashedValues = "hashed_values", arrival, timestamp
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(score, forKey: .score)
        try container.encode(PackedDoubles(features.dense), forKey: .dense)
        try container.encode(PackedIndices(features.hashedIndices), forKey: .hashedIndices)
        try container.encode(PackedDoubles(features.hashedValues), forKey: .hashedValues)
        try container.encode(arrival, forKey: .arrival)
        try container.encodeIfPresent(timestamp, forKey: .timestamp)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        score = try container.decode(Double.self, forKey: .score)
        features = FeatureVector()
        features.dense = try container.decode(PackedDoubles.self, forKey: .dense).values
        features.hashedIndices = try container.decode(PackedIndices.self, forKey: .hashedIndices).values
        features.hashedValues = try container.decode(PackedDoubles.self, forKey: .hashedValues).values
        guard features.hashedIndices.count == features.hashedValues.count else {
            throw DecodingError.dataCorruptedError(
                forKey: .hashedValues, in: container, debugDescription: "hashed indices and values differ in count")
        }
        arrival = try container.decode(Int.self, forKey: .arrival)
        timestamp = try container.decodeIfPresent(Int64.self, forKey: .timestamp)
    }
}
