public import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// JSON Lines read from a file or stdin (`-`) as they arrive, so `tail -f events | streamlearn …` streams. Each
/// line comes with its number and the byte offset just after it, so a snapshot can record exactly where reading
/// continues (``position(line:end:)``) and a later run can start there (``resume(at:)``).
public final class JSONLinesSource {
    /// The path as given, or `stdin`.
    public let name: String
    private let descriptor: Int32
    /// Whether the input is a regular file, whose positions can be resumed.
    public let isRegularFile: Bool
    /// Lines and bytes already consumed before reading starts (a resumed file).
    public private(set) var resumedLine = 0
    public private(set) var resumedOffset: Int64 = 0

    /// Opens `path` (`-`: stdin).
    public init(path: String) throws(PipelineError) {
        if path == "-" {
            name = "stdin"
            descriptor = STDIN_FILENO
        } else {
            name = path
            descriptor = open(path, O_RDONLY)
            guard descriptor >= 0 else {
                throw PipelineError(.cannotOpenInput, "cannot read input file '\(path)': \(String(cString: strerror(errno)))")
            }
        }
        var status = stat()
        let statted = fstat(descriptor, &status) == 0
        if statted && (status.st_mode & S_IFMT) == S_IFDIR {
            if descriptor != STDIN_FILENO { close(descriptor) }
            throw PipelineError(.cannotOpenInput, "cannot read input file '\(path)': it is a directory")
        }
        isRegularFile = path != "-" && statted && (status.st_mode & S_IFMT) == S_IFREG
    }

    deinit {
        if descriptor != STDIN_FILENO { close(descriptor) }
    }

    /// Where this source stands after line `line`, which ended at byte `end`: for a regular file, with the
    /// fingerprint of everything before `end` (read back from the file: call it when a snapshot is written, not
    /// per line).
    public func position(line: Int, end: Int64) -> SourcePosition {
        let fingerprint = isRegularFile ? FileFingerprint.of(descriptor: descriptor, length: end) : nil
        return .file(FilePosition(path: name, byteOffset: end, line: line, fingerprint: fingerprint))
    }

    /// Continues after `position`: checks that this file starts with the part the position covers (by its
    /// fingerprint, whatever its path is called now) and seeks past it; line numbers continue from there.
    public func resume(at position: FilePosition) throws(PipelineError) {
        guard isRegularFile else {
            throw PipelineError(
                .inputMismatch,
                "\(name) has no positions to resume from (the snapshot read '\(position.path)' up to line \(position.line)); "
                    + "use --continue to go on from the snapshot without skipping")
        }
        guard let expected = position.fingerprint else {
            throw PipelineError(
                .inputMismatch,
                "the snapshot was taken reading \(position.path), which has no positions: it cannot resume '\(name)'; "
                    + "use --continue to go on from the snapshot without skipping")
        }
        var status = stat()
        fstat(descriptor, &status)
        guard Int64(status.st_size) >= position.byteOffset else {
            throw PipelineError(
                .inputMismatch,
                "'\(name)' is \(status.st_size) bytes, shorter than the \(position.byteOffset) bytes (\(position.line) lines) "
                    + "the snapshot had consumed of '\(position.path)': another or a shortened file")
        }
        guard FileFingerprint.of(descriptor: descriptor, length: position.byteOffset) == expected else {
            throw PipelineError(
                .inputMismatch,
                "'\(name)' does not start with the \(position.byteOffset) bytes (\(position.line) lines) the snapshot had "
                    + "consumed of '\(position.path)' (their checksums differ): another file")
        }
        guard lseek(descriptor, off_t(position.byteOffset), SEEK_SET) == off_t(position.byteOffset) else {
            throw PipelineError(.readFailed, "cannot seek '\(name)' to byte \(position.byteOffset): \(String(cString: strerror(errno)))")
        }
        resumedLine = position.line
        resumedOffset = position.byteOffset
    }

