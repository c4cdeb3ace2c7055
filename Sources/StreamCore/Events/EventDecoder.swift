#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Decodes JSON events strictly (RFC 8259) and fast, straight from message bytes into a reusable ``DecodedEvent``.
///
/// A single-pass byte scanner: it validates UTF-8, escapes and `\u` surrogate pairs, the number grammar, duplicate
/// keys (feature names share one namespace with the `features` object) and the configured limits, and rejects
/// anything else with an ``EventDecodingError`` naming the byte offset and field. Numbers are exact: Clinger's fast
/// path when it is exact, `strtod` (correctly rounded) otherwise.
///
/// - Complexity: O(n) in the document's bytes; no allocation once the event buffer is warm.
public final class EventDecoder {
    public let configuration: EventDecoderConfiguration
    // Role names and limits copied out of `configuration` into plain storage: reading an array or a struct with
    // sets from a class on every key would retain and release them.
    let id: NamePattern
    let label: NamePattern
    let timestamp: NamePattern?
    let features: NamePattern
    let ignored: UnsafeMutableBufferPointer<NamePattern>
    let maxDocumentBytes: Int
    let maxFields: Int
    let maxStringBytes: Int
    let maxDepth: Int
    let keys: KeyTable
    let shape = ShapeCache()

    public init(configuration: EventDecoderConfiguration = EventDecoderConfiguration()) {
        self.configuration = configuration
        id = NamePattern(configuration.idField)
        label = NamePattern(configuration.labelField)
        timestamp = configuration.timestampField.map(NamePattern.init)
        features = NamePattern(configuration.featuresField)
        let sortedIgnored = configuration.ignoredFields.sorted()
        ignored = .allocate(capacity: sortedIgnored.count)
        _ = ignored.initialize(from: sortedIgnored.map(NamePattern.init))
        maxDocumentBytes = configuration.maxDocumentBytes
        maxFields = configuration.maxFields
        maxStringBytes = configuration.maxStringBytes
        maxDepth = configuration.maxDepth
        keys = KeyTable(capacity: max(configuration.maxFields, 8) + 8)
    }

    deinit {
        for pattern in ignored { pattern.deallocate() }
        ignored.deallocate()
        id.deallocate()
        label.deallocate()
        timestamp?.deallocate()
        features.deallocate()
    }

    /// Decodes one document into `event` (its previous content is replaced).
    public func decode(
        _ bytes: UnsafeRawBufferPointer, into event: DecodedEvent
    ) throws(EventDecodingError) {
        guard bytes.count <= maxDocumentBytes else {
            event.reset()
            throw EventDecodingError(.documentTooLarge, offset: maxDocumentBytes)
        }
        if shape.keys.count > 0 {
            // The cached key names sit at the start of the event's text; write them once per event and version.
            if event.keyShape != shape.identity {
                event.writeKeyShape(shape.identity, names: shape.bytes.base, count: shape.bytes.count)
            }
            event.reset(keepingTextPrefix: shape.bytes.count)
        } else {
            event.reset()
        }
        keys.startDocument()
        shape.startDocument()
        var scanner = Scanner(bytes, maxStringBytes: maxStringBytes, maxDepth: maxDepth)
        try scanner.skipWhitespace()
        guard scanner.peek() == UInt8(ascii: "{") else {
            if scanner.atEnd { throw EventDecodingError(.unexpectedEnd, offset: scanner.position) }
            // Tell valid non-object JSON (an array, a number) from garbage.
            let start = scanner.position
            try scanner.skipValue(depth: 0, into: event)
            event.reset()
            try scanner.skipWhitespace()
            if !scanner.atEnd { throw EventDecodingError(.trailingCharacters, offset: scanner.position) }
            throw EventDecodingError(.notAnObject, offset: start)
        }
        scanner.position += 1
        var fields = 0
        try decodeMembers(&scanner, into: event, fields: &fields, topLevel: true)
        try scanner.skipWhitespace()
        guard scanner.atEnd else { throw EventDecodingError(.trailingCharacters, offset: scanner.position) }
        if shape.missed { shape.rebuild(from: scanner.base) }
    }

