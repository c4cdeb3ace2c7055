/// Numeric feature names and their dense indices, learned on the fly or fixed.
///
/// Lookups use the FNV-1a hash the decoder already computed for each name and compare bytes only on a hash
/// match, so a known name costs one dictionary probe and no allocation.
public struct FeatureSchema: Sendable, Hashable, Codable {
    /// Names in index order.
    public private(set) var names: [String] = []
    private var nameBytes: [[UInt8]] = []
    private var indexByHash: [UInt64: Int32] = [:]

    public init(names: [String] = []) {
        for name in names { _ = append(Array(name.utf8)) }
    }

    public var count: Int { names.count }

    /// The index of the name whose bytes and FNV-1a hash are given; with `learn`, a new name gets the next index.
    /// - Complexity: O(1) expected.
    @inlinable
    public mutating func index(of name: UnsafeRawBufferPointer, hash: UInt64, learn: Bool) -> Int? {
        if let found = lookup(name, hash: hash) { return found }
        guard learn else { return nil }
        return append(Array(name))
    }

    @usableFromInline
    func lookup(_ name: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        guard let candidate = indexByHash[hash] else { return nil }
        if nameBytes[Int(candidate)].elementsEqual(name) { return Int(candidate) }
        // Two names with one 64-bit hash: search them all (never seen in practice, but correct).
        return nameBytes.firstIndex { $0.elementsEqual(name) }
    }

    @usableFromInline
    mutating func append(_ bytes: [UInt8]) -> Int {
        let index = names.count
        names.append(String(decoding: bytes, as: UTF8.self))
        nameBytes.append(bytes)
        let hash = bytes.withUnsafeBytes { fnv1a64($0) }
        if indexByHash[hash] == nil { indexByHash[hash] = Int32(index) }
        return index
    }

    enum CodingKeys: String, CodingKey {
        case names
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(names: try container.decode([String].self, forKey: .names))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(names, forKey: .names)
    }
}
