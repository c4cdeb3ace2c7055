#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A writer schema compiled once into the steps that decode its binary encoding straight into a ``DecodedEvent``.
///
/// Fields are matched to roles by name, as in JSON: the id, label and timestamp fields at the top level; a record
/// field named as ``EventDecoderConfiguration/featuresField`` holds features under their own names; any other
/// nested record is flattened with dotted names (`merchant.country`); ``EventDecoderConfiguration/ignoredFields``
/// (a top-level or a dotted name) are read past. Every feature name of the schema is written once at the start of
/// the event's text, as a key shape (``DecodedEvent/keyShape``), so the feature vectorizer resolves them by position.
///
/// Type mapping: `int`, `long`, `float`, `double`, `boolean` (0/1), `decimal` (to the nearest double when the
/// unscaled value fits 53 bits, else within a few ulps), `date` (days), times and timestamps (as their numbers) are
/// numeric features; `string` and `enum` (the symbol) are categorical; `null` (or the null branch of a union) is
/// a missing feature, and so is a NaN float or double; `bytes` and `fixed` are not features and are read past;
/// `array` and `map` are refused unless ignored. Other unions are read by branch, under the field's name.
///
/// Immutable after compiling; shared by every decoder of the process.
public final class AvroPlan: @unchecked Sendable {
    enum Kind: UInt8 {
        case null, boolean, int, long, float, double, string, enumeration, union
        /// Read past: `bytes` (a), `fixed` (a: size), an array or map (a: the item's branch).
        case skipBytes, skipFixed, skipArray, skipMap
        /// `decimal` over bytes (a: scale) or fixed (a: scale, b: size).
        case decimalBytes, decimalFixed
    }

    /// How a value in a role is converted (timestamps).
    enum Unit: UInt8 {
        case none, millis, micros, days
    }

    struct Step {
        var kind: Kind
        var role: EventDecoder.Role
        var unit: Unit = .none
        /// The name's index in `names` (-1: read past).
        var slot: Int32
        var a: Int32 = 0
        var b: Int32 = 0
    }

    struct Slot {
        var name: TextRange
        var hash: UInt64
    }

    /// The top level's steps, then each branch's.
    let steps: UnsafeMutableBufferPointer<Step>
    let topCount: Int
    /// (first step, step count) of each union branch and each array or map item.
    let branches: UnsafeMutableBufferPointer<(start: Int32, count: Int32)>
    /// Union branch lists: `unions[a ..< a + b]` index `branches`.
    let unionBranches: UnsafeMutableBufferPointer<Int32>
    let slots: UnsafeMutableBufferPointer<Slot>
    /// Every feature name, back to back: the key shape's text.
    let names: UnsafeMutableBufferPointer<UInt8>
    /// Enum symbols, back to back, and where each symbol list starts.
    let symbolBytes: UnsafeMutableBufferPointer<UInt8>
    let symbols: UnsafeMutableBufferPointer<TextRange>
    /// This schema's key shape number in the process.
    let shape: UInt64
    let maxStringBytes: Int
    let maxDocumentBytes: Int
    /// The names of the features, in schema order (for `/model` and tests).
    public let featureNames: [String]

    /// Why a schema cannot be decoded into events (an array that is not ignored, a recursive record, …).
    public struct Unsupported: Error, Sendable, CustomStringConvertible {
        public var field: String
        public var reason: String
        public var description: String { field.isEmpty ? reason : "field '\(field)': \(reason)" }
    }