    /// Calls `body` with each line's 1-based number, its bytes (without the newline or a trailing CR; valid only
    /// during the call) and the byte offset just after its newline, as soon as the line is complete. Blank lines
    /// are skipped but counted.
    ///
    /// With `stopWhen` (a shutdown request, say), reading stops before the next line once it returns `true` —
    /// also while waiting for input on a pipe, which is polled every 100 ms — and the method returns `true`; a
    /// partial last line is then left unread. Without it, or at the end of the input, it returns `false`.
    /// `beforeRead` runs before a read that would wait for more input (to hand over work done so far).
    @discardableResult
    public func forEachLine(
        stopWhen stopRequested: (() -> Bool)? = nil, beforeRead: () -> Void = {},
        _ body: (_ line: Int, _ bytes: UnsafeRawBufferPointer, _ end: Int64) throws -> Void
    ) throws -> Bool {
        // One buffer: lines are handed over where they were read (no copy, no reference counted per line), and
        // only a partial last line moves to the front before the next read. It doubles for a longer line.
        var capacity = 1 << 16
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var filled = 0
        var lineNumber = resumedLine
        // The source offset of buffer[0].
        var bufferOffset = resumedOffset

        func emit(_ start: UnsafeRawPointer, _ count: Int, end: Int64) throws {
            lineNumber += 1
            var line = UnsafeRawBufferPointer(start: start, count: count)
            if line.last == UInt8(ascii: "\r") { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
            if let first = line.first, first != UInt8(ascii: " ") && first != UInt8(ascii: "\t")
                || line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") })
            {
                try body(lineNumber, line, end)
            }
        }

        while true {
            // Work done so far is handed over only when the next read would wait: a regular file never does, so
            // its lines go on in full batches; a pipe or a terminal that has nothing yet gets it first.
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 0) <= 0 {  // nothing ready, or poll could not tell (EINTR): hand over first
                beforeRead()
                if let stopRequested {
                    while !stopRequested() {
                        let polled = poll(&ready, 1, 100)
                        if polled > 0 || (polled < 0 && errno != EINTR) { break }  // readable, or let read() report it
                    }
                }
            }
            if let stopRequested, stopRequested() { return true }
            if filled == capacity {
                let larger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
                larger.copyMemory(from: buffer, byteCount: filled)
                buffer.deallocate()
                buffer = larger
                capacity *= 2
            }
            let count = read(descriptor, buffer + filled, capacity - filled)
            if count < 0 {
                if errno == EINTR { continue }
                throw PipelineError(.readFailed, "reading '\(name)' failed: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            let end = filled + count
            var start = 0
            var searchFrom = filled  // the bytes before it hold no newline
            while searchFrom < end, let found = memchr(buffer + searchFrom, 0x0A, end - searchFrom) {
                if let stopRequested, stopRequested() { return true }
                let newline = buffer.distance(to: found)
                try emit(buffer + start, newline - start, end: bufferOffset + Int64(newline + 1))
                start = newline + 1
                searchFrom = start
            }
            if start > 0 && start < end { memmove(buffer, buffer + start, end - start) }
            bufferOffset += Int64(start)
            filled = end - start
        }
        if filled > 0 { try emit(buffer, filled, end: bufferOffset + Int64(filled)) }
        return false
    }

    /// Whether decoding ahead can pay: more than one CPU to run on, by the process's affinity mask on Linux (so
    /// `taskset -c 0` says no; Foundation's count ignores the mask).
    public static let decodesAhead: Bool = {
        #if os(Linux)
        var mask = [UInt8](repeating: 0, count: 128)  // 1,024 CPUs
        if mask.withUnsafeMutableBytes({ schedGetAffinity(0, $0.count, $0.baseAddress!) }) == 0 {
            return mask.reduce(0) { $0 + $1.nonzeroBitCount } > 1
        }
        #endif
        return sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1
    }()

    /// Reads and decodes every line on a second thread (``DecodeAhead``) and calls `body` on this one, in line
    /// order, with each line's number, the byte offset after it, its event and its rejection, if any. `stopWhen`
    /// and the result are as in ``forEachLine(stopWhen:beforeRead:_:)``; an error thrown by `body` stops the
    /// reading and is rethrown. `threaded: false` decodes on this thread instead, with the same results (the
    /// default when the process may run on one CPU only).
    public func decodeLines(
        with decoder: EventDecoder, threaded: Bool = JSONLinesSource.decodesAhead,
        stopWhen stopRequested: (() -> Bool)? = nil,
        _ body: (_ line: Int, _ end: Int64, _ event: DecodedEvent, _ rejection: EventDecodingError?) throws -> Void
    ) throws -> Bool {
        var configuration = DecodeAhead.Configuration()
        configuration.threaded = threaded
        return try DecodeAhead.run(
            decoder: decoder, configuration: configuration,
            read: { reader in
                try forEachLine(
                    stopWhen: { stopRequested?() == true || reader.isStopped }, beforeRead: reader.flush
                ) { lineNumber, line, end in
                    try reader.decode(lineNumber, bytes: line, end: end)
                }
            }, consume: body)
    }
}

#if os(Linux)
/// glibc's `sched_getaffinity(2)` wrapper, which the Glibc module does not export (it needs `_GNU_SOURCE`).
@_silgen_name("sched_getaffinity")
private func schedGetAffinity(_ pid: Int32, _ size: Int, _ mask: UnsafeMutableRawPointer) -> Int32
#endif

/// One thread owns a JSONLinesSource (it is not shared between threads).
@available(*, unavailable)
extension JSONLinesSource: Sendable {}
