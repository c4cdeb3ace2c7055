public import StreamCore

/// Lines held in memory as a source: for tests and for embedding a pipeline without I/O (as swift-nio's
/// `EmbeddedChannel`). Record numbers count from 1; a record's `end` is the byte offset after its line, as if the
/// lines were a file joined by newlines.
public final class InMemorySource: EventSource {
    public let name: String
    public let lines: [String]

    public init(name: String = "memory", lines: [String]) {
        self.name = name
        self.lines = lines
    }

    public var offsetKey: String { "memory:\(name)" }

    public func decodeRecords(
        with decoder: EventDecoder, threaded: Bool, stopWhen: (() -> Bool)?,
        _ body: (_ cursor: SourceCursor, _ event: DecodedEvent, _ rejection: EventDecodingError?) throws -> Void
    ) throws -> Bool {
        var configuration = DecodeAhead.Configuration()
        configuration.threaded = threaded
        return try DecodeAhead.run(
            decoder: decoder, configuration: configuration,
            read: { reader in
                var end: Int64 = 0
                for (index, line) in lines.enumerated() {
                    if stopWhen?() == true || reader.isStopped { return true }
                    end += Int64(line.utf8.count + 1)
                    var line = line
                    try line.withUTF8 { try reader.decode(index + 1, bytes: UnsafeRawBufferPointer($0), end: end) }
                }
                return false
            },
            consume: { line, end, event, rejection in try body(SourceCursor(record: line, end: end), event, rejection) })
    }

    public func positions(through cursor: SourceCursor?) -> [SourcePosition] {
        [.file(FilePosition(path: name, byteOffset: cursor?.end ?? 0, line: cursor?.record ?? 0))]
    }
}

/// One thread owns a InMemorySource (it is not shared between threads).
@available(*, unavailable)
extension InMemorySource: Sendable {}