    /// Compiles `schema` (a record) for events read with `configuration`'s roles and limits.
    public init(_ schema: AvroSchema, configuration: EventDecoderConfiguration) throws(Unsupported) {
        var compiler = Compiler(configuration: configuration)
        guard case .record(_, let fields) = schema else {
            throw Unsupported(field: "", reason: "an event's schema must be a record")
        }
        compiler.topLevelNames = Set(fields.map(\.name))
        var top: [Step] = []
        try compiler.record(fields, prefix: "", topLevel: true, into: &top)
        guard compiler.slotNames.count <= configuration.maxFields else {
            throw Unsupported(
                field: "", reason: "\(compiler.slotNames.count) features, more than the limit (\(configuration.maxFields))")
        }
        let topCount = top.count
        self.topCount = topCount
        let all = top + compiler.branchSteps
        steps = .allocate(capacity: max(all.count, 1))
        _ = steps.initialize(from: all)
        branches = .allocate(capacity: max(compiler.branches.count, 1))
        _ = branches.initialize(from: compiler.branches.map { (Int32(topCount) + $0.start, $0.count) })
        unionBranches = .allocate(capacity: max(compiler.unionBranches.count, 1))
        _ = unionBranches.initialize(from: compiler.unionBranches)
        var nameBytes: [UInt8] = []
        var slotList: [Slot] = []
        for name in compiler.slotNames {
            let start = Int32(nameBytes.count)
            nameBytes += Array(name.utf8)
            let range = TextRange(start: start, end: Int32(nameBytes.count))
            slotList.append(Slot(name: range, hash: nameBytes[Int(start)...].withUnsafeBytes { fnv1a64($0) }))
        }
        slots = .allocate(capacity: max(slotList.count, 1))
        _ = slots.initialize(from: slotList)
        names = .allocate(capacity: max(nameBytes.count, 1))
        _ = names.initialize(from: nameBytes)
        var symbolText: [UInt8] = []
        var symbolRanges: [TextRange] = []
        for symbol in compiler.symbols {
            let start = Int32(symbolText.count)
            symbolText += Array(symbol.utf8)
            symbolRanges.append(TextRange(start: start, end: Int32(symbolText.count)))
        }
        symbolBytes = .allocate(capacity: max(symbolText.count, 1))
        _ = symbolBytes.initialize(from: symbolText)
        symbols = .allocate(capacity: max(symbolRanges.count, 1))
        _ = symbols.initialize(from: symbolRanges)
        featureNames = compiler.slotNames
        maxStringBytes = configuration.maxStringBytes
        maxDocumentBytes = configuration.maxDocumentBytes
        let ends = slotList.map(\.name.end)
        shape = slotList.isEmpty ? 0 : nameBytes.withUnsafeBufferPointer { shapeIdentity(names: $0, ends: ends) }
    }

    deinit {
        steps.deallocate()
        branches.deallocate()
        unionBranches.deallocate()
        slots.deallocate()
        names.deallocate()
        symbolBytes.deallocate()
        symbols.deallocate()
    }

    private struct Compiler {
        let configuration: EventDecoderConfiguration
        var topLevelNames: Set<String> = []
        var slotNames: [String] = []
        var slotIndex: [String: Int32] = [:]
        var branchSteps: [Step] = []
        var branches: [(start: Int32, count: Int32)] = []
        var unionBranches: [Int32] = []
        var symbols: [String] = []

        init(configuration: EventDecoderConfiguration) { self.configuration = configuration }

        mutating func slot(_ name: String) -> Int32 {
            if let index = slotIndex[name] { return index }
            let index = Int32(slotNames.count)
            slotNames.append(name)
            slotIndex[name] = index
            return index
        }

        mutating func record(
            _ fields: [AvroSchema.Field], prefix: String, topLevel: Bool, into steps: inout [Step]
        ) throws(Unsupported) {
            for field in fields {
                let name = prefix + field.name
                if configuration.ignoredFields.contains(name) {
                    try skip(field.type, name: name, into: &steps)
                    continue
                }
                var role = EventDecoder.Role.feature
                if topLevel {
                    if field.name == configuration.idField {
                        role = .id
                    } else if field.name == configuration.labelField {
                        role = .label
                    } else if field.name == configuration.timestampField {
                        role = .timestamp
                    } else if field.name == configuration.featuresField {
                        role = .features
                    }
                }
                if role == .features {
                    try featuresField(field.type, into: &steps)
                } else {
                    try value(field.type, name: name, role: role, into: &steps)
                }
            }
        }

