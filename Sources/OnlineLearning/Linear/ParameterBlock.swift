/// A run of coordinates of a linear model: each coordinate's weight and its optimizer state (AdaGrad's
/// squared-gradient sum; FTRL's z and n) interleaved in one array, so a hashed coordinate costs one cache line,
/// not three. Stride 1 + ``stateArrays``: `storage[i·stride]` is the weight, the next one or two slots its state.
///
/// Encodes sparsely: `count`, the `indices` of coordinates whose weight or state is not +0.0, and their values
/// (``PackedIndices``, ``PackedDoubles``), so a 2^20-bucket hashed block costs only what was touched.
struct ParameterBlock: Sendable, Hashable, Codable {
    var storage: [Double]
    /// How many state values each coordinate keeps (0 for SGD, 1 for AdaGrad, 2 for FTRL).
    let stateArrays: Int

    init(count: Int, stateArrays: Int) {
        self.stateArrays = stateArrays
        storage = Array(repeating: 0, count: count * (1 + stateArrays))
    }

    @inline(__always)
    var stride: Int { 1 + stateArrays }

    var count: Int { storage.count / stride }

    /// The weights alone, by coordinate. O(count).
    var weights: [Double] { (0..<count).map { storage[$0 * stride] } }

    /// The weight of coordinate `index`.
    @inline(__always)
    func weight(_ index: Int) -> Double { storage[index * stride] }

    /// Grows to `count` coordinates (new ones zero); never shrinks.
    mutating func grow(to count: Int) {
        guard count > self.count else { return }
        storage.append(contentsOf: repeatElement(0, count: (count - self.count) * stride))
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
        let stride = 1 + stateArrays
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
            storage[index * stride] = weights[position]
            if stateArrays >= 1 { storage[index * stride + 1] = first[position] }
            if stateArrays >= 2 { storage[index * stride + 2] = second[position] }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var indices: [UInt32] = []
        var weights: [Double] = []
        var first: [Double] = []
        var second: [Double] = []
        let stride = self.stride
        for index in 0..<count {
            let base = index * stride
            var touched = false
            for slot in 0..<stride where storage[base + slot].bitPattern != 0 { touched = true }
            guard touched else { continue }
            indices.append(UInt32(index))
            weights.append(storage[base])
            if stateArrays >= 1 { first.append(storage[base + 1]) }
            if stateArrays >= 2 { second.append(storage[base + 2]) }
        }
        try container.encode(count, forKey: .count)
        try container.encode(stateArrays, forKey: .stateArrays)
        try container.encode(PackedIndices(indices), forKey: .indices)
        try container.encode(PackedDoubles(weights), forKey: .weights)
        if stateArrays >= 1 { try container.encode(PackedDoubles(first), forKey: .first) }
        if stateArrays >= 2 { try container.encode(PackedDoubles(second), forKey: .second) }
    }
}
