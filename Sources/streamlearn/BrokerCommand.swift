import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import StreamKafka
import UnixSignals

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run an embedded Kafka cluster (librdkafka's mock cluster) on loopback until SIGINT or SIGTERM.",
        discussion: """
            The first line on stdout is exactly `bootstrap=` followed by the comma-separated bootstrap list; any \
            Kafka client can use it (for example `kcat -b 127.0.0.1:PORT -L`).

            The mock keeps about 5 MiB (or 100,000 batches) per partition and silently drops older data: give \
            topics enough partitions and consume while producing.

            Example:
              streamlearn broker --broker-count 3 --topic events:16 --topic scores:16 --bootstrap-file /tmp/bootstrap
            """
    )

    @Option(name: .customLong("broker-count"), parsing: .unconditional, help: "Number of brokers in the cluster (--brokers is a bootstrap list everywhere else).")
    var brokerCount: Int = 1

    @Option(name: .customLong("topic"), help: "A topic to create, as NAME:PARTITIONS (repeatable).")
    var topics: [String] = []

    @Option(help: "Also write the bootstrap list to this file (written atomically).")
    var bootstrapFile: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard brokerCount >= 1 else { throw ValidationError("--broker-count must be at least 1, got \(brokerCount)") }
        _ = try parsedTopics()
    }

    func parsedTopics() throws -> [(name: String, partitions: Int)] {
        try topics.map { spec in
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, let partitions = Int(parts[1]), partitions >= 1 else {
                throw ValidationError("--topic '\(spec)' must be NAME:PARTITIONS with PARTITIONS at least 1")
            }
            return (String(parts[0]), partitions)
        }
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        let broker = try EmbeddedBroker(brokers: brokerCount, topics: try parsedTopics(), logger: logger)
        // The file first: a script that saw the first line may read it at once.
        if let bootstrapFile {
            let url = URL(fileURLWithPath: bootstrapFile)
            do {
                try Data((broker.bootstrapServers + "\n").utf8).write(to: url, options: .atomic)
            } catch {
                broker.close()
                throw ValidationError("cannot write --bootstrap-file '\(bootstrapFile)': \(error.localizedDescription)")
            }
        }
        Output.line("bootstrap=\(broker.bootstrapServers)")
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: EmbeddedBrokerService(broker: broker))],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        Output.error("broker stopped")
    }
}

/// Keeps the embedded broker up until graceful shutdown, then closes it.
struct EmbeddedBrokerService: Service {
    let broker: EmbeddedBroker

    func run() async throws {
        try? await gracefulShutdown()
        broker.close()
    }
}
