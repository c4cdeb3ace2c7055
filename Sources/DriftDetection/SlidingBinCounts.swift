/// The bin counts of one or more features over a sliding window of the last `window` events, complete whenever an
/// evaluation is due: after the `window`-th event and every `step` events after it. The window shared by
/// ``RollingPSI`` and ``RollingPSIGroup``.
///
/// Every window evaluated is a run of whole blocks of g = gcd(`window`, `step`) events. When g is at least twice the
/// bins per feature (the defaults 10,000 and 5,000 give g = 5,000), the counts are kept per block: an event only adds
/// one to its block's count, and a block leaves the window as a whole when the next one is complete, so nothing is
/// evicted per event and the window costs O(F · B · window / g) memory. Otherwise the window is a ring of the last
/// `window` events' bins (O(F · window) memory) and each event evicts the oldest event's bins.
///
/// - Complexity: per event and feature O(1); per block O(F · B).
struct SlidingBinCounts: Sendable, Hashable, Codable {
    /// Features per event.
    let features: Int
    /// Bins per feature.
    let bins: Int
    let window: Int
    let step: Int
    /// Events added.
    private(set) var added = 0
    /// The window's counts, `bins` per feature (32-bit: half the cache lines of `Int`); complete whenever an
    /// evaluation is due, and in ring mode after every event.
    private(set) var counts: [Int32]
    /// Block mode: the counts of window / g + 1 blocks, `bins` per feature each, the one being filled at `slot`
    /// (the extra block is the one leaving the window when the one being filled completes). Empty in ring mode.
    private var blocks: [Int32]
    private var slot = 0
    /// Ring mode: the bins of the last `window` events, one row of `features` each, the next to write at `head`.
    /// Empty in block mode.
    private var ring: [UInt16]
    private var head = 0

    /// Events per block, or 0 in ring mode.
    let blockLength: Int
    /// Events into the block being filled (block mode).
    private var filling = 0
    /// Events until the next evaluation is due.
    private var untilDue: Int

    /// g = gcd(`window`, `step`) when it is at least twice `bins`, else 0 (ring mode). O(log min(window, step)).
    static func blockLength(window: Int, step: Int, bins: Int) -> Int {
        var (a, b) = (window, step)
        while b != 0 { (a, b) = (b, a % b) }
        return a >= 2 * bins ? a : 0
    }

    /// Requires `features`, `window` and `step` ≥ 1, 1 ≤ `bins` ≤ 65,536 and `window` ≤ `Int32.max`.
    init(features: Int, bins: Int, window: Int, step: Int) {
        precondition(features >= 1 && window >= 1 && step >= 1 && (1...65_536).contains(bins) && window <= Int(Int32.max))
        self.features = features
        self.bins = bins
        self.window = window
        self.step = step
        counts = Array(repeating: 0, count: features * bins)
        let blockLength = Self.blockLength(window: window, step: step, bins: bins)
        self.blockLength = blockLength
        untilDue = window
        blocks = blockLength > 0 ? Array(repeating: 0, count: (window / blockLength + 1) * features * bins) : []
        ring = blockLength > 0 ? [] : Array(repeating: 0, count: window * features)
    }

    /// The PSI of `feature`'s window (proportions count / `window`) against `reference`, its reference
    /// proportions by bin. Meaningful when an evaluation is due. O(bins).
    func psi(feature: Int, against reference: ArraySlice<Double>) -> Double {
        PopulationStability.index(
            reference: reference, counts: counts[(feature * bins)..<((feature + 1) * bins)], length: Double(window))
    }

    /// Adds one event's bins, which `placer` gives to a ``BinSink``, and returns whether an evaluation is now due.
    @inline(__always)
    mutating func add(_ placer: some BinPlacer) -> Bool {
        if blockLength > 0 {
            let start = slot * features * bins
            blocks.withUnsafeMutableBufferPointer { blocks in
                var sink = BlockSink(counts: blocks.baseAddress! + start, bins: bins)
                placer.place(into: &sink)
            }
        } else {
            let start = head * features
            let evicting = added >= window
            counts.withUnsafeMutableBufferPointer { counts in
                ring.withUnsafeMutableBufferPointer { ring in
                    var sink = RingSink(row: ring.baseAddress! + start, counts: counts.baseAddress!, bins: bins, evicting: evicting)
                    placer.place(into: &sink)
                }
            }
        }
        return advance()
    }

    @inline(__always)
    private mutating func advance() -> Bool {
        added += 1
        if blockLength > 0 {
            filling += 1
            if filling == blockLength {
                filling = 0
                closeBlock()
            }
        } else {
            head = head + 1 == window ? 0 : head + 1
        }
        untilDue -= 1
        guard untilDue == 0 else { return false }
        untilDue = step
        return true
    }

    /// The block at `slot` is complete: into the window it goes, the block that is now `window` events old leaves,
    /// and its slot is the next to fill.
    private mutating func closeBlock() {
        let size = features * bins
        let slots = window / blockLength + 1
        let next = slot + 1 == slots ? 0 : slot + 1
        let leaving = added / blockLength > slots - 1
        counts.withUnsafeMutableBufferPointer { counts in
            blocks.withUnsafeMutableBufferPointer { blocks in
                let complete = blocks.baseAddress! + slot * size
                let old = blocks.baseAddress! + next * size
                for index in 0..<size {
                    counts[index] &+= complete[index] &- (leaving ? old[index] : 0)
                    old[index] = 0
                }
            }
        }
        slot = next
    }

