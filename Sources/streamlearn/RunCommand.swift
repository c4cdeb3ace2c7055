import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import StreamKafka
import StreamPipeline
import KafkaRuntime
import StreamOps
import StreamJobs
import UnixSignals

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a job on Kafka topics: score or decide, learn from every outcome, watch drift, until stopped.",
        discussion: """
            CONFIG is a YAML file (examples/fraud-scoring.yaml, examples/bandit.yaml, examples/reinforcement.yaml; \
            every key in docs/configuration.md). The job reads every partition of its input topics from the offsets \
            in its newest snapshot, so a restart (even after SIGKILL) resumes exactly; with output.mode \
            exactly-once, a read_committed consumer sees each answer once.

            SIGTERM or SIGINT stops gracefully: the open transaction commits, a snapshot is written, exit 0. A \
            status line goes to stderr every few seconds; the summary goes to stdout at the end.

            Example:
              streamlearn run examples/fraud-scoring.yaml --brokers "$(cat /tmp/bootstrap)"
            """
    )

    @Argument(help: "The job's configuration file (YAML).")
    var config: String

    @Option(help: "Bootstrap servers; overrides kafka.brokers ('embedded' starts a broker in this process).")
    var brokers: String?

    @Option(parsing: .unconditional, help: "Stop gracefully (commit, snapshot) once no input arrived for this many seconds.")
    var exitWhenIdle: Double?

    @Option(help: "Serve the ops endpoint (/metrics, /healthz, /readyz, /model, POST /score) on HOST:PORT ('off': none); overrides ops.address.")
    var opsAddress: String?

    @Option(parsing: .unconditional, help: "Seconds between status lines on stderr.")
    var statusInterval: Double = 5

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let exitWhenIdle, !(exitWhenIdle > 0) {
            throw ValidationError("--exit-when-idle must be positive, got \(exitWhenIdle)")
        }
        if let opsAddress, opsAddress != "off", OpsAddress(opsAddress) == nil {
            throw ValidationError("--ops-address must be HOST:PORT or 'off', got '\(opsAddress)'")
        }
        guard statusInterval > 0 else { throw ValidationError("--status-interval must be positive, got \(statusInterval)") }
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        var configuration: RuntimeConfiguration
        do {
            configuration = try RuntimeConfiguration.load(file: config)
        } catch {
            Output.error("error: \(error)")
            throw ExitCode(error.exitCode)  // EX_NOINPUT or EX_CONFIG
        }
        if let opsAddress { configuration.ops.address = opsAddress == "off" ? nil : opsAddress }
        var embedded: EmbeddedBroker?
        var bootstrap = brokers ?? configuration.kafka.brokers
        if bootstrap == "embedded" {
            let topics = [
                configuration.topics.events, configuration.topics.feedback, configuration.topics.outputs,
                configuration.topics.alerts, configuration.topics.deadLetter, configuration.topics.policy,
            ].compactMap { $0 }
            let broker = try EmbeddedBroker(
                topics: topics.map { ($0, 1) }, logger: logger)
            embedded = broker
            bootstrap = broker.bootstrapServers
            Output.error("embedded broker: bootstrap=\(bootstrap)")
        }
        defer { embedded?.close() }
        var options = StreamRuntime.Options()
        options.exitWhenIdle = exitWhenIdle.map { .milliseconds(Int64($0 * 1000)) }
        options.statusInterval = .milliseconds(Int64(statusInterval * 1000))
        options.status = { Output.error($0) }
        let runtime = StreamRuntime(configuration: configuration, brokers: bootstrap, options: options, logger: logger)
        let service = RuntimeService(runtime: runtime)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            // Either way the endpoint closes its connections gracefully before the process exits.
            .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        ]
        if let address = configuration.ops.address.flatMap(OpsAddress.init) {
            let endpoint = OpsEndpoint(address: address, runtime: runtime, logger: logger) { bound in
                runtime.setGeneratorURL(URL(string: "http://\(bound)/model")!)
                Output.error("ops endpoint: http://\(bound)")
            }
            services.append(.init(service: endpoint.service()))
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        // The group stops gracefully on the first signal; a second one exits at once (128 + signal).
        _ = await ShutdownRequest.trap()
        do {
            try await group.run()
        } catch {
            let message = (error as? ServiceGroupError).map { "\($0)" } ?? "\(error)"
            Output.error("error: \(Self.underlying(error) ?? message)")
            throw ExitCode(Self.exitCode(error))
        }
        guard let summary = service.summary else { throw ExitCode(70) }
        print(summary: summary, configuration: configuration)
    }

    static func underlying(_ error: any Error) -> String? {
        (error as? RuntimeError).map(\.message)
    }

    static func exitCode(_ error: any Error) -> Int32 {
        guard let error = error as? RuntimeError else { return 70 }
        switch error.code {
        case .configuration: return 78
        case .snapshot: return 73  // EX_CANTCREAT
        case .noUsableSnapshot: return 66  // EX_NOINPUT
        case .internal: return 70
        case .kafka, .schemaRegistry: return 69  // EX_UNAVAILABLE
        case .lostOffsets: return 65  // EX_DATAERR
        case .ops: return 78
        }
    }

    func print(summary: StreamRuntime.Summary, configuration: RuntimeConfiguration) {
        if json {
            var object: [String: Any] = [
                "job": configuration.kind.rawValue, "name": configuration.name, "messages": summary.messages,
                "answered": summary.answered, "relearned": summary.relearned, "dead_letters": summary.deadLetters,
                "transactions": summary.transactions, "snapshots": summary.snapshots, "alerts": summary.alerts,
                "waiting": summary.waiting, "restored_from": summary.restoredFrom ?? NSNull(),
                "busy_seconds": Double(summary.busy.components.seconds) + Double(summary.busy.components.attoseconds) * 1e-18,
            ]
            for (name, value) in summary.counters { object[name] = value }
            if configuration.kafka.assignment == .group { object["tasks"] = summary.tasks }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            Output.line(String(decoding: data, as: UTF8.self))
            return
        }
        let dead = summary.deadLetters.values.reduce(0, +)
        Output.line("job       \(configuration.kind.rawValue) '\(configuration.name)' (\(configuration.output.mode.rawValue))")
        Output.line("messages  \(summary.messages) read, \(summary.answered) answered, \(summary.relearned) re-learned after restart")
        Output.line("counts    " + summary.counters.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + ", waiting \(summary.waiting)")
        let kinds = summary.deadLetters.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        Output.line("dead      \(dead)\(kinds.isEmpty ? "" : " (\(kinds))")")
        Output.line("alerts    \(summary.alerts)")
        if configuration.kafka.assignment == .group {
            Output.line("tasks     partitions \(summary.tasks.map(String.init).joined(separator: ", ")) held at some point (group '\(configuration.kafka.group)')")
        }
        Output.line("commits   \(summary.transactions) transactions, \(summary.snapshots) snapshots in \(configuration.snapshots.directory)")
    }
}