        /// The features record (or a nullable one): its fields are features under their own names.
        mutating func featuresField(_ type: AvroSchema, into steps: inout [Step]) throws(Unsupported) {
            switch type {
            case .record(_, let fields):
                for field in fields where topLevelNames.contains(field.name) {
                    throw Unsupported(
                        field: "\(configuration.featuresField).\(field.name)", reason: "has the name of a top-level field")
                }
                try record(fields, prefix: "", topLevel: false, into: &steps)
            case .union(let types):
                try union(types, into: &steps) { compiler, type, steps throws(Unsupported) in
                    try compiler.featuresField(type, into: &steps)
                }
            case .null:
                steps.append(Step(kind: .null, role: .feature, slot: -1))
            default:
                throw Unsupported(field: configuration.featuresField, reason: "the features field must be a record")
            }
        }

        mutating func value(
            _ type: AvroSchema, name: String, role: EventDecoder.Role, into steps: inout [Step]
        ) throws(Unsupported) {
            let isFeature = role == .feature
            switch type {
            case .null:
                steps.append(Step(kind: .null, role: role, slot: slot(name)))
            case .boolean:
                steps.append(Step(kind: .boolean, role: role, slot: slot(name)))
            case .int(let logical):
                steps.append(Step(kind: .int, role: role, unit: logical == .date ? .days : .millis, slot: slot(name)))
            case .long(let logical):
                let unit: Unit = logical == .timestampMicros || logical == .localTimestampMicros ? .micros : .millis
                steps.append(Step(kind: .long, role: role, unit: unit, slot: slot(name)))
            case .float:
                steps.append(Step(kind: .float, role: role, slot: slot(name)))
            case .double:
                steps.append(Step(kind: .double, role: role, slot: slot(name)))
            case .string:
                steps.append(Step(kind: .string, role: role, slot: slot(name)))
            case .enumeration(_, let symbolList):
                let first = Int32(symbols.count)
                symbols += symbolList
                steps.append(Step(kind: .enumeration, role: role, slot: slot(name), a: first, b: Int32(symbolList.count)))
            case .bytes(let logical):
                if case .decimal(_, let scale) = logical, isFeature {
                    steps.append(Step(kind: .decimalBytes, role: role, slot: slot(name), a: Int32(scale)))
                } else if isFeature {
                    steps.append(Step(kind: .skipBytes, role: role, slot: -1))
                } else {
                    throw Unsupported(field: name, reason: "bytes cannot be the \(role) field")
                }
            case .fixed(_, let size, let logical):
                if case .decimal(_, let scale) = logical, isFeature {
                    steps.append(Step(kind: .decimalFixed, role: role, slot: slot(name), a: Int32(scale), b: Int32(size)))
                } else if isFeature {
                    steps.append(Step(kind: .skipFixed, role: role, slot: -1, a: Int32(size)))
                } else {
                    throw Unsupported(field: name, reason: "fixed cannot be the \(role) field")
                }
            case .record(_, let fields):
                guard isFeature else { throw Unsupported(field: name, reason: "a record cannot be the \(role) field") }
                try record(fields, prefix: name + ".", topLevel: false, into: &steps)
            case .union(let types):
                try union(types, into: &steps) { compiler, type, steps throws(Unsupported) in
                    if case .null = type {
                        // The null branch: a missing feature (a record's fields are simply absent).
                        let hasSlot = !Self.isRecord(types)
                        steps.append(Step(kind: .null, role: role, slot: hasSlot ? compiler.slot(name) : -1))
                    } else {
                        try compiler.value(type, name: name, role: role, into: &steps)
                    }
                }
            case .array, .map:
                throw Unsupported(
                    field: name, reason: "arrays and maps are not features (list the field under fields.ignore)")
            case .reference(let target):
                throw Unsupported(field: name, reason: "the recursive type '\(target)' is not supported (ignore the field)")
            }
        }

        static func isRecord(_ types: [AvroSchema]) -> Bool {
            types.contains { if case .record = $0 { true } else { false } }
        }

