import Foundation

/// Writes a JSON value (``JSONValue``, numbers as written) in Avro's binary encoding under a schema: for producing
/// test and demonstration topics (`streamlearn produce --format avro`), not a hot path.
///
/// A union takes the first branch the value fits (`null`; a boolean; an integer for int or long, then float or
/// double; a number for float or double; a string for string, or enum when it is a symbol; an object for a
/// record or map; an array for an array). A record's field missing from the object is written as null when its
/// type allows null, and is an error otherwise. Logical types take their underlying values (a timestamp in its
/// unit, a date in days); a decimal takes a number or a numeric string, rounded to its scale.
public struct AvroEncoder: Sendable {
    public let schema: AvroSchema

    public struct EncodingError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    public init(schema: AvroSchema) { self.schema = schema }

    /// The binary encoding of `value`.
    public func encode(_ value: JSONValue) throws(EncodingError) -> [UInt8] {
        var bytes: [UInt8] = []
        try write(value, as: schema, path: "$", into: &bytes)
        return bytes
    }

    private func write(_ value: JSONValue, as type: AvroSchema, path: String, into bytes: inout [UInt8]) throws(EncodingError) {
        switch type {
        case .null:
            guard value == .null else { throw EncodingError(path: path, reason: "expected null") }
        case .boolean:
            guard case .bool(let flag) = value else { throw EncodingError(path: path, reason: "expected a boolean") }
            bytes.append(flag ? 1 : 0)
        case .int, .long:
            guard let integer = Self.integer(value) else { throw EncodingError(path: path, reason: "expected an integer") }
            if case .int = type, integer < Int64(Int32.min) || integer > Int64(Int32.max) {
                throw EncodingError(path: path, reason: "\(integer) does not fit an Avro int")
            }
            Self.writeLong(integer, into: &bytes)
        case .float:
            guard let number = Self.number(value) else { throw EncodingError(path: path, reason: "expected a number") }
            withUnsafeBytes(of: Float(number).bitPattern.littleEndian) { bytes += $0 }
        case .double:
            guard let number = Self.number(value) else { throw EncodingError(path: path, reason: "expected a number") }
            withUnsafeBytes(of: number.bitPattern.littleEndian) { bytes += $0 }
        case .string:
            guard case .string(let text) = value else { throw EncodingError(path: path, reason: "expected a string") }
            Self.writeLong(Int64(text.utf8.count), into: &bytes)
            bytes += Array(text.utf8)
        case .bytes(let logical):
            if case .decimal(_, let scale) = logical {
                let unscaled = try Self.unscaled(value, scale: scale, path: path)
                Self.writeLong(Int64(unscaled.count), into: &bytes)
                bytes += unscaled
            } else {
                guard case .string(let text) = value else {
                    throw EncodingError(path: path, reason: "expected a string (its UTF-8 bytes)")
                }
                Self.writeLong(Int64(text.utf8.count), into: &bytes)
                bytes += Array(text.utf8)
            }
        case .fixed(_, let size, let logical):
            var content: [UInt8]
            if case .decimal(_, let scale) = logical {
                content = try Self.unscaled(value, scale: scale, path: path)
                guard content.count <= size else { throw EncodingError(path: path, reason: "does not fit \(size) bytes") }
                let fill: UInt8 = (content.first ?? 0) & 0x80 != 0 ? 0xFF : 0
                content = Array(repeating: fill, count: size - content.count) + content
            } else {
                guard case .string(let text) = value else { throw EncodingError(path: path, reason: "expected a string") }
                content = Array(text.utf8)
            }
            guard content.count == size else { throw EncodingError(path: path, reason: "expected \(size) bytes") }
            bytes += content
        case .enumeration(_, let symbols):
            guard case .string(let text) = value, let index = symbols.firstIndex(of: text) else {
                throw EncodingError(path: path, reason: "expected one of \(symbols)")
            }
            Self.writeLong(Int64(index), into: &bytes)
        case .record(_, let fields):
            guard case .object = value else { throw EncodingError(path: path, reason: "expected an object") }
            for field in fields {
                let fieldPath = "\(path).\(field.name)"
                if let fieldValue = value[field.name] {
                    try write(fieldValue, as: field.type, path: fieldPath, into: &bytes)
                } else if Self.allowsNull(field.type) {
                    try write(.null, as: field.type, path: fieldPath, into: &bytes)
                } else {
                    throw EncodingError(path: fieldPath, reason: "missing, and its type does not allow null")
                }
            }
        case .array(let items):
            guard case .array(let list) = value else { throw EncodingError(path: path, reason: "expected an array") }
            if !list.isEmpty {
                Self.writeLong(Int64(list.count), into: &bytes)
                for (index, item) in list.enumerated() { try write(item, as: items, path: "\(path)[\(index)]", into: &bytes) }
            }
            bytes.append(0)
        case .map(let values):
            guard case .object(let members) = value else { throw EncodingError(path: path, reason: "expected an object") }
            if !members.isEmpty {
                Self.writeLong(Int64(members.count), into: &bytes)
                for member in members {
                    Self.writeLong(Int64(member.key.utf8.count), into: &bytes)
                    bytes += Array(member.key.utf8)
                    try write(member.value, as: values, path: "\(path).\(member.key)", into: &bytes)
                }
            }
            bytes.append(0)
        case .union(let types):
            for (index, branch) in types.enumerated() where Self.fits(value, branch) {
                Self.writeLong(Int64(index), into: &bytes)
                try write(value, as: branch, path: path, into: &bytes)
                return
            }
            throw EncodingError(path: path, reason: "fits no branch of the union")
        case .reference(let name):
            throw EncodingError(path: path, reason: "the recursive type '\(name)' cannot be written")
        }
    }