    /// Convenience for byte arrays.
    public func decode(_ bytes: [UInt8], into event: DecodedEvent) throws(EventDecodingError) {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(EventDecodingError) in try self.decode(buffer, into: event) }
        }
        try result.get()
    }

    enum Role: UInt8 {
        case feature, id, label, timestamp, features, ignored
    }

    @inline(__always)
    private func roleOf(_ key: UnsafeRawBufferPointer, hash: UInt64, topLevel: Bool) -> Role {
        if ignored.count > 0 {
            for pattern in ignored where pattern.matches(key, hash: hash) { return .ignored }
        }
        guard topLevel else { return .feature }
        if id.matches(key, hash: hash) { return .id }
        if label.matches(key, hash: hash) { return .label }
        if let timestamp, timestamp.matches(key, hash: hash) { return .timestamp }
        if features.matches(key, hash: hash) { return .features }
        return .feature
    }

    /// Members of an object whose `{` was consumed, up to and including its `}`.
    private func decodeMembers(
        _ scanner: inout Scanner, into event: DecodedEvent, fields: inout Int, topLevel: Bool
    ) throws(EventDecodingError) {
        try scanner.skipWhitespace()
        if scanner.peek() == UInt8(ascii: "}") {
            scanner.position += 1
            return
        }
        // Top-level keys are first matched against the previous document's keys, in order: a match skips
        // hashing, role lookup and the duplicate check (cached keys are distinct). The first mismatch, or a
        // features object, switches to the general path for the rest of the document.
        var onCache = topLevel && shape.keys.count > 0
        var cacheIndex = 0
        let cachedKeys = shape.keys.base
        let cachedCount = shape.keys.count
        while true {
            guard scanner.peek() == UInt8(ascii: "\"") else {
                throw scanner.error(scanner.atEnd ? .unexpectedEnd : .invalidJSON)
            }
            let name: TextRange
            let hash: UInt64
            let role: Role
            var colonRead = false
            // The cached key is read in place: a copy on the stack, read back field by field, cost a failed
            // store-to-load forward (about 15% of decoding) on every key.
            if onCache, cacheIndex < cachedCount, shape.matches(cachedKeys + cacheIndex, scanner: scanner) {
                let cached = cachedKeys[cacheIndex]
                colonRead = cached.matchesColon
                scanner.position += Int(cached.name.count) + (colonRead ? 3 : 2)
                name = cached.name
                hash = cached.hash
                role = cached.role
                cacheIndex += 1
                // No field count or limit check here: the cache holds the top-level keys of a document that was
                // accepted, so at most `maxFields` of them, and `fields` is `cacheIndex` on this path. It is set
                // when the document leaves the path.
                if role == .features {
                    // Nested feature names share the namespace: give the duplicate check every key so far, and
                    // take the general path (which records keys) from here on.
                    shape.leave(after: cacheIndex)
                    materialize(cacheIndex, event: event)
                    onCache = false
                    fields = cacheIndex
                }
            } else {
                if onCache {
                    shape.miss(after: cacheIndex)
                    materialize(cacheIndex, event: event)
                    onCache = false
                    fields = cacheIndex
                }
                (name, hash, role) = try decodeKey(&scanner, into: event, fields: &fields, topLevel: topLevel)
            }
            // The hot path, kept in this loop so the scanner stays in registers: a cached feature key, its `:`
            // read with it, and a short number right after.
            if colonRead && role == .feature, let value = scanner.scanShortNumber() {
                event.numericBuffer.append(NumericFeature(name: name, nameHash: hash, value: value))
            } else if colonRead && role == .label, let label = scanner.scanBinaryDigit() {
                event.label = label  // `0` or `1`; anything else takes the general path, which decides
            } else if colonRead && role == .id, let digits = scanner.scanShortInteger() {
                // A short integer id, kept as written (the general path checks the same and copies the same).
                let idStart = Int32(event.textBuffer.count)
                event.textBuffer.append(scanner.base + digits.lowerBound, count: digits.count)
                event.id = TextRange(start: idStart, end: Int32(event.textBuffer.count))
            } else {
                try decodeMemberValue(
                    &scanner, name: name, hash: hash, role: role, into: event, fields: &fields, colonRead: colonRead)
            }
            // The usual separator, `,"` with no space, without the general whitespace handling.
            if scanner.position + 1 < scanner.count, scanner.byte(scanner.position) == UInt8(ascii: ","),
                scanner.byte(scanner.position + 1) == 0x22
            {
                scanner.position += 1
                continue
            }
            try scanner.skipWhitespace()
            let next = scanner.peek()
            scanner.position += 1
            if next == UInt8(ascii: ",") {
                try scanner.skipWhitespace()
                continue
            }
            if next == UInt8(ascii: "}") {
                if onCache && cacheIndex != cachedCount { shape.miss(after: cacheIndex) }
                return
            }
            scanner.position -= 1
            throw scanner.error(scanner.atEnd ? .unexpectedEnd : .invalidJSON)
        }
    }

    /// Puts the first `count` cached keys into the duplicate check.
    private func materialize(_ count: Int, event: DecodedEvent) {
        for index in 0..<count {
            let cached = shape.keys.base[index]
            _ = keys.insert(hash: cached.hash, name: cached.name, text: event.text)
        }
    }

    /// The general path for one key: scan, hash, role, duplicate check.
    @inline(__always)
    private func decodeKey(
        _ scanner: inout Scanner, into event: DecodedEvent, fields: inout Int, topLevel: Bool
    ) throws(EventDecodingError) -> (TextRange, UInt64, Role) {
            let keyOffset = scanner.position
            scanner.position += 1
            var hadEscapes = false
            let name = try scanner.scanString(into: event, hadEscapes: &hadEscapes)
            fields += 1
            if fields > maxFields {
                throw EventDecodingError(.tooManyFields, offset: keyOffset, field: event.string(name))
            }
            let hash: UInt64
            let role: Role
            let duplicate: Bool
            if !hadEscapes {
                // The common case: the key's input bytes are its text, so read them in place (no closure, no copy).
                let bytes = UnsafeRawBufferPointer(start: scanner.base + keyOffset + 1, count: name.count)
                hash = fnv1a64(bytes)
                role = roleOf(bytes, hash: hash, topLevel: topLevel)
                duplicate = keys.insert(hash: hash, name: name, text: event.text)
            } else {
                let bytes = Array(event.bytes(name))
                hash = bytes.withUnsafeBytes { fnv1a64($0) }
                role = bytes.withUnsafeBytes { roleOf($0, hash: hash, topLevel: topLevel) }
                duplicate = keys.insert(hash: hash, name: name, text: event.text)
            }
            if duplicate { throw EventDecodingError(.duplicateKey, offset: keyOffset, field: event.string(name)) }
            if topLevel {
                shape.see(
                    start: keyOffset + 1, length: name.count, hash: hash, role: role, raw: !hadEscapes,
                    colonFollows: scanner.peek() == UInt8(ascii: ":"))
            }
            return (name, hash, role)
    }

    /// The `:` and the value of a member whose key was read.
    @inline(__always)
    private func decodeMemberValue(
        _ scanner: inout Scanner, name: TextRange, hash: UInt64, role: Role, into event: DecodedEvent,
        fields: inout Int, colonRead: Bool = false
    ) throws(EventDecodingError) {
            if !colonRead {
                try scanner.skipWhitespace()
                guard scanner.peek() == UInt8(ascii: ":") else {
                    throw scanner.error(scanner.atEnd ? .unexpectedEnd : .invalidJSON, event.string(name))
                }
                scanner.position += 1
            }
            try scanner.skipWhitespace()
            let first = scanner.peek()
            if role == .feature, first &- 48 < 10 || first == UInt8(ascii: "-") {
                // The hot path: a numeric feature, decoded without the general dispatch.
                do {
                    let value = try scanner.scanNumber()
                    event.numericBuffer.append(NumericFeature(name: name, nameHash: hash, value: value))
                } catch {
                    throw EventDecodingError(error.reason, offset: error.offset, field: event.string(name))
                }
            } else {
                try decodeValue(&scanner, role: role, name: name, hash: hash, into: event, fields: &fields)
            }
    }

    private func decodeValue(
        _ scanner: inout Scanner, role: Role, name: TextRange, hash: UInt64, into event: DecodedEvent,
        fields: inout Int
    ) throws(EventDecodingError) {
        do {
            try decodeValueOfRole(&scanner, role: role, name: name, hash: hash, into: event, fields: &fields)
        } catch {
            // Name the field for errors found inside its value.
            guard error.field == nil else { throw error }
            throw EventDecodingError(error.reason, offset: error.offset, field: event.string(name))
        }
    }

    private func decodeValueOfRole(
        _ scanner: inout Scanner, role: Role, name: TextRange, hash: UInt64, into event: DecodedEvent,
        fields: inout Int
    ) throws(EventDecodingError) {
        let start = scanner.position
        let byte = scanner.peek()
        switch role {
        case .ignored:
            let mark = event.textBuffer.count
            try scanner.skipValue(depth: 0, into: event)
            event.textBuffer.count = mark
        case .feature:
            switch byte {
            case UInt8(ascii: "\""):
                scanner.position += 1
                let value = try scanner.scanString(into: event)
                event.categoricalBuffer.append(CategoricalFeature(name: name, nameHash: hash, value: value))
            case UInt8(ascii: "t"), UInt8(ascii: "f"):
                let truth = try scanner.scanBoolean()
                event.numericBuffer.append(NumericFeature(name: name, nameHash: hash, value: truth ? 1 : 0))
            case UInt8(ascii: "n"):
                try scanner.scanNull()
                event.missingBuffer.append(MissingFeature(name: name, nameHash: hash))
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                throw EventDecodingError(.nestedValue, offset: start, field: event.string(name))
            case UInt8(ascii: "-"), 48...57:
                let value = try scanner.scanNumber()
                event.numericBuffer.append(NumericFeature(name: name, nameHash: hash, value: value))
            default:
                throw scanner.error(scanner.atEnd ? .unexpectedEnd : .invalidJSON)
            }
        case .features:
            if byte == UInt8(ascii: "n") {
                try scanner.scanNull()
                return
            }
            guard byte == UInt8(ascii: "{") else {
                if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "t")
                    || byte == UInt8(ascii: "f") || byte == UInt8(ascii: "-") || (48...57).contains(byte)
                {
                    let mark = event.textBuffer.count
                    try scanner.skipValue(depth: 0, into: event)
                    event.textBuffer.count = mark
                    throw EventDecodingError(.nestedValue, offset: start, field: event.string(name))
                }
                throw scanner.error(scanner.atEnd ? .unexpectedEnd : .invalidJSON, event.string(name))
            }
            scanner.position += 1
            try decodeMembers(&scanner, into: event, fields: &fields, topLevel: false)
        case .id:
            if byte == UInt8(ascii: "\"") {
                scanner.position += 1
                event.id = try scanner.scanString(into: event)
            } else if byte == UInt8(ascii: "-") || (48...57).contains(byte) {
                let value = try scanner.scanNumber()
                let digits = scanner.slice(from: start)
                guard value.rounded() == value, !digits.contains(where: { $0 == 0x2E || $0 == 0x65 || $0 == 0x45 })
                else {
                    throw EventDecodingError(.idType, offset: start, field: event.string(name))
                }
                let idStart = Int32(event.textBuffer.count)
                event.textBuffer.append(digits.baseAddress!, count: digits.count)
                event.id = TextRange(start: idStart, end: Int32(event.textBuffer.count))
            } else {
                try rejectValue(&scanner, .idType, at: start, name: name, event: event)
            }
        case .label:
            switch byte {
            case UInt8(ascii: "t"), UInt8(ascii: "f"):
                event.label = try scanner.scanBoolean() ? 1 : 0
            case UInt8(ascii: "n"):
                try scanner.scanNull()
            case UInt8(ascii: "-"), 48...57:
                let value = try scanner.scanNumber()
                guard value == 0 || value == 1 else {
                    throw EventDecodingError(.labelType, offset: start, field: event.string(name))
                }
                event.label = value == 1 ? 1 : 0
            default:
                try rejectValue(&scanner, .labelType, at: start, name: name, event: event)
            }
        case .timestamp:
            switch byte {
            case UInt8(ascii: "n"):
                try scanner.scanNull()
            case UInt8(ascii: "\""):
                scanner.position += 1
                let text = try scanner.scanString(into: event)
                guard let millis = parseRFC3339Milliseconds(event.bytes(text)) else {
                    throw EventDecodingError(.timestampType, offset: start, field: event.string(name))
                }
                event.timestampMilliseconds = millis
            case UInt8(ascii: "-"), 48...57:
                let value = try scanner.scanNumber()
                guard value.rounded() == value, abs(value) < 9.0e15 else {
                    throw EventDecodingError(.timestampType, offset: start, field: event.string(name))
                }
                event.timestampMilliseconds = Int64(value)
            default:
                try rejectValue(&scanner, .timestampType, at: start, name: name, event: event)
            }
        }
    }

    /// Validates the value (so invalid JSON is reported as such), then throws `reason`.
    private func rejectValue(
        _ scanner: inout Scanner, _ reason: EventDecodingError.Reason, at start: Int, name: TextRange,
        event: DecodedEvent
    ) throws(EventDecodingError) {
        let mark = event.textBuffer.count
        try scanner.skipValue(depth: 0, into: event)
        event.textBuffer.count = mark
        throw EventDecodingError(reason, offset: start, field: event.string(name))
    }
}

