#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Numeric feature names and their dense indices, learned on the fly or fixed.
///
/// Lookups use the FNV-1a hash the decoder already computed for each name and compare bytes only on a hash
/// match, so a known name costs one dictionary probe and no allocation.
public struct FeatureSchema: Sendable, Hashable, Codable {
    /// Names in index order.
    public private(set) var names: [String] = []
    /// Every name's bytes back to back (index i at `nameStarts[i]..<nameStarts[i + 1]`): one flat buffer, so a
    /// lookup touches no reference counts.
    private var nameStorage: [UInt8] = []
    private var nameStarts: [Int32] = [0]
    private var nameHashes: [UInt64] = []
    /// Open addressing on the names' FNV-1a hashes (already well mixed, so no second hash): slot → index + 1.
    private var slots: [Int32] = Array(repeating: 0, count: 64)

    public init(names: [String] = []) {
        for name in names { _ = append(Array(name.utf8)) }
    }

    public var count: Int { names.count }

    /// The index of the name whose bytes and FNV-1a hash are given; with `learn`, a new name gets the next index.
    /// - Complexity: O(1) expected; no allocation for a known name.
    public mutating func index(of name: UnsafeRawBufferPointer, hash: UInt64, learn: Bool) -> Int? {
        if let found = lookup(name, hash: hash) { return found }
        guard learn else { return nil }
        return append(Array(name))
    }

    /// The index of `name`, if the schema has it.
    public func index(of name: String) -> Int? {
        Array(name.utf8).withUnsafeBytes { bytes in lookup(bytes, hash: fnv1a64(bytes)) }
    }

    func lookup(_ name: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        slots.withUnsafeBufferPointer { slots in
            nameHashes.withUnsafeBufferPointer { hashes in
                nameStarts.withUnsafeBufferPointer { starts in
                    nameStorage.withUnsafeBufferPointer { storage in
                        let mask = slots.count - 1
                        var slot = Int(truncatingIfNeeded: hash) & mask
                        while slots[slot] != 0 {
                            let index = Int(slots[slot]) - 1
                            if hashes[index] == hash {
                                let start = Int(starts[index])
                                let length = Int(starts[index + 1]) - start
                                if length == name.count && Self.equal(storage.baseAddress! + start, name, length) {
                                    return index
                                }
                            }
                            slot = (slot + 1) & mask
                        }
                        return nil
                    }
                }
            }
        }
    }

    @inline(__always)
    private static func equal(_ stored: UnsafePointer<UInt8>, _ name: UnsafeRawBufferPointer, _ length: Int) -> Bool {
        guard length > 0 else { return true }
        let bytes = name.baseAddress!.assumingMemoryBound(to: UInt8.self)
        for offset in 0..<length where stored[offset] != bytes[offset] { return false }
        return true
    }

    mutating func append(_ bytes: [UInt8]) -> Int {
        let index = names.count
        names.append(String(decoding: bytes, as: UTF8.self))
        nameStorage.append(contentsOf: bytes)
        nameStarts.append(Int32(nameStorage.count))
        let hash = bytes.withUnsafeBytes { fnv1a64($0) }
        nameHashes.append(hash)
        if (index + 1) * 2 > slots.count {
            slots = Array(repeating: 0, count: slots.count * 2)
            for existing in 0..<index { insertSlot(existing) }
        }
        insertSlot(index)
        return index
    }

    private mutating func insertSlot(_ index: Int) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: nameHashes[index]) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(index + 1)
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