    static func allowsNull(_ type: AvroSchema) -> Bool {
        switch type {
        case .null: true
        case .union(let types): types.contains { if case .null = $0 { true } else { false } }
        default: false
        }
    }

    /// Whether `value` is written by `type` (for choosing a union's branch).
    static func fits(_ value: JSONValue, _ type: AvroSchema) -> Bool {
        switch (type, value) {
        case (.null, .null), (.boolean, .bool), (.string, .string), (.record, .object), (.map, .object), (.array, .array):
            true
        case (.int, _), (.long, _): integer(value) != nil
        case (.float, _), (.double, _): number(value) != nil
        case (.bytes(let logical), _), (.fixed(_, _, let logical), _):
            if case .decimal = logical { number(value) != nil } else { if case .string = value { true } else { false } }
        case (.enumeration(_, let symbols), .string(let text)): symbols.contains(text)
        default: false
        }
    }

    /// An integer as written (no fraction or exponent), or a number that is one.
    static func integer(_ value: JSONValue) -> Int64? {
        guard case .number(let text) = value else { return nil }
        if let integer = Int64(text) { return integer }
        guard let double = Double(text), double.rounded() == double, abs(double) < 9.2e18 else { return nil }
        return Int64(double)
    }

    /// A number, correctly rounded; JSON has no NaN or infinity, so they are taken as strings.
    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let text): return Double(text)
        case .string("NaN"): return .nan
        case .string("Infinity"): return .infinity
        case .string("-Infinity"): return -.infinity
        default: return nil
        }
    }

    /// A decimal's unscaled value in big-endian two's complement, as few bytes as it needs.
    static func unscaled(_ value: JSONValue, scale: Int, path: String) throws(EncodingError) -> [UInt8] {
        let text: String
        switch value {
        case .number(let written), .string(let written): text = written
        default: throw EncodingError(path: path, reason: "expected a decimal number")
        }
        guard let decimal = Decimal(string: text) else { throw EncodingError(path: path, reason: "expected a decimal number") }
        var scaled = decimal * pow(Decimal(10), scale)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .plain)
        guard let integer = Int64(NSDecimalNumber(decimal: rounded).stringValue) else {
            throw EncodingError(path: path, reason: "a decimal whose unscaled value does not fit 64 bits")
        }
        var result = withUnsafeBytes(of: integer.bigEndian) { Array($0) }
        while result.count > 1 && ((result[0] == 0 && result[1] & 0x80 == 0) || (result[0] == 0xFF && result[1] & 0x80 != 0)) {
            result.removeFirst()
        }
        return result
    }

    /// A zig-zag varint.
    public static func writeLong(_ value: Int64, into bytes: inout [UInt8]) {
        var encoded = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        while encoded >= 0x80 {
            bytes.append(UInt8(encoded & 0x7F) | 0x80)
            encoded >>= 7
        }
        bytes.append(UInt8(encoded))
    }

    /// A message in the Confluent wire format: magic byte 0, the schema id (big-endian), the payload.
    public static func wireFormat(schemaID: Int32, payload: [UInt8]) -> [UInt8] {
        [0] + withUnsafeBytes(of: UInt32(bitPattern: schemaID).bigEndian) { Array($0) } + payload
    }
}
