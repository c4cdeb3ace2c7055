/// Why an event was rejected: the byte offset, the field (when known) and the reason.
///
/// Rejected events are values, never crashes: route them to dead-letter with ``description`` as the reason.
public struct EventDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What rule the document broke. Opaque code with `static let` cases, so new rules do not break callers.
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        /// Whether a document breaking this rule is still valid RFC 8259 JSON (the rule is ours, not JSON's).
        public let isValidJSON: Bool

        init(_ name: String, isValidJSON: Bool = false) {
            self.name = name
            self.isValidJSON = isValidJSON
        }

        public var description: String { name }

        // Not JSON at all.
        public static let invalidJSON = Reason("invalid JSON")
        public static let invalidUTF8 = Reason("invalid UTF-8")
        public static let invalidEscape = Reason("invalid escape")
        public static let controlCharacterInString = Reason("unescaped control character in string")
        public static let invalidNumber = Reason("invalid number")
        public static let trailingCharacters = Reason("trailing characters after the document")
        public static let unexpectedEnd = Reason("unexpected end of document")

        // Valid JSON that is not an event, or breaks a limit.
        public static let notAnObject = Reason("document is not a JSON object", isValidJSON: true)
        public static let duplicateKey = Reason("duplicate key", isValidJSON: true)
        public static let loneSurrogate = Reason("unpaired UTF-16 surrogate in \\u escape", isValidJSON: true)
        public static let nonFiniteNumber = Reason("number out of range (not finite)", isValidJSON: true)
        public static let labelType = Reason("label must be 0, 1, true or false", isValidJSON: true)
        public static let idType = Reason("id must be a string or an integer", isValidJSON: true)
        public static let timestampType = Reason(
            "timestamp must be epoch milliseconds or an RFC 3339 string", isValidJSON: true)
        public static let nestedValue = Reason(
            "arrays and nested objects are not features (ignore the field or use \"features\")", isValidJSON: true)
        public static let stringTooLong = Reason("string longer than the limit", isValidJSON: true)
        public static let tooManyFields = Reason("more fields than the limit", isValidJSON: true)
        public static let documentTooLarge = Reason("document larger than the limit", isValidJSON: true)
        public static let nestingTooDeep = Reason("nesting deeper than the limit", isValidJSON: true)

        // Messages in the Confluent wire format (a magic byte 0, a 4-byte schema id, the payload).
        public static let notWireFormat = Reason("not in the Confluent wire format (magic byte 0, 4-byte schema id)")
        public static let unknownSchema = Reason("the schema registry does not know this schema id")
        public static let unsupportedSchema = Reason("the writer schema cannot be read as events")
        /// The registry did not answer: not the message's fault, so never a dead letter (the caller waits).
        public static let registryUnavailable = Reason("the schema registry is not answering")
        public static let avroTruncated = Reason("the Avro payload ends inside a value")
        public static let avroTrailingBytes = Reason("bytes left after the Avro record")
        public static let avroIndex = Reason("Avro union branch or enum symbol out of range")
        public static let invalidAvro = Reason("invalid Avro encoding (a negative length, an overlong varint, a boolean not 0 or 1)")
    }

    /// The rule broken.
    public let reason: Reason
    /// 0-based byte offset in the document where the problem was found.
    public let offset: Int
    /// The field being read, when the problem lies in a field's value or key.
    public let field: String?
    /// The message's writer schema id, for messages in the Confluent wire format.
    public var schemaID: Int32?
    /// What the reason alone does not say (why a schema is refused, what the registry answered).
    public var detail: String?

    public init(_ reason: Reason, offset: Int, field: String? = nil, schemaID: Int32? = nil, detail: String? = nil) {
        self.reason = reason
        self.offset = offset
        self.field = field
        self.schemaID = schemaID
        self.detail = detail
    }

    /// One line: a field name's control characters, quote and backslash are escaped as in JSON (`\n`, `\u0001`),
    /// so a message never splits across lines.
    public var description: String {
        let schema = schemaID.map { "schema \($0), " } ?? ""
        let why = detail.map { "\(reason): \($0)" } ?? reason.description
        if let field { return "\(schema)byte \(offset), field '\(Self.escaped(field))': \(why)" }
        return "\(schema)byte \(offset): \(why)"
    }

    /// `text` with control characters, `'` and `\` escaped JSON-style.
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\\" || $0 == "'" || $0.value == 0x7F }) else {
            return text
        }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\\": result += "\\\\"
            case "'": result += "\\'"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