        /// A union: each branch compiled by `branch` into its own steps.
        mutating func union(
            _ types: [AvroSchema], into steps: inout [Step],
            branch: (inout Compiler, AvroSchema, inout [Step]) throws(Unsupported) -> Void
        ) throws(Unsupported) {
            var indices: [Int32] = []
            for type in types {
                var branchSteps: [Step] = []
                try branch(&self, type, &branchSteps)
                indices.append(append(branchSteps))
            }
            let first = Int32(unionBranches.count)
            unionBranches += indices
            steps.append(Step(kind: .union, role: .feature, slot: -1, a: first, b: Int32(types.count)))
        }

        /// Keeps `steps` as a branch; its index.
        mutating func append(_ steps: [Step]) -> Int32 {
            let index = Int32(branches.count)
            branches.append((Int32(branchSteps.count), Int32(steps.count)))
            branchSteps += steps
            return index
        }

        /// Steps that read past a value of `type`.
        mutating func skip(_ type: AvroSchema, name: String, into steps: inout [Step]) throws(Unsupported) {
            switch type {
            case .null: steps.append(Step(kind: .null, role: .ignored, slot: -1))
            case .boolean: steps.append(Step(kind: .boolean, role: .ignored, slot: -1))
            case .int: steps.append(Step(kind: .int, role: .ignored, slot: -1))
            case .long: steps.append(Step(kind: .long, role: .ignored, slot: -1))
            case .float: steps.append(Step(kind: .float, role: .ignored, slot: -1))
            case .double: steps.append(Step(kind: .double, role: .ignored, slot: -1))
            case .string, .bytes: steps.append(Step(kind: .skipBytes, role: .ignored, slot: -1))
            case .enumeration(_, let symbolList):
                steps.append(Step(kind: .enumeration, role: .ignored, slot: -1, a: 0, b: Int32(symbolList.count)))
            case .fixed(_, let size, _): steps.append(Step(kind: .skipFixed, role: .ignored, slot: -1, a: Int32(size)))
            case .record(_, let fields):
                for field in fields { try skip(field.type, name: name + "." + field.name, into: &steps) }
            case .union(let types):
                try union(types, into: &steps) { compiler, type, steps throws(Unsupported) in
                    try compiler.skip(type, name: name, into: &steps)
                }
            case .array(let items):
                var itemSteps: [Step] = []
                try skip(items, name: name, into: &itemSteps)
                steps.append(Step(kind: .skipArray, role: .ignored, slot: -1, a: append(itemSteps)))
            case .map(let values):
                var valueSteps: [Step] = []
                try skip(values, name: name, into: &valueSteps)
                steps.append(Step(kind: .skipMap, role: .ignored, slot: -1, a: append(valueSteps)))
            case .reference(let target):
                throw Unsupported(field: name, reason: "the recursive type '\(target)' is not supported")
            }
        }
    }

    // MARK: - Decoding

    /// Decodes one payload (the bytes after the wire format's header) into `event`.
    public func decode(_ payload: UnsafeRawBufferPointer, into event: DecodedEvent) throws(EventDecodingError) {
        guard payload.count <= maxDocumentBytes else {
            event.reset()
            throw EventDecodingError(.documentTooLarge, offset: maxDocumentBytes)
        }
        if shape == 0 {
            event.reset()
        } else {
            // The names are written once per event buffer and schema, as the JSON decoder writes a key shape's.
            if event.keyShape != shape {
                event.writeKeyShape(shape, names: UnsafeRawPointer(names.baseAddress!), count: names.count)
            }
            event.reset(keepingTextPrefix: names.count)
        }
        var reader = AvroReader(payload)
        try run(start: 0, count: topCount, &reader, event)
        guard reader.position == reader.end else {
            throw EventDecodingError(.avroTrailingBytes, offset: reader.position)
        }
    }

