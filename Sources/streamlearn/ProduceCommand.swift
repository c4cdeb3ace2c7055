import StreamCore
import StreamPipeline
import ArgumentParser
import Foundation
import Logging
import StreamKafka

struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Publish JSON Lines to a Kafka topic, one message per line.",
        discussion: """
            A line that is not valid JSON (or lacks the --key-field) is reported on stderr with its line number \
            and not sent. Exit status: 0 when every line was delivered, 1 when any message was undeliverable or \
            the brokers did not answer within --timeout, 65 when some lines were invalid but all others delivered.

            Examples:
              streamlearn produce --brokers 127.0.0.1:9092 --topic events --key-field id events.jsonl
              streamlearn generate transactions --events 1000 | streamlearn produce --brokers "$B" --topic events -
            """
    )

    @Option(help: "Bootstrap servers, host:port[,host:port…].")
    var brokers: String

    @Option(help: "Topic to publish to.")
    var topic: String

    @Option(help: "Use this top-level field of each JSON object as the message key (spreads keys over partitions).")
    var keyField: String?

    @Option(parsing: .unconditional, help: "Seconds to wait for brokers and for each message's delivery.")
    var timeout: Double = 30

    @Option(name: .customLong("property"), help: "Extra librdkafka property KEY=VALUE (repeatable).")
    var properties: [String] = []

    @Argument(help: "JSON Lines file, or - for stdin.")
    var file: String = "-"

    @OptionGroup var global: GlobalOptions

    @OptionGroup var display: ProgressOptions

    @Flag(help: "Print the summary as one JSON object on stdout: delivered, invalid, undeliverable, stopped_at.")
    var json = false

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive, got \(timeout)") }
        _ = try parseProperties(properties)
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        var configuration = KafkaProducerConfiguration(bootstrapServers: brokers)
        configuration.messageTimeout = .seconds(timeout)
        configuration.properties = try parseProperties(properties)
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let shutdown = await ShutdownRequest.trap()
        let summary = try await runOnDedicatedThread { [self] in
            try produce(openInput(file), with: producer, shutdown: shutdown)
        }
        if shutdown.isRequested { Output.error("\(shutdown.signalName): stopped reading; what was read was flushed") }
        if json {
            let object: [String: Any] = [
                "topic": topic, "delivered": summary.delivered, "invalid": summary.invalid,
                "undeliverable": summary.undeliverable, "brokers_reachable": !summary.unreachable,
                "stopped_at": summary.stoppedAt.map { $0 as Any } ?? NSNull(),
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Output.line(String(decoding: data, as: UTF8.self))
        } else {
        Output.error(
            "produced \(summary.delivered) message(s) to '\(topic)'; invalid lines \(summary.invalid); "
                + "undeliverable \(summary.undeliverable)"
                + (summary.stoppedAt.map { "; stopped at line \($0), the lines after it not read" } ?? ""))
        }
        if summary.undeliverable > 0 || summary.unreachable || summary.stoppedAt != nil { throw ExitCode.failure }
        if summary.invalid > 0 { throw ExitCode(65) }
    }

    struct Summary: Sendable {
        var delivered = 0
        var invalid = 0
        var undeliverable = 0
        var unreachable = false
        /// The line at which reading stopped because the brokers stopped taking messages (it was not sent).
        var stoppedAt: Int?
    }

    /// Sends every line; a stop request ends reading, and what was sent is still flushed and confirmed.
    private func produce(_ input: JSONLinesSource, with producer: KafkaProducer, shutdown: ShutdownRequest) throws -> Summary {
        var summary = Summary()
        do {
            try producer.checkBrokersReachable(timeout: .seconds(timeout))
        } catch {
            Output.error("error: \(error.message)")
            _ = try? producer.close(timeout: .zero)
            summary.unreachable = true
            return summary
        }
        struct StopReading: Error {}
        let progress = display.progress("produce", total: nil, unit: "lines")
        defer { progress.finish() }
        do {
        try reportingPipelineErrors { try input.forEachLine(stopWhen: { shutdown.isRequested }) { lineNumber, line, _ in
            progress.advance()
            let key: String?
            do {
                key = try messageKey(Data(line))
            } catch let problem as LineProblem {
                Output.error("\(input.name):\(lineNumber): \(problem.message); not sent")
                summary.invalid += 1
                return
            }
            do {
                if let key {
                    var key = key
                    try key.withUTF8 { keyBytes in
                        try producer.send(topic: topic, key: UnsafeRawBufferPointer(keyBytes), value: line)
                    }
                } else {
                    try producer.send(topic: topic, key: nil, value: line)
                }
            } catch let error as KafkaError {
                // The brokers stopped taking messages: stop reading, account for what was sent.
                Output.error("error: \(input.name):\(lineNumber): \(error.message); stopped reading")
                summary.stoppedAt = lineNumber
                throw StopReading()
            }
            producer.poll()
        } }
        } catch is StopReading {}
        let report: KafkaDeliveryReport
        do {
            report = try producer.close(timeout: .seconds(timeout))
        } catch {
            let final = producer.deliveryReport
            for failure in final.failures.prefix(10) {
                Output.error("undeliverable to \(failure.topic): \(failure.error.message)")
            }
            summary.delivered = final.delivered
            summary.undeliverable = max(final.sent - final.delivered, 1) + (summary.stoppedAt == nil ? 0 : 1)
            return summary
        }
        summary.delivered = report.delivered
        // The line the brokers would not take was never sent.
        if summary.stoppedAt != nil { summary.undeliverable += 1 }
        return summary
    }

    struct LineProblem: Error {
        var message: String
    }

    /// Checks the line is JSON and returns the key field's value as text.
    private func messageKey(_ line: Data) throws -> String? {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: line, options: [.fragmentsAllowed])
        } catch {
            throw LineProblem(message: "not valid JSON")
        }
        guard let keyField else { return nil }
        guard let dictionary = object as? [String: Any] else {
            throw LineProblem(message: "not a JSON object, so it has no key field '\(keyField)'")
        }
        switch dictionary[keyField] {
        case let string as String:
            return string
        case let number as NSNumber:
            return number.stringValue
        case nil, is NSNull:
            throw LineProblem(message: "key field '\(keyField)' is missing or null")
        default:
            throw LineProblem(message: "key field '\(keyField)' is not a string or a number")
        }
    }
}

/// Parses repeated `KEY=VALUE` options.
func parseProperties(_ specs: [String]) throws -> [String: String] {
    var result: [String: String] = [:]
    for spec in specs {
        guard let equals = spec.firstIndex(of: "="), equals != spec.startIndex else {
            throw ValidationError("--property '\(spec)' must be KEY=VALUE")
        }
        result[String(spec[..<equals])] = String(spec[spec.index(after: equals)...])
    }
    return result
}
