/// A run of coordinates of a linear model: weights and up to two per-coordinate optimizer state arrays (AdaGrad's
/// squared-gradient sums; FTRL's z and n).
///
/// Encodes sparsely: `count`, the `indices` of coordinates whose weight or state is not +0.0, and their values
/// (``PackedIndices``, ``PackedDoubles``), so a 2^20-bucket hashed block costs only what was touched.
struct ParameterBlock: Sendable, Hashable, Codable {
    var weights: [Double]
    var first: [Double]
    var second: [Double]
    /// How many of `first` and `second` the optimizer uses (0, 1 or 2); unused ones stay empty.
    let stateArrays: Int

    init(count: Int, stateArrays: Int) {
        self.stateArrays = stateArrays
        weights = Array(repeating: 0, count: count)
        first = stateArrays >= 1 ? Array(repeating: 0, count: count) : []
        second = stateArrays >= 2 ? Array(repeating: 0, count: count) : []
    }

    var count: Int { weights.count }

    /// Grows to `count` coordinates (new ones zero); never shrinks.
    mutating func grow(to count: Int) {
        guard count > weights.count else { return }
        let extra = count - weights.count
        weights.append(contentsOf: repeatElement(0, count: extra))
        if stateArrays >= 1 { first.append(contentsOf: repeatElement(0, count: extra)) }
        if stateArrays >= 2 { second.append(contentsOf: repeatElement(0, count: extra)) }
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
            self.weights[index] = weights[position]
            if stateArrays >= 1 { self.first[index] = first[position] }
            if stateArrays >= 2 { self.second[index] = second[position] }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var indices: [UInt32] = []
        var weights: [Double] = []
        var first: [Double] = []
        var second: [Double] = []
        for index in self.weights.indices {
            let touched =
                self.weights[index].bitPattern != 0 || (stateArrays >= 1 && self.first[index].bitPattern != 0)
                || (stateArrays >= 2 && self.second[index].bitPattern != 0)
            guard touched else { continue }
            indices.append(UInt32(index))
            weights.append(self.weights[index])
            if stateArrays >= 1 { first.append(self.first[index]) }
            if stateArrays >= 2 { second.append(self.second[index]) }
        }
        try container.encode(count, forKey: .count)
        try container.encode(stateArrays, forKey: .stateArrays)
        try container.encode(PackedIndices(indices), forKey: .indices)
        try container.encode(PackedDoubles(weights), forKey: .weights)
        if stateArrays >= 1 { try container.encode(PackedDoubles(first), forKey: .first) }
        if stateArrays >= 2 { try container.encode(PackedDoubles(second), forKey: .second) }
    }
}
