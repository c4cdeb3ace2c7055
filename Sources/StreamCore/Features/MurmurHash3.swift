/// MurmurHash3 x86_32 (Austin Appleby, public domain): the feature-hashing function.
///
/// Matches the reference `MurmurHash3_x86_32` bit for bit (and so Python's `mmh3.hash(…, signed=False)`).
public enum MurmurHash3: Sendable {
    /// The 32-bit hash of `bytes` with `seed`.
    ///
    /// - Complexity: O(n), about one multiply-rotate round per 4 bytes; no allocation.
    @inlinable
    public static func hash32(_ bytes: UnsafeRawBufferPointer, seed: UInt32) -> UInt32 {
        let c1: UInt32 = 0xCC9E_2D51
        let c2: UInt32 = 0x1B87_3593
        var h = seed
        let blocks = bytes.count / 4
        for block in 0..<blocks {
            var k = bytes.loadUnaligned(fromByteOffset: block * 4, as: UInt32.self).littleEndian
            k &*= c1
            k = k << 15 | k >> 17
            k &*= c2
            h ^= k
            h = h << 13 | h >> 19
            h = h &* 5 &+ 0xE654_6B64
        }
        var k: UInt32 = 0
        let tail = blocks * 4
        switch bytes.count & 3 {
        case 3:
            k ^= UInt32(bytes[tail + 2]) << 16
            fallthrough
        case 2:
            k ^= UInt32(bytes[tail + 1]) << 8
            fallthrough
        case 1:
            k ^= UInt32(bytes[tail])
            k &*= c1
            k = k << 15 | k >> 17
            k &*= c2
            h ^= k
        default:
            break
        }
        h ^= UInt32(truncatingIfNeeded: bytes.count)
        h ^= h >> 16
        h &*= 0x85EB_CA6B
        h ^= h >> 13
        h &*= 0xC2B2_AE35
        h ^= h >> 16
        return h
    }

    /// The hash of a byte array.
    public static func hash32(_ bytes: [UInt8], seed: UInt32) -> UInt32 {
        bytes.withUnsafeBytes { hash32($0, seed: seed) }
    }
}
