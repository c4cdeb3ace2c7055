public import StreamCore

/// Per-key history features in event time (``AggregationConfiguration``): velocity, amount statistics, distinct
/// values, time since the last event, first-seen values and leak-free target rates.
///
/// Aggregates over the same key share one table of keys. A key's record holds, for each aggregate, a ring of time
/// buckets (count, sum, mean, min, max, std, z-score, target rate and count), a small table of values with the time
/// each was last seen (distinct, first-seen), or one time (since-last). Keys are dropped when idle longer than the
/// key's longest window plus the allowed lateness, and the least recently seen is evicted at capacity.
///
/// Records live in pages of 1,024 keys: a snapshot's copy of the state shares every page, and the first change
/// afterwards copies only the page it touches, never the whole table.
///
/// - Complexity: O(aggregates + distinct values) per event; no allocation once the pages have grown.
public struct KeyedAggregates: Sendable {
    public let configuration: AggregationConfiguration
    /// What happened to events and keys (in snapshots).
    public struct Counts: Sendable, Hashable, Codable {
        /// Events older than the newest event minus the allowed lateness: scored against the state as it is, not
        /// added.
        public var late = 0
        /// Events without a timestamp: their aggregates are missing.
        public var untimed = 0
        /// Keys evicted at capacity.
        public var evicted = 0
        /// Keys dropped after being idle longer than their time to live.
        public var expired = 0
        /// Labels learned into target aggregates.
        public var labels = 0
    }
    public private(set) var counts = Counts()
    /// The newest event time seen (epoch ms), `Int64.min` before the first.
    public private(set) var newest = Int64.min
    /// Labels learned and positives among them, over the whole stream: the prior of target rates.
    private var globalLabels = 0.0
    private var globalPositives = 0.0
    var groups: [KeyGroup]
    let plans: [Plan]
    /// The fields the aggregates read (keys and values), matched by name hash.
    let fields: [Field]
    /// Groups that have target aggregates, in order: ``FeatureVector/targetKeys`` holds one key per such group.
    let targetGroups: [Int]
    /// This event's field values (reused).
    private var values: [FieldValue]
    private var keyHashes: [UInt64]
    /// The key a held event had no value for: nothing is learned into its group.
    public static let missingKey = UInt64.max

    struct Field: Sendable {
        var name: [UInt8]
        var hash: UInt64
    }

    struct FieldValue: Sendable {
        var present = false
        var number = Double.nan
        /// The value's identity: FNV-1a of a string's bytes, a number's bits mixed.
        var hash: UInt64 = 0
    }

    struct Plan: Sendable {
        var function: AggregateSpec.Function
        var group: Int
        var offset: Int
        var field: Int
        var buckets: Int
        var width: Int64
        var window: Int64
        /// Values per bucket.
        var perBucket: Int
        /// Values in the record.
        var size: Int
    }

    public init(configuration: AggregationConfiguration) throws(AggregationError) {
        try configuration.validate()
        self.configuration = configuration
        var fields: [Field] = []
        func fieldIndex(_ name: String) -> Int {
            let bytes = Array(name.utf8)
            if let index = fields.firstIndex(where: { $0.name == bytes }) { return index }
            fields.append(Field(name: bytes, hash: bytes.withUnsafeBytes { fnv1a64($0) }))
            return fields.count - 1
        }
        var keys: [[String]] = []
        var groupKeys: [[Int]] = []
        var plans: [Plan] = []
        var sizes: [Int] = []
        for spec in configuration.aggregates {
            let group: Int
            if let existing = keys.firstIndex(of: spec.key) {
                group = existing
            } else {
                keys.append(spec.key)
                groupKeys.append(spec.key.map(fieldIndex))
                sizes.append(0)
                group = keys.count - 1
            }
            let perBucket: Int
            switch spec.function {
            case .count, .sum, .min, .max, .targetCount: perBucket = 1
            case .mean, .targetRate: perBucket = 2
            case .std, .zscore: perBucket = 3
            case .distinct, .firstSeen, .sinceLast: perBucket = 0
            }
            let size: Int
            switch spec.function {
            case .distinct, .firstSeen: size = configuration.maxDistinct
            case .sinceLast: size = 1
            default: size = 1 + spec.buckets * perBucket
            }
            let buckets = spec.function.isBucketed ? spec.buckets : 1
            plans.append(Plan(
                function: spec.function, group: group, offset: sizes[group], field: spec.field.map(fieldIndex) ?? -1,
                buckets: buckets, width: max(spec.windowMilliseconds / Int64(buckets), 1),
                window: spec.windowMilliseconds, perBucket: perBucket, size: size))
            sizes[group] += size
        }
        self.plans = plans
        self.fields = fields
        groups = keys.indices.map { group in
            var blank: [Double] = []
            for plan in plans where plan.group == group { blank.append(contentsOf: Self.blank(plan)) }
            return KeyGroup(
                fields: groupKeys[group], stride: sizes[group], blank: blank,
                timeToLive: configuration.timeToLive(key: keys[group]) + configuration.allowedLatenessMilliseconds,
                capacity: configuration.capacity)
        }
        targetGroups = keys.indices.filter { group in plans.contains { $0.group == group && $0.function.isTarget } }
        values = Array(repeating: FieldValue(), count: fields.count)
        keyHashes = Array(repeating: 0, count: keys.count)
    }

