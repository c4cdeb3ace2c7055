#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How far a pipeline has consumed one of its sources: what a snapshot stores so that a restart continues
/// exactly where the snapshot was taken.
///
/// As JSON, one object with one key naming the kind:
///
/// ```json
/// {"file":{"path":"events.jsonl","byte_offset":18133,"line":100,"fingerprint":{"length":18133,"head_crc32":"…","tail_crc32":"…"}}}
/// {"kafka":{"topic":"transactions","partition":3,"offset":1200}}
/// ```
public enum SourcePosition: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Lines of a file (or stdin, which has no fingerprint and cannot be resumed).
    case file(FilePosition)
    /// One partition of a Kafka topic.
    case kafka(KafkaPosition)

    /// `file:PATH` or `TOPIC/PARTITION`: the key of ``Alert``'s `offsets`.
    public var key: String {
        switch self {
        case .file(let position): "file:\(position.path)"
        case .kafka(let position): "\(position.topic)/\(position.partition)"
        }
    }

    /// Lines consumed (file) or the next offset to consume (Kafka).
    public var offset: Int64 {
        switch self {
        case .file(let position): Int64(position.line)
        case .kafka(let position): position.offset
        }
    }

    public var description: String { "\(key)@\(offset)" }

    enum CodingKeys: String, CodingKey {
        case file, kafka
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let file = try container.decodeIfPresent(FilePosition.self, forKey: .file) {
            self = .file(file)
        } else if let kafka = try container.decodeIfPresent(KafkaPosition.self, forKey: .kafka) {
            self = .kafka(kafka)
        } else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "a position is either 'file' or 'kafka'"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .file(let position): try container.encode(position, forKey: .file)
        case .kafka(let position): try container.encode(position, forKey: .kafka)
        }
    }
}

/// Lines consumed from a file: the byte just after the last consumed line, and that line's 1-based number.
public struct FilePosition: Sendable, Hashable, Codable {
    /// The path as given (for messages; the file is recognised by ``fingerprint``, not by its spelling).
    public var path: String
    /// Bytes consumed: where reading continues.
    public var byteOffset: Int64
    /// Lines consumed (blank lines included), so line numbers continue.
    public var line: Int
    /// The consumed prefix's fingerprint; `nil` for stdin, which cannot be resumed.
    public var fingerprint: FileFingerprint?

    public init(path: String, byteOffset: Int64, line: Int, fingerprint: FileFingerprint? = nil) {
        self.path = path
        self.byteOffset = byteOffset
        self.line = line
        self.fingerprint = fingerprint
    }

    enum CodingKeys: String, CodingKey {
        case path, byteOffset = "byte_offset", line, fingerprint
    }
}

/// The next offset to consume from one partition.
public struct KafkaPosition: Sendable, Hashable, Codable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// Recognises a file's first `length` bytes by their content: the CRC-32 of its first 64 KiB and of the 64 KiB
/// that end at `length`. A renamed or re-spelt path of the same file matches; a different file, or one that was
/// shortened or rewritten at either end of the consumed part, does not. (A change only in the middle of a long
/// prefix goes unseen: reading the whole prefix at every snapshot would cost as much as the stream.)
public struct FileFingerprint: Sendable, Hashable, Codable {
    /// Bytes covered.
    public var length: Int64
    public var headCRC32: String
    public var tailCRC32: String

    /// Bytes read at each end.
    public static let span = 1 << 16

    enum CodingKeys: String, CodingKey {
        case length, headCRC32 = "head_crc32", tailCRC32 = "tail_crc32"
    }

    public init(length: Int64, headCRC32: String, tailCRC32: String) {
        self.length = length
        self.headCRC32 = headCRC32
        self.tailCRC32 = tailCRC32
    }

    /// The fingerprint of the first `length` bytes of the open file `descriptor` (read with `pread`, so the
    /// descriptor's position is unchanged), or `nil` when the file is shorter or cannot be read.
    public static func of(descriptor: Int32, length: Int64) -> FileFingerprint? {
        func crc(at offset: Int64, count: Int) -> String? {
            var bytes = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let got = bytes.withUnsafeMutableBytes { raw in
                    pread(descriptor, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                }
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { return nil }
                done += got
            }
            return CRC32.hex(bytes)
        }
        let head = Int(min(length, Int64(span)))
        let tail = Int(min(length, Int64(span)))
        guard let headCRC = crc(at: 0, count: head), let tailCRC = crc(at: length - Int64(tail), count: tail) else {
            return nil
        }
        return FileFingerprint(length: length, headCRC32: headCRC, tailCRC32: tailCRC)
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`).
public enum CRC32: Sendable {
    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 != 0 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }

    /// The checksum as eight lowercase hex digits.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let value = checksum(bytes)
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
