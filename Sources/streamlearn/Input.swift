import ArgumentParser
import Foundation

/// JSON Lines input from a file or stdin (`-`).
struct JSONLinesInput {
    let name: String
    let bytes: [UInt8]

    /// Reads all of `path` (`-`: stdin). A file that cannot be read stops the command with exit 66 (EX_NOINPUT).
    init(path: String) throws {
        if path == "-" {
            name = "stdin"
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else {
            name = path
            guard let data = FileManager.default.contents(atPath: path) else {
                Output.error("error: cannot read input file '\(path)'")
                throw ExitCode(66)
            }
            bytes = Array(data)
        }
    }

    /// Calls `body` with each line's 1-based number and bytes (without the newline or a trailing CR).
    /// Blank lines are skipped.
    func forEachLine(_ body: (Int, ArraySlice<UInt8>) throws -> Void) rethrows {
        var lineNumber = 0
        var start = bytes.startIndex
        while start < bytes.endIndex {
            lineNumber += 1
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            var line = bytes[start..<end]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) {
                try body(lineNumber, line)
            }
            start = end + 1
        }
    }
}
