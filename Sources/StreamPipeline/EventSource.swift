public import StreamCore

/// Where a pipeline's events come from: a JSON Lines file or stdin (``JSONLinesSource``) or Kafka topics. A source
/// decodes its records through ``DecodeAhead`` and hands each to the pipeline, in order, with a ``SourceCursor``
/// naming the record; when a snapshot is written, it says where it stands up to a cursor as typed
/// ``SourcePosition``s, which a later run resumes from.
public protocol EventSource: AnyObject {
    /// For messages: a path, `stdin`, or topics.
    var name: String { get }

    /// The key of ``Alert``'s `offsets` for this source's records (`file:PATH`).
    var offsetKey: String { get }

    /// Decodes every record and calls `body` with its cursor, its event and its rejection, in order, on the
    /// calling thread; stops before the next record once `stopWhen` returns `true` (and returns `true`).
    func decodeRecords(
        with decoder: EventDecoder, threaded: Bool, stopWhen: (() -> Bool)?,
        _ body: (_ cursor: SourceCursor, _ event: DecodedEvent, _ rejection: EventDecodingError?) throws -> Void
    ) throws -> Bool

    /// Where the source stands once every record up to `cursor` is consumed (`nil`: nothing consumed yet).
    func positions(through cursor: SourceCursor?) -> [SourcePosition]
}

/// One record of a source: its 1-based number (a file's line, or a record count) and where it ends in its source
/// (a file's byte offset after the line, or a Kafka offset).
public struct SourceCursor: Sendable, Hashable {
    public var record: Int
    public var end: Int64

    public init(record: Int, end: Int64) {
        self.record = record
        self.end = end
    }
}

extension JSONLinesSource: EventSource {
    public var offsetKey: String { "file:\(name)" }

    public func decodeRecords(
        with decoder: EventDecoder, threaded: Bool, stopWhen: (() -> Bool)?,
        _ body: (_ cursor: SourceCursor, _ event: DecodedEvent, _ rejection: EventDecodingError?) throws -> Void
    ) throws -> Bool {
        try decodeLines(with: decoder, threaded: threaded, stopWhen: stopWhen) { line, end, event, rejection in
            try body(SourceCursor(record: line, end: end), event, rejection)
        }
    }

    public func positions(through cursor: SourceCursor?) -> [SourcePosition] {
        [position(line: cursor?.record ?? resumedLine, end: cursor?.end ?? resumedOffset)]
    }
}
