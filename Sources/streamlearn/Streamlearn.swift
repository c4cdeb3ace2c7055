import ArgumentParser
import Foundation
import Logging
import Synchronization

@main
struct Streamlearn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streamlearn",
        abstract: "Learn from Kafka event streams while they flow.",
        discussion: """
            Examples:
              streamlearn broker --topic events:16 --bootstrap-file /tmp/bootstrap
              streamlearn generate transactions --events 10000 --seed 7 > events.jsonl
              streamlearn produce --brokers "$(cat /tmp/bootstrap)" --topic events --key-field id events.jsonl
              streamlearn consume --brokers "$(cat /tmp/bootstrap)" --topic events --group demo --from-beginning
            """,
        version: "0.1.0",
        subcommands: [RunCommand.self, BrokerCommand.self, ProduceCommand.self, ConsumeCommand.self, DecodeCommand.self, LearnCommand.self,
                      DriftCommand.self, SnapshotCommand.self, SimulateCommand.self, EvaluateCommand.self, GenerateCommand.self,
                      ScenarioCommand.self]
    )

    /// Runs the command; every error, the parser's included, is printed the same way: `error: ` and the message
    /// naming the option, field or key (usage errors exit 64 with the usage line).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            var message = fullMessage(for: error)
            if message.hasPrefix("Error: ") { message = "error: " + message.dropFirst("Error: ".count) }
            if !message.isEmpty {
                if code == .success { print(message) } else { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            }
            Foundation.exit(code.rawValue)
        }
    }
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Log level for StreamLearn and librdkafka lines on stderr: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "warning"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--log-level '\(logLevel)' is not one of \(levels)")
        }
    }

    /// Sends log lines to stderr at the chosen level, once per process.
    func bootstrapLogging() -> Logger {
        LoggingBootstrap.once(level: Logger.Level(rawValue: logLevel) ?? .warning)
        return Logger(label: "streamlearn")
    }
}

enum LoggingBootstrap {
    private static let done = Mutex(false)

    static func once(level: Logger.Level) {
        done.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