    /// A fresh record's values for `plan`.
    static func blank(_ plan: Plan) -> [Double] {
        var values = Array(repeating: 0.0, count: plan.size)
        switch plan.function {
        case .distinct, .firstSeen:
            break  // 0: no value
        case .sinceLast:
            values[0] = .nan
        default:
            values[0] = -.infinity  // the ring's newest bucket: none yet
        }
        return values
    }

    /// Keys held, over every key.
    public var keyCount: Int { groups.reduce(0) { $0 + $1.count } }

    /// Keys held per key group, in the order the keys first appear in the configuration.
    public var keysPerGroup: [Int] { groups.map(\.count) }

    // MARK: - Events

    /// Writes each aggregate of `event` into `dense` at `slots[i]` (the aggregate's dense index) from the keys'
    /// history before the event; then, with `update`, adds the event. ``FeatureVector``'s `targetKeys` gets the
    /// event's key per target group, so that its label can be learned into them later.
    public mutating func apply(
        _ event: DecodedEvent, slots: [Int], into vector: inout FeatureVector, update: Bool
    ) {
        readFields(event)
        let plans = self.plans
        let time = event.timestampMilliseconds
        var adding = update && time != nil
        if let time {
            if newest != .min && time < newest &- configuration.allowedLatenessMilliseconds {
                if update { counts.late += 1 }
                adding = false
            }
        } else if update {
            counts.untimed += 1
        }
        for group in groups.indices {
            keyHashes[group] = groups[group].keyHash(values)
        }
        vector.targetKeys.removeAll(keepingCapacity: true)
        for group in targetGroups { vector.targetKeys.append(keyHashes[group]) }
        guard let time else {
            vector.dense.withUnsafeMutableBufferPointer { dense in
                for index in plans.indices { dense[slots[index]] = .nan }
            }
            return
        }
        if adding { newest = max(newest, time) }
        // The global rate from a uniform prior: (positives + 1) / (labels + 2).
        let reading = Reading(
            values: values, globalRate: (globalPositives + 1) / (globalLabels + 2), prior: configuration.prior)
        for group in groups.indices {
            let key = keyHashes[group]
            if adding {
                counts.expired += groups[group].expire(now: newest)
            }
            var record = key == Self.missingKey ? nil : groups[group].find(key)
            if let found = record {
                groups[group].read(found) { stored in
                    vector.dense.withUnsafeMutableBufferPointer { dense in
                        for index in plans.indices where plans[index].group == group {
                            dense[slots[index]] = reading.feature(plans[index], stored + plans[index].offset, time: time)
                        }
                    }
                }
            } else {
                vector.dense.withUnsafeMutableBufferPointer { dense in
                    for index in plans.indices where plans[index].group == group {
                        dense[slots[index]] = reading.newKeyFeature(plans[index])
                    }
                }
            }
            guard adding, key != Self.missingKey else { continue }
            if let record {
                groups[group].touch(record, now: time)
            } else {
                record = insert(key, into: group, at: time)
            }
            let values = self.values
            groups[group].write(record!) { stored in
                for plan in plans where plan.group == group && !plan.function.isTarget {
                    Self.add(plan, stored + plan.offset, field: plan.field >= 0 ? values[plan.field] : nil, time: time)
                }
            }
        }
    }