    private func run(start: Int, count: Int, _ reader: inout AvroReader, _ event: DecodedEvent) throws(EventDecodingError) {
        var index = start
        let end = start + count
        while index < end {
            let step = steps[index]
            index += 1
            switch step.kind {
            case .double:
                let value = try reader.double()
                if step.slot >= 0 { try number(value, step, reader, event) }
            case .long, .int:
                let value = try reader.long()
                if step.slot >= 0 { try integer(value, step, reader, event) }
            case .string:
                let range = try reader.bytes()
                if step.slot >= 0 { try string(range, step, reader, event) }
            case .boolean:
                let value = try reader.boolean()
                if step.slot >= 0 { try integer(value ? 1 : 0, step, reader, event, boolean: true) }
            case .float:
                let value = try reader.float()
                if step.slot >= 0 { try number(Double(value), step, reader, event) }
            case .null:
                if step.slot >= 0 && step.role == .feature {
                    let slot = slots[Int(step.slot)]
                    event.missingBuffer.append(MissingFeature(name: slot.name, nameHash: slot.hash))
                }
            case .enumeration:
                let at = reader.position
                let symbol = try reader.long()
                guard symbol >= 0 && symbol < Int64(step.b) else {
                    throw error(.avroIndex, at: at, step)
                }
                if step.slot >= 0 {
                    let text = symbols[Int(step.a) + Int(symbol)]
                    let start = Int32(event.textBuffer.count)
                    event.textBuffer.append(UnsafeRawPointer(symbolBytes.baseAddress! + Int(text.start)), count: text.count)
                    try store(TextRange(start: start, end: Int32(event.textBuffer.count)), step, at, event)
                }
            case .union:
                let at = reader.position
                let branch = try reader.long()
                guard branch >= 0 && branch < Int64(step.b) else { throw error(.avroIndex, at: at, step) }
                let steps = branches[Int(unionBranches[Int(step.a) + Int(branch)])]
                try run(start: Int(steps.start), count: Int(steps.count), &reader, event)
            case .skipBytes:
                _ = try reader.bytes()
            case .skipFixed:
                try reader.skip(Int(step.a))
            case .skipArray, .skipMap:
                let item = branches[Int(step.a)]
                while true {
                    let items = try reader.long()
                    if items == 0 { break }
                    if items < 0 {
                        // A block with its size in bytes: read past it whole.
                        let size = try reader.long()
                        guard size >= 0 else { throw EventDecodingError(.invalidAvro, offset: reader.position) }
                        try reader.skip(Int(clamping: size))
                        continue
                    }
                    // Each item takes at least one byte only when its steps read something: bound the count by the
                    // bytes left, so that a huge count of empty items cannot spin.
                    guard items <= Int64(reader.end - reader.position) || item.count == 0 else {
                        throw EventDecodingError(.avroTruncated, offset: reader.position)
                    }
                    if item.count == 0 { continue }
                    for _ in 0..<items {
                        if step.kind == .skipMap { _ = try reader.bytes() }
                        try run(start: Int(item.start), count: Int(item.count), &reader, event)
                    }
                }
            case .decimalBytes:
                let range = try reader.bytes()
                try number(decimal(reader.base + range.lowerBound, count: range.count, scale: Int(step.a)), step, reader, event)
            case .decimalFixed:
                let start = reader.position
                try reader.skip(Int(step.b))
                try number(decimal(reader.base + start, count: Int(step.b), scale: Int(step.a)), step, reader, event)
            }
        }
    }

    private func error(_ reason: EventDecodingError.Reason, at offset: Int, _ step: Step) -> EventDecodingError {
        EventDecodingError(reason, offset: offset, field: step.slot >= 0 ? featureNames[Int(step.slot)] : nil)
    }