/// A field name to recognise, with its hash, in storage that reading never retains.
struct NamePattern {
    let hash: UInt64
    let bytes: UnsafeMutableRawBufferPointer

    init(_ name: String) {
        let utf8 = Array(name.utf8)
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(utf8.count, 1), alignment: 1)
        utf8.withUnsafeBytes { storage.copyMemory(from: $0) }
        bytes = storage
        hash = utf8.withUnsafeBytes { fnv1a64($0) }
        count = utf8.count
    }

    let count: Int

    @inline(__always)
    func matches(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Bool {
        hash == self.hash && key.count == count && (count == 0 || memcmp(key.baseAddress!, bytes.baseAddress!, count) == 0)
    }

    func deallocate() {
        bytes.deallocate()
    }
}

/// FNV-1a, 64-bit: short keys, one multiply per byte.
@inlinable
public func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }
    return hash
}

/// The last key shape numbered, across every decoder of the process.
private let shapeIdentities = Atomic<UInt64>(0)

/// A key shape's names, back to back, and where each one ends: what makes two decoders' shapes the same.
private struct ShapeSignature: Hashable {
    var names: [UInt8]
    var ends: [Int32]
}

/// Shapes numbered so far, by signature, so that decoders that cache the same shape give it the same number (as
/// the two threads of ``DecodeAhead`` do when they share a stream's lines). At most `internedShapesLimit` are kept;
/// a shape beyond them gets a number of its own each time it is cached.
private let internedShapes = Mutex<[ShapeSignature: UInt64]>([:])
private let internedShapesLimit = 4_096

