public import Foundation

/// The versioned, language-neutral snapshot format of every ``OnlineLearner`` (any ``Snapshotable``): one JSON
/// document.
///
/// ```json
/// {"format": "streamlearn-snapshot", "format_version": 1,
///  "kind": "logistic-regression", "kind_version": 1,
///  "state": { … the learner's state … }}
/// ```
///
/// Keys are sorted, so the same state always encodes to the same bytes. Numbers in `state` are JSON numbers,
/// written as the shortest decimal that reads back to the same `Double`, except large arrays, which are packed
/// (see ``PackedDoubles``) so that a 2^20-bucket model stays small. `decode(encode(m))` continues bit for bit.
///
/// A snapshot of a newer `format_version` or `kind_version` than this build knows is refused with a message
/// naming both versions; a snapshot of another kind is refused with both kinds' names.
public enum Snapshot: Sendable {
    /// The envelope's format name.
    public static let format = "streamlearn-snapshot"
    /// The envelope layout this build writes and reads.
    public static let formatVersion = 1

    /// The snapshot of `learner` as UTF-8 JSON bytes.
    public static func encode<Learner: Snapshotable>(_ learner: Learner) throws(LearningError) -> Data {
        let envelope = Envelope(
            format: format, formatVersion: formatVersion, kind: Learner.snapshotKind,
            kindVersion: Learner.snapshotVersion, state: learner)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(envelope)
        } catch {
            throw .invalidSnapshot("cannot encode \(Learner.snapshotKind): \(error)")
        }
    }

    /// The learner a snapshot holds; refuses another format, kind or a newer version with a clear message.
    public static func decode<Learner: Snapshotable>(
        _ type: Learner.Type, from data: Data
    ) throws(LearningError) -> Learner {
        let decoder = JSONDecoder()
        let header: Header
        do {
            header = try decoder.decode(Header.self, from: data)
        } catch {
            throw .invalidSnapshot("not a StreamLearn snapshot (\(describe(error)))")
        }
        guard header.format == format else {
            throw .invalidSnapshot("format is '\(header.format)', expected '\(format)'")
        }
        guard header.formatVersion == formatVersion else {
            throw .invalidSnapshot(
                "format_version \(header.formatVersion) is not readable by this build, which reads version "
                    + "\(formatVersion)\(header.formatVersion > formatVersion ? "; upgrade streamlearn" : "")")
        }
        guard header.kind == Learner.snapshotKind else {
            throw .invalidSnapshot("it holds a '\(header.kind)', expected a '\(Learner.snapshotKind)'")
        }
        guard header.kindVersion == Learner.snapshotVersion else {
            throw .invalidSnapshot(
                "'\(header.kind)' kind_version \(header.kindVersion) is not readable by this build, which reads "
                    + "version \(Learner.snapshotVersion)"
                    + (header.kindVersion > Learner.snapshotVersion ? "; upgrade streamlearn" : ""))
        }
        do {
            return try decoder.decode(Envelope<Learner>.self, from: data).state
        } catch let error as LearningError {
            throw error
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            // Foundation names no key for a number it cannot hold (`1e999`): find it.
            let found = JSONNumberLocator.firstOutOfRange(in: data)
                .map { "a number out of range at \($0.path): \($0.text)" } ?? describe(DecodingError.dataCorrupted(context))
            throw .invalidSnapshot("\(Learner.snapshotKind): \(found)")
        } catch {
            throw .invalidSnapshot("\(Learner.snapshotKind): \(describe(error))")
        }
    }

    /// A decoding error as one line naming the key path.
    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "the document" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                .joined(separator: ".")
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(path(context.codingPath))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(path(context.codingPath)): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return "corrupt value at \(path(context.codingPath)): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    struct Header: Decodable {
        var format: String
        var formatVersion: Int
        var kind: String
        var kindVersion: Int

        enum CodingKeys: String, CodingKey {
            case format, formatVersion = "format_version", kind, kindVersion = "kind_version"
        }
    }

    struct Envelope<State: Codable>: Codable {
        var format: String
        var formatVersion: Int
        var kind: String
        var kindVersion: Int
        var state: State

        enum CodingKeys: String, CodingKey {
            case format, formatVersion = "format_version", kind, kindVersion = "kind_version", state
        }
    }
}

/// Base64 of fixed-width integers, little-endian, in order: the packing behind ``PackedDoubles`` and
/// ``PackedIndices``.
enum LittleEndianBase64 {
    static func encode<Word: FixedWidthInteger>(_ words: some Sequence<Word>, count: Int) -> String {
        #if _endian(little)
        if let array = words as? [Word] { return array.withUnsafeBytes { Data($0) }.base64EncodedString() }
        #endif
        var data = Data(capacity: count * MemoryLayout<Word>.size)
        for word in words {
            withUnsafeBytes(of: word.littleEndian) { data.append(contentsOf: $0) }
        }
        return data.base64EncodedString()
    }