    /// Learns a label into the target aggregates of the keys an event had (``FeatureVector/targetKeys``), at
    /// `time` (the label's arrival; the newest event time when `nil`).
    public mutating func learnLabel(keys: [UInt64], positive: Bool, at time: Int64?) {
        guard !targetGroups.isEmpty, keys.count == targetGroups.count else { return }
        guard let time = time ?? (newest == .min ? nil : newest) else { return }
        counts.labels += 1
        globalLabels += 1
        if positive { globalPositives += 1 }
        for (position, group) in targetGroups.enumerated() {
            let key = keys[position]
            guard key != Self.missingKey else { continue }
            let record = groups[group].find(key) ?? insert(key, into: group, at: time)
            let plans = self.plans
            // The label is the value the target aggregates add: 1 positive, 0 negative.
            let label = FieldValue(present: true, number: positive ? 1 : 0)
            groups[group].write(record) { stored in
                for plan in plans where plan.group == group && plan.function.isTarget {
                    Self.add(plan, stored + plan.offset, field: label, time: time)
                }
            }
        }
    }

    /// A new record for `key` in `group`, seen at `time`, counting the key it evicts at capacity.
    private mutating func insert(_ key: UInt64, into group: Int, at time: Int64) -> Int32 {
        let (record, evicted) = groups[group].insert(key, now: time)
        counts.evicted += evicted
        return record
    }

    // MARK: - Field values

    private mutating func readFields(_ event: DecodedEvent) {
        for index in values.indices { values[index] = FieldValue() }
        fields.withUnsafeBufferPointer { fields in
            values.withUnsafeMutableBufferPointer { values in
                for feature in event.numeric {
                    for index in fields.indices where fields[index].hash == feature.nameHash {
                        guard Self.equal(event.bytes(feature.name), fields[index].name) else { continue }
                        let value = feature.value == 0 ? 0 : feature.value  // -0 is 0
                        values[index] = FieldValue(present: true, number: value, hash: Self.mix(value.bitPattern))
                    }
                }
                for feature in event.categorical {
                    for index in fields.indices where fields[index].hash == feature.nameHash {
                        guard Self.equal(event.bytes(feature.name), fields[index].name) else { continue }
                        let hash = fnv1a64(event.bytes(feature.value))
                        values[index] = FieldValue(present: true, number: .nan, hash: hash)
                    }
                }
            }
        }
    }

    @inline(__always)
    static func equal(_ bytes: UnsafeRawBufferPointer, _ name: [UInt8]) -> Bool {
        bytes.count == name.count && name.withUnsafeBytes { $0.elementsEqual(bytes) }
    }

    /// SplitMix64's finaliser: spreads a number's bits (and a tuple's combined hashes) over the word.
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    // MARK: - Buckets

    @inline(__always)
    static func bucket(_ time: Int64, _ plan: Plan) -> Int64 { floorDivide(time, plan.width) }

    @inline(__always)
    static func slot(_ bucket: Int64, _ plan: Plan) -> Int {
        let remainder = Int(bucket % Int64(plan.buckets))
        return remainder < 0 ? remainder + plan.buckets : remainder
    }

    /// Whether `bucket` is still held by the ring (not older than its oldest bucket).
    @inline(__always)
    static func inRing(_ bucket: Int64, _ plan: Plan, _ values: UnsafePointer<Double>) -> Bool {
        values[0] != -.infinity && Double(bucket) > values[0] - Double(plan.buckets) && Double(bucket) <= values[0]
    }