    @inline(__always)
    private func number(_ value: Double, _ step: Step, _ reader: AvroReader, _ event: DecodedEvent) throws(EventDecodingError) {
        let slot = slots[Int(step.slot)]
        switch step.role {
        case .feature:
            if value.isFinite {
                event.numericBuffer.append(NumericFeature(name: slot.name, nameHash: slot.hash, value: value))
            } else if value.isNaN {
                event.missingBuffer.append(MissingFeature(name: slot.name, nameHash: slot.hash))
            } else {
                throw error(.nonFiniteNumber, at: reader.position, step)
            }
        case .label:
            guard value == 0 || value == 1 else { throw error(.labelType, at: reader.position, step) }
            event.label = value == 1 ? 1 : 0
        case .timestamp:
            guard value.rounded() == value, abs(value) < 9.0e15 else { throw error(.timestampType, at: reader.position, step) }
            event.timestampMilliseconds = Int64(value)
        default:
            throw error(.idType, at: reader.position, step)
        }
    }

    @inline(__always)
    private func integer(
        _ value: Int64, _ step: Step, _ reader: AvroReader, _ event: DecodedEvent, boolean: Bool = false
    ) throws(EventDecodingError) {
        let slot = slots[Int(step.slot)]
        switch step.role {
        case .feature:
            event.numericBuffer.append(NumericFeature(name: slot.name, nameHash: slot.hash, value: Double(value)))
        case .label:
            guard value == 0 || value == 1 else { throw error(.labelType, at: reader.position, step) }
            event.label = Int8(value)
        case .timestamp:
            guard !boolean else { throw error(.timestampType, at: reader.position, step) }
            switch step.unit {
            case .micros: event.timestampMilliseconds = floorDivide(value, 1000)
            case .days:
                guard abs(value) < 100_000_000 else { throw error(.timestampType, at: reader.position, step) }
                event.timestampMilliseconds = value * 86_400_000
            default: event.timestampMilliseconds = value
            }
        default:
            guard !boolean else { throw error(.idType, at: reader.position, step) }
            let start = Int32(event.textBuffer.count)
            appendDigits(value, to: event)
            event.id = TextRange(start: start, end: Int32(event.textBuffer.count))
        }
    }

    @inline(__always)
    private func string(
        _ range: Range<Int>, _ step: Step, _ reader: AvroReader, _ event: DecodedEvent
    ) throws(EventDecodingError) {
        guard range.count <= maxStringBytes else { throw error(.stringTooLong, at: range.lowerBound, step) }
        guard isValidUTF8(reader.base + range.lowerBound, count: range.count) else {
            throw error(.invalidUTF8, at: range.lowerBound, step)
        }
        let start = Int32(event.textBuffer.count)
        event.textBuffer.append(reader.base + range.lowerBound, count: range.count)
        try store(TextRange(start: start, end: Int32(event.textBuffer.count)), step, range.lowerBound, event)
    }

    /// A string value in its role.
    @inline(__always)
    private func store(
        _ text: TextRange, _ step: Step, _ offset: Int, _ event: DecodedEvent
    ) throws(EventDecodingError) {
        let slot = slots[Int(step.slot)]
        switch step.role {
        case .feature:
            event.categoricalBuffer.append(CategoricalFeature(name: slot.name, nameHash: slot.hash, value: text))
        case .id:
            event.id = text
        case .timestamp:
            guard let millis = parseRFC3339Milliseconds(event.bytes(text)) else {
                throw error(.timestampType, at: offset, step)
            }
            event.timestampMilliseconds = millis
        default:
            throw error(.labelType, at: offset, step)
        }
    }

    /// An Avro decimal: a big-endian two's-complement unscaled integer, divided by 10^scale.
    private func decimal(_ bytes: UnsafeRawPointer, count: Int, scale: Int) -> Double {
        guard count > 0 else { return 0 }
        let negative = bytes.load(as: UInt8.self) & 0x80 != 0
        if count <= 8 {
            var unscaled: Int64 = negative ? -1 : 0
            for index in 0..<count { unscaled = (unscaled << 8) | Int64(bytes.load(fromByteOffset: index, as: UInt8.self)) }
            // Both exact doubles when |unscaled| < 2^53 and scale <= 22: one correctly rounded division.
            return scale <= 22 ? Double(unscaled) / powersOfTen[scale] : Double(unscaled) / pow(10, Double(scale))
        }
        var value = 0.0
        for index in 0..<count {
            var byte = Double(bytes.load(fromByteOffset: index, as: UInt8.self))
            if index == 0 && negative { byte -= 256 }
            value = value * 256 + byte
        }
        return value / pow(10, Double(scale))
    }
}

