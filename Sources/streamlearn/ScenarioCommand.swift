import ArgumentParser
import Foundation
import StreamPipeline
import KafkaRuntime
import StreamScenarios
import Synchronization

struct ScenarioCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario",
        abstract: "Run scenario files: a stream or an environment, jobs, and expectations checked end to end.",
        discussion: """
            Scenarios/ holds the scenarios that come with StreamLearn; Scenarios/README.md describes the format.

            Example:
              streamlearn scenario run Scenarios/fraud-drift.yaml --report fraud-drift.html
            """,
        subcommands: [ScenarioRun.self]
    )
}

struct ScenarioRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a scenario through Kafka, print its summary and each expectation; exit 1 if one fails.",
        discussion: """
            Each agent runs as a `streamlearn run` job on its own topics (on an embedded broker unless the scenario \
            names brokers), fed by the scenario's generator, bandit testbed or environment. The summary lists each \
            run, the comparison over seeds, and each expectation with what was measured and expected. Exit 0 when \
            every expectation holds, 1 when one fails, 66 for a scenario file that cannot be read, 78 for a bad one.

            Examples:
              streamlearn scenario run Scenarios/taxi-agents.yaml --seed 3
              streamlearn scenario run Scenarios/fraud-stationary.yaml --events 100000 --json
            """
    )

    @Argument(help: "The scenario file (YAML).")
    var file: String

    @Option(help: "The first seed (overrides the scenario's `seed`).")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "Run a stream scenario over this many events instead of its own count.")
    var events: Int?

    @Option(help: "Write the HTML report (charts and expectations, one self-contained file) here.")
    var report: String?

    @Option(help: "Write every run's curves (quality over events, regret over pulls, return per episode, greedy evaluation) to this file: .csv (agent,seed,series,x,value) or .json.")
    var curves: String?

    @Flag(help: "Print one JSON object instead of the summary.")
    var json = false

    @OptionGroup var progressOptions: ProgressOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let events, events < 100 { throw ValidationError("--events must be at least 100, got \(events)") }
        try CurvesOption.validate(curves)
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        let scenario: Scenario
        do {
            scenario = try Scenario.load(file: file)
        } catch {
            Output.error("error: \(error)")
            throw ExitCode(error.exitCode)
        }
        if events != nil {
            guard case .fraud = scenario.source else {
                throw ValidationError("--events applies to a stream scenario; '\(scenario.name)' is a bandit or environment")
            }
        }
        var options = ScenarioRunner.Options()
        options.seed = seed
        options.events = events
        let planned = ScenarioRunner(scenario: scenario, options: options, logger: logger).plannedWork
        let display = ProgressDisplay(
            progressOptions.progress(
                "scenario \(scenario.name)", total: planned.total, unit: planned.unit, plainEvery: .seconds(5)))
        options.progress = { display.update($0) }
        let result: ScenarioResult
        do {
            result = try await ScenarioRunner(scenario: scenario, options: options, logger: logger).run()
        } catch {
            display.finish()
            Output.error("error: \(error)")
            throw ExitCode(70)
        }
        display.finish()
        if let report {
            do {
                try ScenarioReport(result: result).write(to: report)
            } catch {
                Output.error("error: cannot write the report '\(report)': \(error)")
                throw ExitCode(73)
            }
        }
        try CurvesOption.write(curves, result.curveExport)
        if json {
            var object = result.jsonObject
            if let report { object["report"] = report }
            if let curves { object["curves"] = curves }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            Output.line(String(decoding: data, as: UTF8.self))
        } else {
            for line in result.summaryLines { Output.line(line) }
            if let report { Output.line("report    \(report)") }
            if let curves { Output.line("curves    \(curves)") }
        }
        if !result.passed { throw ExitCode(1) }
    }
}

/// The progress display, fed from the scenario's driving threads.
final class ProgressDisplay: Sendable {
    private let progress: Mutex<Progress>

    init(_ progress: sending Progress) { self.progress = Mutex(progress) }

    func update(_ report: ScenarioProgress) { progress.withLock { $0.set(report.done) } }

    func finish() { progress.withLock { $0.finish() } }
}