    /// Moves the ring's newest bucket forward to `bucket`, clearing the buckets it passes.
    static func advance(_ plan: Plan, _ values: UnsafeMutablePointer<Double>, to bucket: Int64) {
        let head = values[0]
        let clearFrom: Int64
        if head == -.infinity || Double(bucket) - head >= Double(plan.buckets) {
            clearFrom = bucket - Int64(plan.buckets) + 1
        } else if Double(bucket) > head {
            clearFrom = Int64(head) + 1
        } else {
            return
        }
        for cleared in clearFrom...bucket {
            let base = values + 1 + slot(cleared, plan) * plan.perBucket
            switch plan.function {
            case .min: base[0] = .infinity
            case .max: base[0] = -.infinity
            default: for offset in 0..<plan.perBucket { base[offset] = 0 }
            }
        }
        values[0] = Double(bucket)
    }

    /// Adds the event at `time` to one aggregate of its key (for a target aggregate: a label, `field` 1 or 0).
    private static func add(_ plan: Plan, _ values: UnsafeMutablePointer<Double>, field: FieldValue?, time: Int64) {
        let field = field ?? FieldValue(present: true)
        guard field.present else { return }
        switch plan.function {
        case .sinceLast:
            values[0] = values[0].isNaN ? Double(time) : max(values[0], Double(time))
        case .distinct, .firstSeen:
            remember(field.hash, at: time, values, entries: plan.size)
        default:
            let bucket = bucket(time, plan)
            advance(plan, values, to: bucket)
            guard inRing(bucket, plan, values) else { return }
            let base = values + 1 + slot(bucket, plan) * plan.perBucket
            let x = field.number
            switch plan.function {
            case .count: base[0] += 1
            case .sum: base[0] += x
            case .mean:
                base[0] += 1
                base[1] += x
            case .min: base[0] = min(base[0], x)
            case .max: base[0] = max(base[0], x)
            case .std, .zscore:
                // Welford within the bucket; buckets are merged with Chan's formula when read.
                base[0] += 1
                let delta = x - base[1]
                base[1] += delta / base[0]
                base[2] += delta * (x - base[1])
            case .targetRate:
                base[0] += 1
                base[1] += x
            case .targetCount: base[0] += x
            default: break
            }
        }
    }

    /// A distinct value's entry: the value's hash in the high 32 bits, the second it was last seen (since the
    /// epoch) in the low 32; 0 is no entry.
    @inline(__always)
    static func entry(_ hash: UInt64, seconds: UInt32) -> UInt64 {
        UInt64(UInt32(truncatingIfNeeded: hash >> 32) | 1) << 32 | UInt64(seconds)
    }

    @inline(__always)
    static func seconds(_ time: Int64) -> UInt32 { UInt32(clamping: max(time, 0) / 1_000) }

    /// Records `hash` as seen at `time`: updates its entry, or takes the entry seen longest ago.
    static func remember(_ hash: UInt64, at time: Int64, _ values: UnsafeMutablePointer<Double>, entries: Int) {
        let tag = entry(hash, seconds: 0) >> 32
        let now = seconds(time)
        var oldest = 0
        var oldestSeconds = Int64.max
        for index in 0..<entries {
            let word = values[index].bitPattern
            if word != 0 && word >> 32 == tag {
                values[index] = Double(bitPattern: entry(hash, seconds: max(UInt32(truncatingIfNeeded: word), now)))
                return
            }
            // An empty entry (-1) is taken before any value.
            let seen = word == 0 ? -1 : Int64(UInt32(truncatingIfNeeded: word))
            if seen < oldestSeconds {
                oldest = index
                oldestSeconds = seen
            }
        }
        values[oldest] = Double(bitPattern: entry(hash, seconds: now))
    }

    /// What reading an event's aggregates needs besides the records: its field values and the prior of target
    /// rates. A value of its own, so that the closures reading records capture it and not the whole state.
    struct Reading {
        let values: [FieldValue]
        let globalRate: Double
        let prior: Double