/// The process-wide number of the shape `names`/`ends`; called only when a decoder rebuilds its cache.
func shapeIdentity(names: UnsafeBufferPointer<UInt8>, ends: some Sequence<Int32>) -> UInt64 {
    let signature = ShapeSignature(names: Array(names), ends: Array(ends))
    return internedShapes.withLock { shapes in
        if let identity = shapes[signature] { return identity }
        let identity = shapeIdentities.add(1, ordering: .relaxed).newValue
        if shapes.count < internedShapesLimit { shapes[signature] = identity }
        return identity
    }
}

/// The previous document's top-level keys, in order, for ``EventDecoder``'s fast path; rebuilt when a document's
/// keys differ. Its `bytes` are also the names prefix of every event decoded with it.
final class ShapeCache {
    struct Key {
        var name: TextRange
        var hash: UInt64
        var role: EventDecoder.Role
        /// For keys of up to 6 bytes: the input's next 8 bytes, `"key"` and what follows, compared under `mask`
        /// in one load. `mask` is 0 for longer keys.
        var pattern: UInt64 = 0
        var mask: UInt64 = 0
        /// The pattern includes the `:` right after the key (as in the document the cache was built from).
        var matchesColon = false
    }

    struct Seen {
        var start: Int
        var length: Int
        var hash: UInt64
        var role: EventDecoder.Role
        var raw: Bool
        var colonFollows: Bool
    }