    /// The words, or `nil` when `text` is not base64 of a whole number of words.
    static func decode<Word: FixedWidthInteger>(_ text: String, as type: Word.Type) -> [Word]? {
        let size = MemoryLayout<Word>.size
        guard let data = Data(base64Encoded: text), data.count % size == 0 else { return nil }
        return data.withUnsafeBytes { raw in
            (0..<data.count / size).map { Word(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * size, as: Word.self)) }
        }
    }

    static func decode<Word: FixedWidthInteger>(from decoder: any Decoder, as type: Word.Type, name: String) throws
        -> [Word]
    {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let words = decode(text, as: type) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not base64 of little-endian \(name) values"))
        }
        return words
    }
}

/// A `[Double]` that encodes as base64 of its IEEE-754 binary64 values, little-endian, in order: exact to the bit
/// and about 11 bytes per value. In Python: `numpy.frombuffer(base64.b64decode(s), "<f8")`.
public struct PackedDoubles: Sendable, Hashable, Codable {
    public var values: [Double]

    public init(_ values: [Double]) {
        self.values = values
    }

    public init(from decoder: any Decoder) throws {
        values = try LittleEndianBase64.decode(from: decoder, as: UInt64.self, name: "float64").map(Double.init(bitPattern:))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        #if _endian(little)
        try container.encode(values.withUnsafeBytes { Data($0) }.base64EncodedString())
        #else
        try container.encode(LittleEndianBase64.encode(values.lazy.map(\.bitPattern), count: values.count))
        #endif
    }
}

/// Fixed-width integers that encode as base64 of their values, little-endian, in order
/// (`numpy.frombuffer(…, "<u4")` for ``PackedIndices``, `"<i8"` for ``PackedInt64s``).
public struct PackedIntegers<Word: FixedWidthInteger & Sendable>: Sendable, Hashable, Codable {
    public var values: [Word]

    public init(_ values: [Word]) {
        self.values = values
    }

    public init(from decoder: any Decoder) throws {
        values = try LittleEndianBase64.decode(
            from: decoder, as: Word.self, name: "\(Word.isSigned ? "int" : "uint")\(Word.bitWidth)")
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(LittleEndianBase64.encode(values, count: values.count))
    }
}

/// Hashed-feature indices as base64 of little-endian `UInt32`s.
public typealias PackedIndices = PackedIntegers<UInt32>
/// 64-bit integers (arrivals, timestamps) as base64 of little-endian `Int64`s.
public typealias PackedInt64s = PackedIntegers<Int64>

/// Finds the first number in a JSON document that a `Double` cannot hold (`1e999`), with its key path
/// (`state.classifier.scored`), for the error Foundation's decoder gives without one. A plain scan: strings are
/// skipped with their escapes, keys are read as written.
enum JSONNumberLocator {
    static func firstOutOfRange(in data: Data) -> (path: String, text: String)? {
        let bytes = [UInt8](data)
        // Per open container: the current key (objects) or element index (arrays).
        var path: [(key: String?, index: Int)] = []
        var expectingKey = false
        var position = 0
        func readString() -> String {
            var end = position + 1
            while end < bytes.count && bytes[end] != UInt8(ascii: "\"") {
                end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1
            }
            defer { position = end + 1 }
            return String(decoding: bytes[(position + 1)..<min(end, bytes.count)], as: UTF8.self)
        }
        func describe() -> String {
            path.map { $0.key ?? "[\($0.index)]" }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "{"):
                path.append((nil, 0))
                expectingKey = true
                position += 1
            case UInt8(ascii: "["):
                path.append((nil, 0))
                path[path.count - 1].key = nil
                expectingKey = false
                position += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                path.removeLast()
                position += 1
            case UInt8(ascii: ","):
                if !path.isEmpty {
                    path[path.count - 1].index += 1
                    expectingKey = path[path.count - 1].key != nil
                }
                position += 1
            case UInt8(ascii: "\""):
                let text = readString()
                if expectingKey && !path.isEmpty {
                    path[path.count - 1].key = text
                    expectingKey = false
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                var end = position
                while end < bytes.count, "+-.eE0123456789".utf8.contains(bytes[end]) { end += 1 }
                let text = String(decoding: bytes[position..<end], as: UTF8.self)
                if let value = Double(text), !value.isFinite { return (describe(), text) }
                position = end
            default:
                position += 1
            }
        }
        return nil
    }
}
