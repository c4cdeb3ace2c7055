import ArgumentParser
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Benchmarks of StreamLearn's library paths: the Kafka transport, the event decoder and the learners. Release
/// builds only give real figures (`make bench-kafka`, `make bench-decode`, `make bench-learn`).
@main
struct StreamLearnBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streamlearn-bench",
        abstract: "Measure StreamLearn's library paths (build with -c release for real figures).",
        discussion: """
            Examples:
              make bench-learn
              streamlearn-bench decode --events 200000 --json
            """,
        subcommands: [
            BenchKafka.self, BenchDecode.self, BenchLearn.self, BenchRun.self, BenchScore.self, BenchLoop.self,
            BenchLoopClient.self, BenchFeatures.self,
        ]
    )
}

/// Options every benchmark takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Log level for librdkafka lines on stderr: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "warning"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level '\(logLevel)' is not a log level")
        }
    }

    func bootstrapLogging() -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        Self.once.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
        return Logger(label: "streamlearn-bench")
    }

    private static let once = Mutex(false)
}

/// Lines to stdout and stderr, written at once.
enum Output {
    static func line(_ text: String) { write(text + "\n", to: STDOUT_FILENO) }
    static func error(_ text: String) { write(text + "\n", to: STDERR_FILENO) }

    /// A benchmark's figures: one JSON object, or a `name value` line each, sorted by name.
    static func figures(_ result: [String: Double], json: Bool) throws {
        if json {
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            line(String(decoding: data, as: UTF8.self))
        } else {
            for key in result.keys.sorted() { line("\(key.padding(toLength: 34, withPad: " ", startingAt: 0)) \(result[key]!)") }
        }
    }

    private static func write(_ text: String, to descriptor: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
