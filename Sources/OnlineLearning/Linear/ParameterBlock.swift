import StreamCore

/// Where a ``ParameterBlock`` keeps coordinate `index`'s value in `slot` (0: the weight; then the optimizer's
/// state), given the block's coordinate `count` and `slots` per coordinate.
protocol ParameterLayout: Sendable {
    static func offset(slot: Int, index: Int, count: Int, slots: Int) -> Int
}

/// Each coordinate's weight and state side by side (`storage[index·slots + slot]`): a hashed coordinate costs
/// one cache line, not three.
enum InterleavedLayout: ParameterLayout {
    @inline(__always)
    static func offset(slot: Int, index: Int, count: Int, slots: Int) -> Int { index * slots + slot }
}

/// All weights, then all values of the first state slot, and so on (`storage[slot·count + index]`): dense
/// coordinates are read and written four at a time (``DoubleLanes``).
enum PlanarLayout: ParameterLayout {
    @inline(__always)
    static func offset(slot: Int, index: Int, count: Int, slots: Int) -> Int { slot * count + index }
}

/// A run of coordinates of a linear model: each coordinate's weight and its optimizer state, laid out by `Layout`
/// in one array. Slot 0 is the weight; AdaGrad keeps its squared-gradient sum in slot 1; FTRL keeps z in slot 1,
/// n (its squared-gradient sum) in slot 2 and √n in slot 3, derived from n and never encoded, so that an FTRL
/// step takes one square root instead of two.
///
/// Encodes sparsely, the same for either layout: `count`, the `indices` of coordinates whose weight or state is
/// not +0.0, and their values (``PackedIndices``, ``PackedDoubles``), so a 2^20-bucket hashed block costs only
/// what was touched.
struct ParameterBlock<Layout: ParameterLayout>: Sendable, Hashable, Codable {
    var storage: [Double]
    /// How many state values each coordinate keeps in snapshots (0 for SGD, 1 for AdaGrad, 2 for FTRL); the
    /// last of them is always a sum of squared gradients.
    let stateArrays: Int
    /// Coordinates.
    private(set) var count: Int

    init(count: Int, stateArrays: Int) {
        self.stateArrays = stateArrays
        self.count = count
        storage = Array(repeating: 0, count: count * Self.slots(stateArrays: stateArrays))
    }

    /// Values kept per coordinate: the weight, the encoded state and, for FTRL, √n.
    static func slots(stateArrays: Int) -> Int { 1 + stateArrays + (stateArrays == 2 ? 1 : 0) }

    @inline(__always)
    var slots: Int { Self.slots(stateArrays: stateArrays) }

    @inline(__always)
    func offset(slot: Int, index: Int) -> Int {
        Layout.offset(slot: slot, index: index, count: count, slots: slots)
    }

    /// The weights alone, by coordinate. O(count).
    var weights: [Double] { (0..<count).map { weight($0) } }

    /// The weight of coordinate `index`.
    @inline(__always)
    func weight(_ index: Int) -> Double { storage[offset(slot: 0, index: index)] }

    /// Grows to `count` coordinates (new ones zero); never shrinks. O(new count).
    mutating func grow(to count: Int) {
        guard count > self.count else { return }
        var grown = ParameterBlock(count: count, stateArrays: stateArrays)
        for index in 0..<self.count {
            for slot in 0..<slots {
                grown.storage[grown.offset(slot: slot, index: index)] = storage[offset(slot: slot, index: index)]
            }
        }
        self = grown
    }

    enum CodingKeys: String, CodingKey {
        case count, stateArrays = "state_arrays", indices, weights, first, second
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let count = try container.decode(Int.self, forKey: .count)
        let stateArrays = try container.decode(Int.self, forKey: .stateArrays)
        guard count >= 0, (0...2).contains(stateArrays) else {
            throw DecodingError.dataCorruptedError(
                forKey: .count, in: container, debugDescription: "count \(count) or state_arrays \(stateArrays) invalid")
        }
        self.init(count: count, stateArrays: stateArrays)
        let indices = try container.decode(PackedIndices.self, forKey: .indices).values
        let weights = try container.decode(PackedDoubles.self, forKey: .weights).values
        let first = try container.decodeIfPresent(PackedDoubles.self, forKey: .first)?.values ?? []
        let second = try container.decodeIfPresent(PackedDoubles.self, forKey: .second)?.values ?? []
        guard weights.count == indices.count, first.count == (stateArrays >= 1 ? indices.count : 0),
            second.count == (stateArrays >= 2 ? indices.count : 0)
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .weights, in: container, debugDescription: "indices, weights and state lengths differ")
        }
        let squares = stateArrays == 2 ? second : first
        for (position, index) in indices.enumerated() {
            let index = Int(index)
            guard index < count else {
                throw DecodingError.dataCorruptedError(
                    forKey: .indices, in: container, debugDescription: "index \(index) beyond count \(count)")
            }
            guard weights[position].isFinite else {
                throw DecodingError.dataCorruptedError(
                    forKey: .weights, in: container, debugDescription: "non-finite weight at index \(index)")
            }
            guard stateArrays == 0 || (first[position].isFinite && squares[position].isFinite && squares[position] >= 0)
            else {
                throw DecodingError.dataCorruptedError(
                    forKey: stateArrays == 2 ? .second : .first, in: container,
                    debugDescription: "non-finite state or negative sum of squared gradients at index \(index)")
            }
            storage[offset(slot: 0, index: index)] = weights[position]
            if stateArrays >= 1 { storage[offset(slot: 1, index: index)] = first[position] }
            if stateArrays >= 2 {
                storage[offset(slot: 2, index: index)] = second[position]
                storage[offset(slot: 3, index: index)] = second[position].squareRootOfMagnitude()
            }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var indices: [UInt32] = []
        var weights: [Double] = []
        var first: [Double] = []
        var second: [Double] = []
        for index in 0..<count {
            var touched = false
            for slot in 0...stateArrays where storage[offset(slot: slot, index: index)].bitPattern != 0 {
                touched = true
            }
            guard touched else { continue }
            indices.append(UInt32(index))
            weights.append(storage[offset(slot: 0, index: index)])
            if stateArrays >= 1 { first.append(storage[offset(slot: 1, index: index)]) }
            if stateArrays >= 2 { second.append(storage[offset(slot: 2, index: index)]) }
        }
        try container.encode(count, forKey: .count)
        try container.encode(stateArrays, forKey: .stateArrays)
        try container.encode(PackedIndices(indices), forKey: .indices)
        try container.encode(PackedDoubles(weights), forKey: .weights)
        if stateArrays >= 1 { try container.encode(PackedDoubles(first), forKey: .first) }
        if stateArrays >= 2 { try container.encode(PackedDoubles(second), forKey: .second) }
    }
}
