import ArgumentParser
import Foundation
import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// JSON Lines read from a file or stdin (`-`) as they arrive, so `tail -f events | streamlearn produce …` streams.
final class JSONLinesInput {
    /// The file's path, or `stdin`.
    let name: String
    private let descriptor: Int32

    /// Opens `path` (`-`: stdin). A file that cannot be opened stops the command with exit 66 (EX_NOINPUT).
    init(path: String) throws {
        if path == "-" {
            name = "stdin"
            descriptor = STDIN_FILENO
        } else {
            name = path
            descriptor = open(path, O_RDONLY)
            guard descriptor >= 0 else {
                Output.error("error: cannot read input file '\(path)': \(String(cString: strerror(errno)))")
                throw ExitCode(66)
            }
        }
    }

    deinit {
        if descriptor != STDIN_FILENO { close(descriptor) }
    }

    /// Calls `body` with each line's 1-based number and bytes (without the newline or a trailing CR; valid only
    /// during the call), as soon as the line is complete. Blank lines are skipped but counted.
    ///
    /// With `stopWhen` (a shutdown request, say), reading stops before the next line once it returns `true` —
    /// also while waiting for input on a pipe, which is polled every 100 ms — and the method returns `true`; a
    /// partial last line is then left unread. Without it, or at the end of the input, it returns `false`.
    /// `beforeRead` runs before a read that would wait for more input (to hand over work done so far).
    @discardableResult
    func forEachLine(
        stopWhen stopRequested: (() -> Bool)? = nil, beforeRead: () -> Void = {},
        _ body: (_ line: Int, _ bytes: UnsafeRawBufferPointer) throws -> Void
    ) throws -> Bool {
        // One buffer: lines are handed over where they were read (no copy, no reference counted per line), and
        // only a partial last line moves to the front before the next read. It doubles for a longer line.
        var capacity = 1 << 16
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var filled = 0
        var lineNumber = 0

        func emit(_ start: UnsafeRawPointer, _ count: Int) throws {
            lineNumber += 1
            var line = UnsafeRawBufferPointer(start: start, count: count)
            if line.last == UInt8(ascii: "\r") { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
            if let first = line.first, first != UInt8(ascii: " ") && first != UInt8(ascii: "\t")
                || line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") })
            {
                try body(lineNumber, line)
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
                Output.error("error: reading '\(name)' failed: \(String(cString: strerror(errno)))")
                throw ExitCode(74)  // EX_IOERR
            }
            if count == 0 { break }
            let end = filled + count
            var start = 0
            var searchFrom = filled  // the bytes before it hold no newline
            while searchFrom < end, let found = memchr(buffer + searchFrom, 0x0A, end - searchFrom) {
                if let stopRequested, stopRequested() { return true }
                let newline = buffer.distance(to: found)
                try emit(buffer + start, newline - start)
                start = newline + 1
                searchFrom = start
            }
            if start > 0 && start < end { memmove(buffer, buffer + start, end - start) }
            filled = end - start
        }
        if filled > 0 { try emit(buffer, filled) }
        return false
    }

    /// Whether decoding ahead can pay: more than one CPU to run on, by the process's affinity mask on Linux (so
    /// `taskset -c 0` says no; Foundation's count ignores the mask).
    static let decodesAhead: Bool = {
        #if os(Linux)
        var mask = [UInt8](repeating: 0, count: 128)  // 1,024 CPUs
        if mask.withUnsafeMutableBytes({ schedGetAffinity(0, $0.count, $0.baseAddress!) }) == 0 {
            return mask.reduce(0) { $0 + $1.nonzeroBitCount } > 1
        }
        #endif
        return ProcessInfo.processInfo.activeProcessorCount > 1
    }()

    /// Reads and decodes every line on a second thread (``DecodeAhead``) and calls `body` on this one, in line
    /// order, with each line's number, its event and its rejection, if any; lines up to `skip` are not decoded.
    /// `stopWhen` and the result are as in ``forEachLine(stopWhen:beforeRead:_:)``; an error thrown by `body`
    /// stops the reading and is rethrown. `threaded: false` decodes on this thread instead, with the same results
    /// (the default when the process may run on one CPU only).
    func decodeLines(
        with decoder: EventDecoder, threaded: Bool = JSONLinesInput.decodesAhead, skippingThrough skip: Int = 0,
        stopWhen stopRequested: (() -> Bool)? = nil,
        _ body: (_ line: Int, _ event: DecodedEvent, _ rejection: EventDecodingError?) throws -> Void
    ) throws -> Bool {
        var configuration = DecodeAhead.Configuration()
        configuration.threaded = threaded
        return try DecodeAhead.run(
            decoder: decoder, configuration: configuration,
            read: { reader in
                try forEachLine(
                    stopWhen: { stopRequested?() == true || reader.isStopped }, beforeRead: reader.flush
                ) { lineNumber, line in
                    guard lineNumber > skip else { return }
                    try reader.decode(lineNumber, bytes: line)
                }
            }, consume: body)
    }

}

#if os(Linux)
/// glibc's `sched_getaffinity(2)` wrapper, which the Glibc module does not export (it needs `_GNU_SOURCE`).
@_silgen_name("sched_getaffinity")
private func schedGetAffinity(_ pid: Int32, _ size: Int, _ mask: UnsafeMutableRawPointer) -> Int32
#endif