    @exclusivity(unchecked) var keys = GrowableBuffer<Key>(capacity: 64)
    @exclusivity(unchecked) var bytes = GrowableBuffer<UInt8>(capacity: 1024)
    @exclusivity(unchecked) var seen = GrowableBuffer<Seen>(capacity: 64)
    /// This shape's number in the process, the same in every decoder that caches the same names in the same order
    /// (0 until the first rebuild; see ``DecodedEvent/keyShape``).
    @exclusivity(unchecked) private(set) var identity: UInt64 = 0
    /// This document's keys differ from the cache: rebuild from them if it decodes.
    @exclusivity(unchecked) var missed = false

    deinit {
        keys.deallocate()
        bytes.deallocate()
        seen.deallocate()
    }

    @inline(__always)
    func startDocument() {
        seen.count = 0
        missed = keys.count == 0
    }

    @inline(__always)
    func see(start: Int, length: Int, hash: UInt64, role: EventDecoder.Role, raw: Bool, colonFollows: Bool) {
        seen.append(Seen(start: start, length: length, hash: hash, role: role, raw: raw, colonFollows: colonFollows))
    }

    /// Keys on the cache path are not recorded one by one: when the document leaves that path after `count`
    /// keys, they are recorded from the cache (a negative start means "cached key −start−1").
    @inline(__always)
    func leave(after count: Int) {
        for index in 0..<count {
            let key = keys.base[index]
            seen.append(Seen(
                start: -1 - index, length: key.name.count, hash: key.hash, role: key.role, raw: true,
                colonFollows: key.matchesColon))
        }
    }

