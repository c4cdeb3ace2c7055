import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// Lines buffered up to 1 MiB, then written with `write(2)` (partial writes and EINTR handled).
final class LineWriter {
    struct Failure: Error {
        var reason: String
    }

    private let descriptor: Int32
    private let path: String?
    private let temporary: String?
    private var buffer: [UInt8] = []
    private static let chunk = 1 << 20

    /// `-`: stdout.
    init(path: String) throws {
        guard path != "-" else {
            descriptor = STDOUT_FILENO
            self.path = nil
            temporary = nil
            buffer.reserveCapacity(Self.chunk + 4096)
            return
        }
        let temporary = path + ".tmp-\(getpid())"
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            Output.error("error: cannot write '\(path)': \(String(cString: strerror(errno)))")
            throw ExitCode(73)
        }
        self.path = path
        self.temporary = temporary
        buffer.reserveCapacity(Self.chunk + 4096)
    }

    func append(_ line: String) throws {
        buffer.append(contentsOf: line.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= Self.chunk { try flush() }
    }

    private func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                // A closed pipe (`| head`): the reader wants no more, which is not an error to report.
                if errno == EPIPE { throw ExitCode.success }
                throw Failure(reason: String(cString: strerror(errno)))
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered; a file is synced and renamed into place.
    func close() throws {
        try flush()
        guard let path, let temporary else { return }
        guard fsync(descriptor) == 0 else { throw Failure(reason: String(cString: strerror(errno))) }
        Glibc.close(descriptor)
        guard rename(temporary, path) == 0 else { throw Failure(reason: String(cString: strerror(errno))) }
    }

    /// Removes the temporary file after a failure.
    func abandon() {
        guard let temporary else { return }
        Glibc.close(descriptor)
        unlink(temporary)
    }
}