        /// One aggregate's value for an event at `time`, from its key's history.
        func feature(_ plan: Plan, _ values: UnsafePointer<Double>, time: Int64) -> Double {
            let field = plan.field >= 0 ? self.values[plan.field] : FieldValue(present: true)
            switch plan.function {
            case .sinceLast:
                return values[0].isNaN ? .nan : max(Double(time) - values[0], 0) / 1_000
            case .distinct, .firstSeen:
                // Seen within the window: at a second after `time - window` (to the second).
                let since = floorDivide(time &- plan.window, 1_000)
                let tag = KeyedAggregates.entry(field.hash, seconds: 0) >> 32
                var distinct = 0.0
                for index in 0..<plan.size {
                    let word = values[index].bitPattern
                    guard word != 0, Int64(UInt32(truncatingIfNeeded: word)) > since else { continue }
                    if plan.function == .firstSeen {
                        guard field.present else { return .nan }
                        if word >> 32 == tag { return 0 }
                    } else {
                        distinct += 1
                    }
                }
                if plan.function == .firstSeen { return field.present ? 1 : .nan }
                return distinct
            default:
                break
            }
            let head = values[0]
            let now = Double(KeyedAggregates.bucket(time, plan))
            var first = 0.0
            var second = 0.0
            var third = 0.0
            var extreme = plan.function == .min ? Double.infinity : -.infinity
            if head != -.infinity {
                let buckets = Double(plan.buckets)
                for slot in 0..<plan.buckets {
                    // The bucket number this slot holds: the newest at or before `head` with this remainder.
                    let lag = Double(KeyedAggregates.slot(Int64(head) - Int64(slot), plan))
                    let bucket = head - lag
                    guard bucket > now - buckets && bucket <= now else { continue }
                    let base = values + 1 + slot * plan.perBucket
                    switch plan.function {
                    case .min: extreme = min(extreme, base[0])
                    case .max: extreme = max(extreme, base[0])
                    case .std, .zscore:
                        // Chan et al.: merge (n, mean, M2) of two parts.
                        let n = base[0]
                        guard n > 0 else { continue }
                        let total = first + n
                        let delta = base[1] - second
                        second += delta * n / total
                        third += base[2] + delta * delta * first * n / total
                        first = total
                    default:
                        first += base[0]
                        if plan.perBucket > 1 { second += base[1] }
                    }
                }
            }
            switch plan.function {
            case .count, .sum, .targetCount: return first
            case .mean: return first > 0 ? second / first : .nan
            case .min, .max: return extreme.isFinite ? extreme : .nan
            case .std: return first > 0 ? (third / first).squareRoot() : .nan
            case .zscore:
                guard field.present, first > 1 else { return .nan }
                let deviation = (third / first).squareRoot()
                return deviation > 0 ? (field.number - second) / deviation : .nan
            case .targetRate: return rate(labels: first, positives: second)
            default: return .nan
            }
        }

        /// A new key's value for `plan`: what its empty history gives.
        func newKeyFeature(_ plan: Plan) -> Double {
            let field = plan.field >= 0 ? values[plan.field] : FieldValue(present: true)
            switch plan.function {
            case .count, .sum, .targetCount, .distinct: return 0
            case .firstSeen: return field.present ? 1 : .nan
            case .targetRate: return rate(labels: 0, positives: 0)
            default: return .nan
            }
        }

        /// Positives over labels, shrunk towards the global rate.
        func rate(labels: Double, positives: Double) -> Double {
            labels + prior > 0 ? (positives + prior * globalRate) / (labels + prior) : globalRate
        }
    }
}

// MARK: - Snapshots

extension KeyedAggregates: Codable {
    enum CodingKeys: String, CodingKey {
        case configuration, counts, newest, globalLabels = "global_labels", globalPositives = "global_positives"
        case groups
    }

    /// A key group as columns, oldest key first: keys, the time each was last seen, and their records back to
    /// back, sparse: most of a record is empty buckets (+0.0), so only the other values are written, with one
    /// bit each for every value saying which.
    struct GroupColumns: Codable, Equatable {
        var keys: PackedInt64s
        var seen: PackedInt64s
        /// Bit `i % 64` of word `i / 64` is set when value `i` of the records back to back is not +0.0.
        var present: PackedIntegers<UInt64>
        /// The values whose bit is set, in order.
        var values: PackedDoubles