    enum CodingKeys: String, CodingKey {
        case features, bins, window, step, added, counts, blocks, slot, ring, head
    }

    /// Refuses counts, blocks or a ring that do not fit the dimensions, with the key named.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let features = try container.decode(Int.self, forKey: .features)
        let bins = try container.decode(Int.self, forKey: .bins)
        let window = try container.decode(Int.self, forKey: .window)
        let step = try container.decode(Int.self, forKey: .step)
        guard features >= 1, window >= 1, step >= 1, (1...65_536).contains(bins), window <= Int(Int32.max) else {
            throw DecodingError.dataCorruptedError(
                forKey: .features, in: container,
                debugDescription: "features \(features), bins \(bins), window \(window) or step \(step) out of range")
        }
        self.init(features: features, bins: bins, window: window, step: step)
        func corrupt(_ key: CodingKeys, _ reason: String) -> DecodingError {
            .dataCorruptedError(forKey: key, in: container, debugDescription: reason)
        }
        added = try container.decode(Int.self, forKey: .added)
        guard added >= 0 else { throw corrupt(.added, "negative event count \(added)") }
        untilDue = added < window ? window - added : step - (added - window) % step
        // The counts must be what the blocks or the ring add up to.
        var expected = Array(repeating: 0, count: features * bins)
        let blockLength = blockLength
        if blockLength > 0 {
            let blocks = try container.decode([Int32].self, forKey: .blocks)
            let slots = window / blockLength + 1
            guard blocks.count == self.blocks.count, blocks.allSatisfy({ (0...Int32(blockLength)).contains($0) }) else {
                throw corrupt(.blocks, "\(blocks.count) block counts for \(self.blocks.count), or a count outside 0…\(blockLength)")
            }
            slot = try container.decode(Int.self, forKey: .slot)
            guard slot == (added / blockLength) % slots else {
                throw corrupt(.slot, "slot \(slot) does not follow from \(added) events")
            }
            self.blocks = blocks
            filling = added % blockLength
            for block in 0..<slots where block != slot {
                for index in expected.indices { expected[index] += Int(blocks[block * expected.count + index]) }
            }
        } else {
            let ring = try container.decode([UInt16].self, forKey: .ring)
            guard ring.count == self.ring.count, ring.allSatisfy({ Int($0) < bins }) else {
                throw corrupt(.ring, "\(ring.count) ring entries for \(self.ring.count), or a bin beyond \(bins - 1)")
            }
            head = try container.decode(Int.self, forKey: .head)
            guard head == added % window else { throw corrupt(.head, "head \(head) does not follow from \(added) events") }
            self.ring = ring
            for row in 0..<min(added, window) {
                for feature in 0..<features { expected[feature * bins + Int(ring[row * features + feature])] += 1 }
            }
        }
        let counts = try container.decode([Int32].self, forKey: .counts)
        guard counts.map(Int.init) == expected else {
            throw corrupt(.counts, "the window's counts do not add up to its \(blockLength > 0 ? "blocks" : "ring")")
        }
        self.counts = counts
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(features, forKey: .features)
        try container.encode(bins, forKey: .bins)
        try container.encode(window, forKey: .window)
        try container.encode(step, forKey: .step)
        try container.encode(added, forKey: .added)
        try container.encode(counts, forKey: .counts)
        if ring.isEmpty {
            try container.encode(blocks, forKey: .blocks)
            try container.encode(slot, forKey: .slot)
        } else {
            try container.encode(ring, forKey: .ring)
            try container.encode(head, forKey: .head)
        }
    }
}

/// Where one event's bins go: ``SlidingBinCounts/add(_:)`` hands a placer the sink of its mode.
protocol BinSink {
    /// Counts `bin` (< bins) of `feature` (< features) for the event being added; once per feature.
    mutating func add(feature: Int, bin: Int)
}

/// What puts one event's bins into a ``BinSink``.
protocol BinPlacer {
    func place<Sink: BinSink>(into sink: inout Sink)
}

/// Block mode: adds to the counts of the block being filled.
struct BlockSink: BinSink {
    let counts: UnsafeMutablePointer<Int32>
    let bins: Int

    @inline(__always)
    mutating func add(feature: Int, bin: Int) { counts[feature &* bins &+ bin] &+= 1 }
}

/// Ring mode: moves the window's counts from the oldest event's bin (once the window is full) to the new one, and
/// writes the new one over it in the ring.
struct RingSink: BinSink {
    let row: UnsafeMutablePointer<UInt16>
    let counts: UnsafeMutablePointer<Int32>
    let bins: Int
    let evicting: Bool

    @inline(__always)
    mutating func add(feature: Int, bin: Int) {
        let featureCounts = counts + feature &* bins
        if evicting { featureCounts[Int(row[feature])] &-= 1 }
        featureCounts[bin] &+= 1
        row[feature] = UInt16(truncatingIfNeeded: bin)
    }
}

/// One feature's bin: the placer of a single detector.
struct SingleBin: BinPlacer {
    let bin: Int

    @inline(__always)
    func place<Sink: BinSink>(into sink: inout Sink) { sink.add(feature: 0, bin: bin) }
}