private let powersOfTen: [Double] = (0...22).map { pow(10, Double($0)) }

/// Writes `value`'s decimal digits to the event's text.
@inline(__always)
private func appendDigits(_ value: Int64, to event: DecodedEvent) {
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: 20 digits and a sign
    withUnsafeMutableBytes(of: &digits) { buffer in
        var magnitude = value.magnitude
        var position = 24
        repeat {
            position -= 1
            buffer[position] = UInt8(48 + magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        if value < 0 {
            position -= 1
            buffer[position] = UInt8(ascii: "-")
        }
        event.textBuffer.append(UnsafeRawPointer(buffer.baseAddress! + position), count: 24 - position)
    }
}

/// Whether `count` bytes are well-formed UTF-8 (RFC 3629: no overlongs, surrogates or values past U+10FFFF).
@inline(__always)
func isValidUTF8(_ bytes: UnsafeRawPointer, count: Int) -> Bool {
    var index = 0
    while index + 8 <= count {
        if bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { break }
        index += 8
    }
    while index < count {
        let lead = bytes.load(fromByteOffset: index, as: UInt8.self)
        if lead < 0x80 {
            index += 1
            continue
        }
        let length = utf8SequenceLength(bytes + index, count: count - index)
        guard length > 0 else { return false }
        index += length
    }
    return true
}

/// Reads Avro's binary encoding from a buffer, checking every length against its end.
struct AvroReader {
    let base: UnsafeRawPointer
    var position = 0
    let end: Int

    init(_ buffer: UnsafeRawBufferPointer) {
        // An empty buffer may have no address; any readable one will do, since nothing is read past `end`.
        base = buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        end = buffer.count
    }

    /// A zig-zag varint (int and long share the encoding).
    @inline(__always)
    mutating func long() throws(EventDecodingError) -> Int64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = position
        while true {
            guard position < end else { throw EventDecodingError(.avroTruncated, offset: position) }
            let byte = base.load(fromByteOffset: position, as: UInt8.self)
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { break }
            shift += 7
            guard shift < 64 else { throw EventDecodingError(.invalidAvro, offset: start) }
        }
        return Int64(bitPattern: (result >> 1) ^ (0 &- (result & 1)))
    }

    @inline(__always)
    mutating func double() throws(EventDecodingError) -> Double {
        guard position + 8 <= end else { throw EventDecodingError(.avroTruncated, offset: position) }
        let bits = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt64.self))
        position += 8
        return Double(bitPattern: bits)
    }

    @inline(__always)
    mutating func float() throws(EventDecodingError) -> Float {
        guard position + 4 <= end else { throw EventDecodingError(.avroTruncated, offset: position) }
        let bits = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt32.self))
        position += 4
        return Float(bitPattern: bits)
    }

    @inline(__always)
    mutating func boolean() throws(EventDecodingError) -> Bool {
        guard position < end else { throw EventDecodingError(.avroTruncated, offset: position) }
        let byte = base.load(fromByteOffset: position, as: UInt8.self)
        guard byte <= 1 else { throw EventDecodingError(.invalidAvro, offset: position) }
        position += 1
        return byte == 1
    }

    /// A length-prefixed string or bytes: where its content lies.
    @inline(__always)
    mutating func bytes() throws(EventDecodingError) -> Range<Int> {
        let at = position
        let length = try long()
        guard length >= 0 else { throw EventDecodingError(.invalidAvro, offset: at) }
        guard length <= Int64(end - position) else { throw EventDecodingError(.avroTruncated, offset: position) }
        let start = position
        position += Int(length)
        return start..<position
    }

    @inline(__always)
    mutating func skip(_ count: Int) throws(EventDecodingError) {
        guard count <= end - position else { throw EventDecodingError(.avroTruncated, offset: position) }
        position += count
    }
}
