import Synchronization

/// How an input topic's messages are written.
public enum EventFormat: String, Sendable, Hashable, Codable, CaseIterable {
    /// A flat JSON object (``EventDecoder``).
    case json
    /// Avro in the Confluent wire format: a magic byte 0, the writer schema's 4-byte big-endian id, the binary
    /// encoding (``AvroPlan``).
    case avro
    /// JSON in the Confluent wire format: the same header, then a JSON object.
    case jsonSchema = "json-schema"

    /// Whether messages carry a schema id to look up.
    public var usesRegistry: Bool { self != .json }
}

/// A schema as a registry holds it.
public struct RegisteredSchema: Sendable {
    /// The registry's `schemaType` (absent means Avro).
    public enum Kind: String, Sendable {
        case avro = "AVRO"
        case json = "JSON"
        case protobuf = "PROTOBUF"
    }

    public var id: Int32
    public var kind: Kind
    /// The schema's text as registered.
    public var text: String
    /// A subject and version it is registered under, when the registry says.
    public var subject: String?
    public var version: Int?

    public init(id: Int32, kind: Kind, text: String, subject: String? = nil, version: Int? = nil) {
        self.id = id
        self.kind = kind
        self.text = text
        self.subject = subject
        self.version = version
    }
}

/// What a lookup of a schema id found.
public enum SchemaLookup: Sendable {
    case found(RegisteredSchema)
    /// The registry answered that it has no schema with this id.
    case unknown
    /// The registry did not answer (and the source gave up waiting, or does not wait).
    case unavailable(String)
}

/// Where writer schemas come from, by id: a schema registry, cached. Called from decoding threads; a source that
/// waits for an unavailable registry blocks the caller until it answers (or gives up).
public protocol SchemaSource: AnyObject, Sendable {
    func schema(id: Int32) -> SchemaLookup
}

/// Schemas held in memory, by id: for tests, benchmarks, and decoding without a registry.
public final class SchemaTable: SchemaSource {
    private let schemas: Mutex<[Int32: RegisteredSchema]>

    public init(_ schemas: [RegisteredSchema] = []) {
        self.schemas = Mutex(Dictionary(schemas.map { ($0.id, $0) }, uniquingKeysWith: { $1 }))
    }

    /// Adds `schema` (replacing one with its id).
    public func register(_ schema: RegisteredSchema) { schemas.withLock { $0[schema.id] = schema } }

    public func schema(id: Int32) -> SchemaLookup { schemas.withLock { $0[id] }.map { .found($0) } ?? .unknown }
}

/// Decodes an input topic's messages in their ``EventFormat`` into a reusable ``DecodedEvent``: JSON as it is;
/// the Confluent wire format by looking up each message's writer schema id (once per id: the compiled plan is
/// kept) and decoding the payload with it, so a topic whose schema evolves is read message by message with the
/// schema each was written with, and the model sees fields by name.
///
/// Errors name the schema id; an offset counts from the message's first byte (the payload starts at byte 5).
/// One thread uses a decoder at a time.
public final class MessageDecoder {
    public let format: EventFormat
    public let json: EventDecoder
    private let source: (any SchemaSource)?
    private let maxSchemas: Int
    private enum Plan {
        case avro(AvroPlan)
        case json
        /// The schema cannot be read as events: every message written with it is refused the same way.
        case refused(field: String?, detail: String)
    }
    @exclusivity(unchecked) private var plans: [Int32: Plan] = [:]
    /// The last id seen and its plan: a topic's messages mostly share one.
    @exclusivity(unchecked) private var lastID: Int32 = -1
    @exclusivity(unchecked) private var lastPlan: Plan?

    /// `maxSchemas`: the most writer schemas kept compiled (past it, the cache starts over: each schema is
    /// compiled again when next seen).
    public init(
        format: EventFormat, configuration: EventDecoderConfiguration, schemas: (any SchemaSource)?,
        maxSchemas: Int = 1_000
    ) {
        self.format = format
        json = EventDecoder(configuration: configuration)
        source = schemas
        self.maxSchemas = max(1, maxSchemas)
    }

    public var configuration: EventDecoderConfiguration { json.configuration }

    /// Decodes one message into `event`. ``EventDecodingError/Reason/registryUnavailable`` means the message was
    /// not read at all: the caller must not count it as bad.
    public func decode(_ bytes: UnsafeRawBufferPointer, into event: DecodedEvent) throws(EventDecodingError) {
        if format == .json {
            try json.decode(bytes, into: event)
            return
        }
        guard bytes.count >= 5, bytes[0] == 0 else {
            event.reset()
            throw EventDecodingError(.notWireFormat, offset: 0)
        }
        let id = Int32(bitPattern: UInt32(bytes[1]) << 24 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 8 | UInt32(bytes[4]))
        let plan: Plan
        if id == lastID, let last = lastPlan {
            plan = last
        } else {
            plan = try lookUp(id, event: event)
            lastID = id
            lastPlan = plan
        }
        if case .refused(let field, let detail) = plan {
            event.reset()
            throw EventDecodingError(.unsupportedSchema, offset: 1, field: field, schemaID: id, detail: detail)
        }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[5...])
        do throws(EventDecodingError) {
            if case .avro(let avro) = plan {
                try avro.decode(payload, into: event)
            } else {
                try json.decode(payload, into: event)
            }
        } catch {
            // Offsets from the message's first byte, and the schema named.
            throw EventDecodingError(error.reason, offset: error.offset + 5, field: error.field, schemaID: id, detail: error.detail)
        }
    }

    /// The plan of schema `id`, from the cache or compiled from the source's schema.
    private func lookUp(_ id: Int32, event: DecodedEvent) throws(EventDecodingError) -> Plan {
        if let plan = plans[id] { return plan }
        guard let source else {
            event.reset()
            throw EventDecodingError(.registryUnavailable, offset: 1, schemaID: id)
        }
        switch source.schema(id: id) {
        case .unknown:
            event.reset()
            throw EventDecodingError(.unknownSchema, offset: 1, schemaID: id)
        case .unavailable(let reason):
            event.reset()
            throw EventDecodingError(.registryUnavailable, offset: 1, schemaID: id, detail: reason)
        case .found(let schema):
            let plan = compile(schema)
            if plans.count >= maxSchemas { plans.removeAll(keepingCapacity: true) }
            plans[id] = plan
            return plan
        }
    }

    private func compile(_ schema: RegisteredSchema) -> Plan {
        switch (format, schema.kind) {
        case (.avro, .avro):
            do {
                return .avro(try AvroPlan(try AvroSchema.parse(schema.text), configuration: json.configuration))
            } catch let error as AvroPlan.Unsupported {
                return .refused(field: error.field.isEmpty ? nil : error.field, detail: error.reason)
            } catch {
                return .refused(field: nil, detail: "\(error)")
            }
        case (.jsonSchema, .json):
            return .json
        default:
            return .refused(field: nil, detail: "a \(schema.kind.rawValue) schema on a topic read as \(format.rawValue)")
        }
    }
}

@available(*, unavailable, message: "a MessageDecoder belongs to one thread")
extension MessageDecoder: Sendable {}
