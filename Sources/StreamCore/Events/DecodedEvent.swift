/// A span of ``DecodedEvent/text``: the bytes of a name or a string value, unescaped.
public struct TextRange: Hashable, Sendable {
    public var start: Int32
    public var end: Int32

    @inlinable
    public var count: Int { Int(end - start) }
}

/// A numeric feature: a number, or a boolean as 0/1.
public struct NumericFeature: Hashable, Sendable {
    public var name: TextRange
    /// FNV-1a 64 of the name's bytes, computed while decoding; lookups use it instead of hashing again.
    public var nameHash: UInt64
    public var value: Double
}

/// A categorical feature: a string value.
public struct CategoricalFeature: Hashable, Sendable {
    public var name: TextRange
    public var nameHash: UInt64
    public var value: TextRange
}

/// A feature given as `null`: missing, not zero.
public struct MissingFeature: Hashable, Sendable {
    public var name: TextRange
    public var nameHash: UInt64
}

/// One decoded event, as a reusable buffer: ``EventDecoder`` decodes into the same instance again and again, and
/// once its storage has grown to the largest event seen, decoding allocates nothing.
///
/// The views (``text``, ``numeric``, ``categorical``, ``missing``) are valid until the next decode into this
/// instance. One thread uses an instance at a time.
public final class DecodedEvent {
    @exclusivity(unchecked) var textBuffer = GrowableBuffer<UInt8>(capacity: 1024)
    @exclusivity(unchecked) var numericBuffer = GrowableBuffer<NumericFeature>(capacity: 64)
    @exclusivity(unchecked) var categoricalBuffer = GrowableBuffer<CategoricalFeature>(capacity: 16)
    @exclusivity(unchecked) var missingBuffer = GrowableBuffer<MissingFeature>(capacity: 8)

    /// The id as written (a string's content or an integer's digits), if present.
    public internal(set) var id: TextRange? {
        get { storedID }
        set { storedID = newValue }
    }
    /// 1 or 0, or `nil` for an unlabelled event.
    public internal(set) var label: Int8? {
        get { storedLabel }
        set { storedLabel = newValue }
    }
    /// Milliseconds since the Unix epoch, if the event has a timestamp.
    public internal(set) var timestampMilliseconds: Int64? {
        get { storedTimestamp }
        set { storedTimestamp = newValue }
    }
    // Stored out of sight: `@exclusivity(unchecked)` holds where a property is declared, but another module reading
    // a public stored property directly checks each access; through these accessors it does not.
    @exclusivity(unchecked) var storedID: TextRange?
    @exclusivity(unchecked) var storedLabel: Int8?
    @exclusivity(unchecked) var storedTimestamp: Int64?

    public init() {}

    deinit {
        textBuffer.deallocate()
        numericBuffer.deallocate()
        categoricalBuffer.deallocate()
        missingBuffer.deallocate()
    }

    /// Every name and string value, unescaped, back to back; ranges point into it.
    public var text: UnsafeBufferPointer<UInt8> { textBuffer.view }
    /// Numbers and booleans, in document order.
    public var numeric: UnsafeBufferPointer<NumericFeature> { numericBuffer.view }
    /// Strings, in document order.
    public var categorical: UnsafeBufferPointer<CategoricalFeature> { categoricalBuffer.view }
    /// Features given as `null`.
    public var missing: UnsafeBufferPointer<MissingFeature> { missingBuffer.view }

    /// The key shape whose names ``text`` starts with (0: none). A decoder that sees documents with the same keys
    /// in the same order writes their names once, at the start of the text, and decodes the keys by position.
    /// Shapes are numbered across the process (the same names in the same order get the same number in every
    /// decoder), so two events with the same nonzero `keyShape` have the same names at the same ranges below
    /// ``keyShapeLength``: a name range there identifies its name without reading it.
    @exclusivity(unchecked) public private(set) var keyShape: UInt64 = 0
    /// How many bytes at the start of ``text`` hold the names of ``keyShape``.
    @exclusivity(unchecked) public private(set) var keyShapeLength = 0

    @inline(__always)
    func reset() {
        keyShape = 0  // the names prefix is about to be overwritten
        keyShapeLength = 0
        reset(keepingTextPrefix: 0)
    }

    /// Starts the text with the names of shape `shape`.
    @inline(__always)
    func writeKeyShape(_ shape: UInt64, names: UnsafeRawPointer, count: Int) {
        reset()
        textBuffer.append(names, count: count)
        keyShape = shape
        keyShapeLength = count
    }

    /// Clears everything but the first `prefix` bytes of text (the cached key names).
    @inline(__always)
    func reset(keepingTextPrefix prefix: Int) {
        textBuffer.count = prefix
        numericBuffer.count = 0
        categoricalBuffer.count = 0
        missingBuffer.count = 0
        id = nil
        label = nil
        timestampMilliseconds = nil
    }

    /// The bytes of `range`, valid until the next decode.
    @inlinable
    public func bytes(_ range: TextRange) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(text)[Int(range.start)..<Int(range.end)])
    }

    /// The text of `range` as a `String` (allocates; for output and tests, not hot paths).
    public func string(_ range: TextRange) -> String {
        String(decoding: bytes(range), as: UTF8.self)
    }

    /// The id as a `String`, if present.
    public var idString: String? { id.map(string) }
}

@available(*, unavailable, message: "a DecodedEvent is a reusable buffer owned by one thread")
extension DecodedEvent: Sendable {}

/// A manually managed array: appends check capacity only, never uniqueness. Owned by one class instance.
struct GrowableBuffer<Element> {
    var base: UnsafeMutablePointer<Element>
    var count = 0
    var capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    var view: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: base, count: count) }

    @inline(__always)
    mutating func append(_ element: Element) {
        if count == capacity { grow(to: count + 1) }
        (base + count).initialize(to: element)
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawPointer, count extra: Int) where Element == UInt8 {
        if count + extra > capacity { grow(to: count + extra) }
        if extra <= 16 {
            // Names and short values: a byte loop beats a call to memmove.
            for index in 0..<extra { (base + count + index).initialize(to: bytes.load(fromByteOffset: index, as: UInt8.self)) }
        } else {
            UnsafeMutableRawPointer(base + count).copyMemory(from: bytes, byteCount: extra)
        }
        count += extra
    }

    mutating func grow(to needed: Int) {
        var newCapacity = Swift.max(capacity * 2, 16)
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        newBase.moveInitialize(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// Elements are trivial (bytes and plain structs): nothing to deinitialize.
    func deallocate() {
        base.deallocate()
    }
}
