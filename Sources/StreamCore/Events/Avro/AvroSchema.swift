import Foundation

/// An Avro schema (specification 1.11), parsed from its JSON text: what a writer schema says about the bytes of a
/// message. Named types are resolved as they are defined; a name used before its definition (or never defined) is
/// an error naming it.
public indirect enum AvroSchema: Sendable, Hashable {
    case null
    case boolean
    case int(Logical?)
    case long(Logical?)
    case float
    case double
    case bytes(Logical?)
    case string(Logical?)
    case record(name: String, fields: [Field])
    case enumeration(name: String, symbols: [String])
    case array(AvroSchema)
    case map(AvroSchema)
    case union([AvroSchema])
    case fixed(name: String, size: Int, Logical?)
    /// A reference to a named type being defined (a recursive record).
    case reference(String)

    public struct Field: Sendable, Hashable {
        public var name: String
        public var type: AvroSchema
    }

    /// The logical types the decoder reads as such; others are read as their underlying type.
    public enum Logical: Sendable, Hashable {
        case timestampMillis, timestampMicros, localTimestampMillis, localTimestampMicros
        case date, timeMillis, timeMicros, uuid
        case decimal(precision: Int, scale: Int)
    }

    /// Why a schema's text is not a schema.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses a schema's JSON text.
    public static func parse(_ text: String) throws(ParseError) -> AvroSchema {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            throw ParseError(message: "the schema is not JSON: \(error.localizedDescription)")
        }
        var parser = Parser()
        return try parser.parse(json, namespace: nil, path: "schema")
    }

    private struct Parser {
        var named: [String: AvroSchema] = [:]
        var defining: Set<String> = []

        static let primitives: [String: AvroSchema] = [
            "null": .null, "boolean": .boolean, "int": .int(nil), "long": .long(nil), "float": .float,
            "double": .double, "bytes": .bytes(nil), "string": .string(nil),
        ]

        mutating func parse(_ json: Any, namespace: String?, path: String) throws(ParseError) -> AvroSchema {
            if let name = json as? String {
                if let primitive = Self.primitives[name] { return primitive }
                let full = Self.fullName(name, namespace: namespace)
                if let type = named[full] ?? named[name] { return type }
                if defining.contains(full) { return .reference(full) }
                if defining.contains(name) { return .reference(name) }
                throw ParseError(message: "\(path): unknown type '\(name)'")
            }
            if let branches = json as? [Any] {
                var types: [AvroSchema] = []
                for (index, branch) in branches.enumerated() {
                    let type = try parse(branch, namespace: namespace, path: "\(path)[\(index)]")
                    if case .union = type { throw ParseError(message: "\(path)[\(index)]: a union may not hold a union") }
                    types.append(type)
                }
                guard !types.isEmpty else { throw ParseError(message: "\(path): an empty union") }
                return .union(types)
            }
            guard let object = json as? [String: Any] else {
                throw ParseError(message: "\(path): a type is a name, an array (union) or an object")
            }
            guard let type = object["type"] else { throw ParseError(message: "\(path): no 'type'") }
            let logical = object["logicalType"] as? String
            if let type = type as? String {
                switch type {
                case "record", "error":
                    return try record(object, namespace: namespace, path: path)
                case "enum":
                    let name = try Self.name(object, namespace: namespace, path: path)
                    guard let symbols = object["symbols"] as? [String] else {
                        throw ParseError(message: "\(path): enum '\(name)' needs 'symbols', an array of strings")
                    }
                    let result = AvroSchema.enumeration(name: name, symbols: symbols)
                    try define(name, result, path: path)
                    return result
                case "array":
                    guard let items = object["items"] else { throw ParseError(message: "\(path): array needs 'items'") }
                    return .array(try parse(items, namespace: namespace, path: "\(path).items"))
                case "map":
                    guard let values = object["values"] else { throw ParseError(message: "\(path): map needs 'values'") }
                    return .map(try parse(values, namespace: namespace, path: "\(path).values"))
                case "fixed":
                    let name = try Self.name(object, namespace: namespace, path: path)
                    guard let size = object["size"] as? Int, size >= 0 else {
                        throw ParseError(message: "\(path): fixed '\(name)' needs 'size', a non-negative integer")
                    }
                    let result = AvroSchema.fixed(name: name, size: size, Self.decimal(logical, object, path: path))
                    try define(name, result, path: path)
                    return result
                case "int":
                    return .int(Self.logical(logical, among: ["date": .date, "time-millis": .timeMillis]))
                case "long":
                    return .long(Self.logical(logical, among: [
                        "timestamp-millis": .timestampMillis, "timestamp-micros": .timestampMicros,
                        "local-timestamp-millis": .localTimestampMillis, "local-timestamp-micros": .localTimestampMicros,
                        "time-micros": .timeMicros,
                    ]))
                case "bytes":
                    return .bytes(Self.decimal(logical, object, path: path))
                case "string":
                    return .string(logical == "uuid" ? .uuid : nil)
                default:
                    // `{"type": "double"}`, or a named type in object form.
                    return try parse(type, namespace: namespace, path: path)
                }
            }
            return try parse(type, namespace: namespace, path: path)
        }

        mutating func record(_ object: [String: Any], namespace: String?, path: String) throws(ParseError) -> AvroSchema {
            let name = try Self.name(object, namespace: namespace, path: path)
            guard let fieldList = object["fields"] as? [Any] else {
                throw ParseError(message: "\(path): record '\(name)' needs 'fields', an array")
            }
            let inner = name.contains(".") ? String(name[..<name.lastIndex(of: ".")!]) : namespace
            defining.insert(name)
            var fields: [Field] = []
            for (index, entry) in fieldList.enumerated() {
                guard let field = entry as? [String: Any], let fieldName = field["name"] as? String else {
                    throw ParseError(message: "\(path).fields[\(index)]: a field needs a 'name'")
                }
                guard let type = field["type"] else {
                    throw ParseError(message: "\(path).fields[\(index)] ('\(fieldName)'): no 'type'")
                }
                if fields.contains(where: { $0.name == fieldName }) {
                    throw ParseError(message: "\(path): record '\(name)' has two fields named '\(fieldName)'")
                }
                fields.append(Field(name: fieldName, type: try parse(type, namespace: inner, path: "\(path).\(fieldName)")))
            }
            defining.remove(name)
            let result = AvroSchema.record(name: name, fields: fields)
            try define(name, result, path: path)
            return result
        }

        mutating func define(_ name: String, _ type: AvroSchema, path: String) throws(ParseError) {
            guard named[name] == nil else { throw ParseError(message: "\(path): the name '\(name)' is defined twice") }
            named[name] = type
            // A name is also found by its last component within its namespace.
            if let dot = name.lastIndex(of: ".") {
                let short = String(name[name.index(after: dot)...])
                if named[short] == nil { named[short] = type }
            }
        }

        static func name(_ object: [String: Any], namespace: String?, path: String) throws(ParseError) -> String {
            guard let name = object["name"] as? String, !name.isEmpty else {
                throw ParseError(message: "\(path): a named type needs a 'name'")
            }
            return fullName(name, namespace: (object["namespace"] as? String) ?? namespace)
        }

        static func fullName(_ name: String, namespace: String?) -> String {
            if name.contains(".") { return name }
            guard let namespace, !namespace.isEmpty else { return name }
            return "\(namespace).\(name)"
        }

        static func logical(_ name: String?, among known: [String: Logical]) -> Logical? {
            name.flatMap { known[$0] }
        }

        static func decimal(_ logical: String?, _ object: [String: Any], path: String) -> Logical? {
            // An invalid logical type is ignored (the specification): the value is read as its underlying type.
            guard logical == "decimal", let precision = object["precision"] as? Int, precision > 0 else { return nil }
            let scale = (object["scale"] as? Int) ?? 0
            guard scale >= 0, scale <= precision else { return nil }
            return .decimal(precision: precision, scale: scale)
        }
    }
}
