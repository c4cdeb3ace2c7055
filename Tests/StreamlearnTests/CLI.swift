import Foundation
import Synchronization
import Testing

/// Runs the `streamlearn` executable that `swift test` built next to the test bundle.
enum CLI {
    static let ignoreBrokenPipe: Void = { signal(SIGPIPE, SIG_IGN) }()

    static let executable: URL = {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // The test binary may sit inside a bundle folder (…/debug/X.xctest/…): walk up to the build folder.
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("streamlearn")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        fatalError("streamlearn executable not found near \(testBinary.path)")
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs to completion (killed after `timeout`, which then fails the test).
    /// Runs `streamlearn` (or `program`) with `arguments` to its end.
    static func run(
        _ arguments: [String], stdin: String? = nil, timeout: Duration = .seconds(120), program: URL? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = program ?? executable
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        // A command may exit before reading its input (a refused option or snapshot): writing to its closed pipe
        // must be an error here, not a SIGPIPE that kills the test process.
        _ = ignoreBrokenPipe
        try process.run()
        if let stdin { try? input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read both pipes while the process runs, so that a full pipe cannot block it.
        let stdoutData = Reader(out.fileHandleForReading)
        let stderrData = Reader(err.fileHandleForReading)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                Issue.record("streamlearn \(arguments.joined(separator: " ")) did not finish within \(timeout)")
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: stdoutData.text(), stderr: stderrData.text())
    }

    /// Reads a pipe to its end on a background thread.
    final class Reader: Sendable {
        private let data = Mutex(Data())
        private let done = DispatchSemaphore(value: 0)

        init(_ handle: FileHandle) {
            Thread.detachNewThread { [self] in
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    data.withLock { $0.append(chunk) }
                }
                done.signal()
            }
        }

        /// Everything, once the stream ended.
        func text() -> String {
            done.wait()
            done.signal()
            return partial
        }

        /// What arrived so far.
        var partial: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
    }
}

/// A `streamlearn broker` subprocess, stopped with SIGTERM.
final class BrokerProcess {
    let process = Process()
    let bootstrap: String
    let firstLine: String
    private let stdout = Pipe()

    init(_ arguments: [String] = []) throws {
        process.executableURL = CLI.executable
        process.arguments = ["broker"] + arguments
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line on stdout is exactly "bootstrap=<list>".
        var line = Data()
        let handle = stdout.fileHandleForReading
        while true {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        firstLine = String(decoding: line, as: UTF8.self)
        bootstrap = String(firstLine.dropFirst("bootstrap=".count))
    }

    /// Sends SIGTERM and returns the exit status.
    func stop() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
