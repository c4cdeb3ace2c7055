#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Unbuffered writes to stdout and stderr, so a process reading our output line by line sees each line at once.
/// Callers that print many lines build one buffer and write it in one call.
enum Output {
    /// Writes `text` and a newline to stdout.
    static func line(_ text: String) {
        write(text + "\n", to: STDOUT_FILENO)
    }

    /// Writes raw bytes to stdout.
    static func write(_ bytes: UnsafeRawBufferPointer) {
        writeAll(bytes, to: STDOUT_FILENO)
    }

    /// Writes `text` and a newline to stderr.
    static func error(_ text: String) {
        write(text + "\n", to: STDERR_FILENO)
    }

    private static func write(_ text: String, to descriptor: Int32) {
        var text = text
        text.withUTF8 { writeAll(UnsafeRawBufferPointer($0), to: descriptor) }
    }

    private static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) {
        guard var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            #if canImport(Glibc)
            let written = Glibc.write(descriptor, base, remaining)
            #else
            let written = Darwin.write(descriptor, base, remaining)
            #endif
            if written < 0 {
                if errno == EINTR { continue }
                return  // a closed pipe: nothing more to say
            }
            base += written
            remaining -= written
        }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