        init(keys: [Int64], seen: [Int64], records: [Double]) {
            self.keys = PackedInt64s(keys)
            self.seen = PackedInt64s(seen)
            var bits = [UInt64](repeating: 0, count: (records.count + 63) / 64)
            var kept: [Double] = []
            kept.reserveCapacity(records.count / 4)
            for (index, value) in records.enumerated() where value.bitPattern != 0 {
                bits[index >> 6] |= 1 << UInt64(index & 63)
                kept.append(value)
            }
            present = PackedIntegers(bits)
            values = PackedDoubles(kept)
        }

        /// Calls `body` with each record in turn (`stride` values, valid during the call); `false` when the
        /// columns do not agree in length.
        func forEachRecord(stride: Int, _ body: (Int, UnsafePointer<Double>) -> Void) -> Bool {
            let count = keys.values.count
            guard seen.values.count == count, present.values.count == (count * stride + 63) / 64,
                present.values.reduce(0, { $0 + $1.nonzeroBitCount }) == values.values.count
            else { return false }
            var record = [Double](repeating: 0, count: stride)
            var next = 0
            present.values.withUnsafeBufferPointer { bits in
                values.values.withUnsafeBufferPointer { kept in
                    record.withUnsafeMutableBufferPointer { record in
                        for index in 0..<count {
                            for offset in 0..<stride {
                                let position = index * stride + offset
                                if bits[position >> 6] & (1 << UInt64(position & 63)) != 0 {
                                    record[offset] = kept[next]
                                    next += 1
                                } else {
                                    record[offset] = 0
                                }
                            }
                            body(index, UnsafePointer(record.baseAddress!))
                        }
                    }
                }
            }
            return true
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let configuration = try container.decode(AggregationConfiguration.self, forKey: .configuration)
        do {
            try self.init(configuration: configuration)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .configuration, in: container, debugDescription: "\(error)")
        }
        counts = try container.decode(Counts.self, forKey: .counts)
        newest = try container.decode(Int64.self, forKey: .newest)
        globalLabels = try container.decode(Double.self, forKey: .globalLabels)
        globalPositives = try container.decode(Double.self, forKey: .globalPositives)
        let columns = try container.decode([GroupColumns].self, forKey: .groups)
        guard columns.count == groups.count else {
            throw DecodingError.dataCorruptedError(
                forKey: .groups, in: container, debugDescription: "\(columns.count) key groups, expected \(groups.count)")
        }
        for (group, column) in columns.enumerated() {
            guard column.keys.values.count <= configuration.capacity else {
                throw DecodingError.dataCorruptedError(
                    forKey: .groups, in: container, debugDescription: "key group \(group): more keys than the capacity")
            }
            var table = groups[group]
            let stride = table.stride
            var duplicate = false
            let agree = column.forEachRecord(stride: stride) { index, values in
                let key = UInt64(bitPattern: column.keys.values[index])
                guard table.find(key) == nil else {
                    duplicate = true
                    return
                }
                let (record, _) = table.insert(key, now: column.seen.values[index])
                table.write(record) { stored in stored.update(from: values, count: stride) }
            }
            guard agree, !duplicate else {
                throw DecodingError.dataCorruptedError(
                    forKey: .groups, in: container,
                    debugDescription: "key group \(group): \(duplicate ? "a key appears twice" : "columns differ in length")")
            }
            groups[group] = table
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(configuration, forKey: .configuration)
        try container.encode(counts, forKey: .counts)
        try container.encode(newest, forKey: .newest)
        try container.encode(globalLabels, forKey: .globalLabels)
        try container.encode(globalPositives, forKey: .globalPositives)
        try container.encode(groups.map { $0.columns() }, forKey: .groups)
    }
}

extension KeyedAggregates: Equatable {
    public static func == (lhs: KeyedAggregates, rhs: KeyedAggregates) -> Bool {
        lhs.configuration == rhs.configuration && lhs.counts == rhs.counts && lhs.newest == rhs.newest
            && lhs.globalLabels == rhs.globalLabels && lhs.globalPositives == rhs.globalPositives
            && zip(lhs.groups, rhs.groups).allSatisfy { $0.columns() == $1.columns() }
    }
}