    /// The document's keys differ from the cache after `count` matching keys.
    @inline(__always)
    func miss(after count: Int) {
        missed = true
        leave(after: count)
    }

    /// Whether the input at the scanner holds cached `key`, quotes included.
    @inline(__always)
    func matches(_ key: UnsafePointer<Key>, scanner: Scanner) -> Bool {
        let mask = key.pointee.mask
        if mask != 0 && scanner.position + 8 <= scanner.count {
            let input = scanner.base.loadUnaligned(fromByteOffset: scanner.position, as: UInt64.self)
            return (input ^ key.pointee.pattern) & mask == 0
        }
        return matchesSlowly(key.pointee, scanner: scanner)
    }

    private func matchesSlowly(_ key: Key, scanner: Scanner) -> Bool {
        let name = key.name
        let length = name.count
        let start = scanner.position + 1
        guard start + length + 1 <= scanner.count, scanner.byte(start + length) == 0x22 else { return false }
        if key.matchesColon {
            // The caller skips the `:` when the cached key carries it: it must be there.
            guard start + length + 2 <= scanner.count, scanner.byte(start + length + 1) == UInt8(ascii: ":") else {
                return false
            }
        }
        let cached = UnsafeRawPointer(bytes.base + Int(name.start))
        if length <= 8 && start + 8 <= scanner.count {
            // One unaligned 8-byte load each (the cache keeps 16 spare bytes), compared under a length mask.
            let mask: UInt64 = length == 8 ? ~0 : (1 << UInt64(length * 8)) &- 1
            let input = scanner.base.loadUnaligned(fromByteOffset: start, as: UInt64.self)
            return (input ^ cached.loadUnaligned(as: UInt64.self)) & mask == 0
        }
        return length == 0 || memcmp(scanner.base + start, cached, length) == 0
    }

