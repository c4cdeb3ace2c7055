import ArgumentParser

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
    /// With `shutdown`, reading stops before the next line once a stop is requested — also while waiting for
    /// input on a pipe, which is polled every 100 ms — and the method returns `true`; a partial last line is then
    /// left unread. Without it, or at the end of the input, it returns `false`.
    @discardableResult
    func forEachLine(shutdown: ShutdownRequest? = nil, _ body: (Int, ArraySlice<UInt8>) throws -> Void) throws -> Bool {
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
            if let shutdown {
                var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                while !shutdown.isRequested {
                    let polled = poll(&ready, 1, 100)
                    if polled > 0 || (polled < 0 && errno != EINTR) { break }  // readable, or let read() report it
                }
                if shutdown.isRequested { return true }
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
                if let shutdown, shutdown.isRequested { return true }
                try emit(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(..<start)
        }
        if !pending.isEmpty { try emit(pending[...]) }
        return false
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
