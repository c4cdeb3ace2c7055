import ArgumentParser
import Foundation
import Simulation

struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write generated event streams as JSON Lines.",
        subcommands: [GenerateTransactions.self]
    )
}

struct GenerateTransactions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transactions",
        abstract: "Card transactions: an integer id and 20 numeric fields, about 180 bytes a line.",
        discussion: """
            The same seed gives byte-identical output.

            Example:
              streamlearn generate transactions --events 10000 --seed 7 events.jsonl
            """
    )

    @Option(help: "How many events.")
    var events: Int = 10_000

    @Option(help: "Seed of the generator.")
    var seed: UInt64 = 1

    @Argument(help: "Output file, or - for stdout.")
    var file: String = "-"

    func validate() throws {
        guard events >= 0 else { throw ValidationError("--events must not be negative, got \(events)") }
    }

    func run() async throws {
        var generator = TransactionGenerator(seed: seed)
        var text = ""
        text.reserveCapacity(events * 200)
        for _ in 0..<events {
            text += generator.next().json
            text += "\n"
        }
        if file == "-" {
            FileHandle.standardOutput.write(Data(text.utf8))
        } else {
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
            } catch {
                Output.error("error: cannot write '\(file)': \(error.localizedDescription)")
                throw ExitCode(73)  // EX_CANTCREAT
            }
        }
    }
}
