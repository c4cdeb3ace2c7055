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

    /// Calls `body` with each line's 1-based number and bytes (without the newline or a trailing CR), as soon as
    /// the line is complete. Blank lines are skipped but counted.
    ///
    /// With `stopWhen` (a shutdown request, say), reading stops before the next line once it returns `true` —
    /// also while waiting for input on a pipe, which is polled every 100 ms — and the method returns `true`; a
    /// partial last line is then left unread. Without it, or at the end of the input, it returns `false`.
    /// `beforeRead` runs before each wait for more input (to hand over work done so far).
    @discardableResult
    func forEachLine(
        stopWhen stopRequested: (() -> Bool)? = nil, beforeRead: () -> Void = {},
        _ body: (Int, ArraySlice<UInt8>) throws -> Void
    ) throws -> Bool {
        let chunkSize = 1 << 16
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var lineNumber = 0

        func emit(_ line: ArraySlice<UInt8>) throws {
            lineNumber += 1
            var line = line
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) {
                try body(lineNumber, line)
            }
        }

        while true {
            beforeRead()
            if let stopRequested {
                var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                while !stopRequested() {
                    let polled = poll(&ready, 1, 100)
                    if polled > 0 || (polled < 0 && errno != EINTR) { break }  // readable, or let read() report it
                }
                if stopRequested() { return true }
            }
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, chunkSize) }
            if count < 0 {
                if errno == EINTR { continue }
                Output.error("error: reading '\(name)' failed: \(String(cString: strerror(errno)))")
                throw ExitCode(74)  // EX_IOERR
            }
            if count == 0 { break }
            pending.append(contentsOf: chunk[0..<count])
            var start = 0
            while let newline = Self.newline(in: pending, from: start) {
                if let stopRequested, stopRequested() { return true }
                try emit(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(..<start)
        }
        if !pending.isEmpty { try emit(pending[...]) }
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
                    try line.withUnsafeBytes { try reader.decode(lineNumber, bytes: $0) }
                }
            }, consume: body)
    }

    /// The index of the first `\n` at or after `start` (libc's vectorised `memchr`).
    @inline(__always)
    private static func newline(in bytes: [UInt8], from start: Int) -> Int? {
        guard start < bytes.count else { return nil }
        return bytes.withUnsafeBytes { raw in
            guard let found = memchr(raw.baseAddress! + start, 0x0A, raw.count - start) else { return nil }
            return raw.baseAddress!.distance(to: UnsafeRawPointer(found))
        }
    }
}

#if os(Linux)
/// glibc's `sched_getaffinity(2)` wrapper, which the Glibc module does not export (it needs `_GNU_SOURCE`).
@_silgen_name("sched_getaffinity")
private func schedGetAffinity(_ pid: Int32, _ size: Int, _ mask: UnsafeMutableRawPointer) -> Int32
#endif