    /// Replaces the cache with the keys of the document just decoded (if none was escaped).
    func rebuild(from document: UnsafeRawPointer) {
        var newKeys = GrowableBuffer<Key>(capacity: max(seen.count, 16))
        var newBytes = GrowableBuffer<UInt8>(capacity: 256)
        for index in 0..<seen.count {
            let key = seen.base[index]
            guard key.raw else {
                newKeys.count = 0
                break
            }
            let source = key.start >= 0
                ? document + key.start : UnsafeRawPointer(bytes.base + Int(keys.base[-1 - key.start].name.start))
            let start = Int32(newBytes.count)
            newBytes.append(source, count: key.length)
            var cached = Key(name: TextRange(start: start, end: Int32(newBytes.count)), hash: key.hash, role: key.role)
            if key.length <= 6 {
                // Little endian: byte i of the input is bits 8i…8i+7. With room, and when the building document
                // had it there, the `:` joins the pattern.
                var pattern: UInt64 = 0x22
                for offset in 0..<key.length {
                    pattern |= UInt64(source.load(fromByteOffset: offset, as: UInt8.self)) << UInt64(8 * (offset + 1))
                }
                pattern |= 0x22 << UInt64(8 * (key.length + 1))
                var width = key.length + 2
                if key.length <= 5 && key.colonFollows {
                    pattern |= UInt64(UInt8(ascii: ":")) << UInt64(8 * width)
                    width += 1
                    cached.matchesColon = true
                }
                cached.pattern = pattern
                cached.mask = width == 8 ? ~0 : (1 << UInt64(8 * width)) &- 1
            }
            newKeys.append(cached)
        }
        // Spare bytes so `matches` may load 8 bytes past any cached key.
        if newBytes.capacity < newBytes.count + 16 { newBytes.grow(to: newBytes.count + 16) }
        keys.deallocate()
        bytes.deallocate()
        keys = newKeys
        bytes = newBytes
        // A cache left empty (an escaped key) is never used: it needs no shared number.
        identity =
            keys.count > 0
            ? shapeIdentity(names: bytes.view, ends: keys.view.lazy.map(\.name.end))
            : shapeIdentities.add(1, ordering: .relaxed).newValue
    }
}

/// The keys seen in the current document, for duplicate detection: a linear scan over their 64-bit hashes.
/// Events have tens of fields, where a scan of one contiguous array beats hashing into a table; the field limit
/// bounds the worst case (256 fields: about 33,000 comparisons).
final class KeyTable {
    let hashes: UnsafeMutablePointer<UInt64>
    let names: UnsafeMutablePointer<TextRange>
    let capacity: Int
    @exclusivity(unchecked) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        hashes = .allocate(capacity: capacity)
        names = .allocate(capacity: capacity)
    }

    deinit {
        hashes.deallocate()
        names.deallocate()
    }

    @inline(__always)
    func startDocument() {
        count = 0
    }

    /// Inserts a key; returns `true` if the same key was already in this document.
    @inline(__always)
    func insert(hash: UInt64, name: TextRange, text: UnsafeBufferPointer<UInt8>) -> Bool {
        for index in 0..<count where hashes[index] == hash {
            // Equal hashes almost always mean equal keys; compare the bytes to be sure.
            let other = names[index]
            if other.count == name.count,
                name.count == 0
                    || memcmp(text.baseAddress! + Int(other.start), text.baseAddress! + Int(name.start), name.count) == 0
            {
                return true
            }
        }
        guard count < capacity else { return false }  // unreachable: the field limit is checked first
        hashes[count] = hash
        names[count] = name
        count += 1
        return false
    }
}

/// An ``EventDecoder`` reuses internal buffers and caches: one per thread.
@available(*, unavailable)
extension EventDecoder: Sendable {}
