/// The names of hashed features as the vectorizer first meets them (`country=BR`, `merchant_category×channel=…`),
/// for reports: a bounded table from bucket to name, like Vowpal Wabbit's `--invert_hash` without a second pass.
///
/// It keeps the first ``capacity`` buckets it sees and then stops growing: a name costs one allocation, once. Not
/// part of a snapshot (after a restart it fills again as events come). Two names in one bucket (a collision) keep
/// the first.
public struct HashedNames: Sendable {
    public static let capacity = 4_096
    /// Open addressing on the bucket: slot → index into `names` + 1 (0: empty).
    private var slots = [Int32](repeating: 0, count: 2 * capacity)
    private var buckets: [UInt32] = []
    private var names: [String] = []

    public init() {}

    public var count: Int { names.count }

    /// Records `name` for `bucket` unless the bucket has one or the table is full.
    /// - Complexity: O(1) expected; allocates only for a new name, at most ``capacity`` times.
    @inline(__always)
    public mutating func note(_ bucket: UInt32, _ name: UnsafeRawBufferPointer) {
        guard names.count < Self.capacity else { return }
        let mask = slots.count - 1
        var slot = Int(bucket &* 0x9E37_79B1) & mask
        while slots[slot] != 0 {
            if buckets[Int(slots[slot]) - 1] == bucket { return }
            slot = (slot + 1) & mask
        }
        buckets.append(bucket)
        names.append(String(decoding: name, as: UTF8.self))
        slots[slot] = Int32(names.count)
    }

    /// Every bucket with its name.
    public var entries: Zip2Sequence<[UInt32], [String]> { zip(buckets, names) }
}
