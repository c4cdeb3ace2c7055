import StreamCore
import StreamPipeline
import ArgumentParser
import Foundation
import Logging
import StreamKafka
import KafkaRuntime

struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Publish JSON Lines to a Kafka topic, one message per line (as JSON, or as Avro through a schema registry).",
        discussion: """
            With --format avro each line is written in Avro's binary encoding under --schema, which is first \
            registered with the schema registry under --subject (TOPIC-value by default); each message is the \
            Confluent wire format (magic byte 0, the schema id, the payload). With --format json-schema the line \
            is sent as it is after the same header, under a JSON Schema. \
            A line that is not valid JSON (or lacks the --key-field, or does not fit the schema) is reported on \
            stderr with its line number and not sent. Exit status: 0 when every line was delivered, 1 when any message was undeliverable or \
            the brokers did not answer within --timeout, 65 when some lines were invalid but all others delivered.

            Examples:
              streamlearn produce --brokers 127.0.0.1:9092 --topic events --key-field id events.jsonl
              streamlearn generate transactions --events 1000 | streamlearn produce --brokers "$B" --topic events -
              streamlearn produce --brokers "$B" --topic tx --format avro --schema tx.avsc \\
                --schema-registry http://127.0.0.1:8081 tx.jsonl
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

    @Option(help: "How messages are written: json (each line as it is), avro or json-schema (Confluent wire format).")
    var format: EventFormat = .json

    @Option(help: "The schema file (Avro schema JSON, or a JSON Schema) for --format avro or json-schema.")
    var schema: String?

    @Option(help: "The schema registry's URL, where --schema is registered.")
    var schemaRegistry: String?

    @Option(help: "The subject to register the schema under (default: TOPIC-value).")
    var subject: String?

    @OptionGroup var registry: RegistryAuthOptions

    @OptionGroup var global: GlobalOptions

    @OptionGroup var display: ProgressOptions

    @Flag(help: "Print the summary as one JSON object on stdout: delivered, invalid, undeliverable, stopped_at.")
    var json = false

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive, got \(timeout)") }
        _ = try parseProperties(properties)
        if format.usesRegistry {
            guard schema != nil else { throw ValidationError("--format \(format.rawValue) needs --schema FILE") }
            guard schemaRegistry != nil else { throw ValidationError("--format \(format.rawValue) needs --schema-registry URL") }
        } else if schema != nil || schemaRegistry != nil {
            throw ValidationError("--schema and --schema-registry are for --format avro or json-schema")
        }
    }

    /// How each line becomes a message: as it is, or in the wire format under a registered schema.
    enum Writer {
        case json
        case avro(AvroEncoder, id: Int32)
        case jsonSchema(id: Int32)
    }

    /// Registers the schema (when the format needs one); exits 66 for an unreadable schema file, 69 for a
    /// registry that refuses it or does not answer.
    private func writer() throws -> Writer {
        guard format.usesRegistry, let schema, let schemaRegistry else { return .json }
        let text: String
        do {
            text = try String(contentsOfFile: schema, encoding: .utf8)
        } catch {
            Output.error("error: --schema: cannot read '\(schema)'")
            throw ExitCode(66)
        }
        var encoder: AvroEncoder?
        if format == .avro {
            do {
                encoder = AvroEncoder(schema: try AvroSchema.parse(text))
            } catch {
                Output.error("error: --schema '\(schema)': \(error)")
                throw ExitCode(65)
            }
        }
        let client = SchemaRegistryClient(settings: try registry.settings(url: schemaRegistry))
        let id: Int32
        do {
            id = try client.register(
                subject: subject ?? "\(topic)-value", schema: text, kind: format == .avro ? .avro : .json)
        } catch {
            Output.error("error: --schema-registry: \(error)")
            throw ExitCode(69)
        }
        return encoder.map { .avro($0, id: id) } ?? .jsonSchema(id: id)
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        var configuration = KafkaProducerConfiguration(bootstrapServers: brokers)
        configuration.messageTimeout = .seconds(timeout)
        configuration.properties = try parseProperties(properties)
        let writer = try writer()
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let shutdown = await ShutdownRequest.trap()
        let summary = try await runOnDedicatedThread { [self] in
            try produce(openInput(file), with: producer, writer: writer, shutdown: shutdown)
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
    private func produce(
        _ input: JSONLinesSource, with producer: KafkaProducer, writer: Writer, shutdown: ShutdownRequest
    ) throws -> Summary {
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
            var encoded: [UInt8]?
            do {
                switch writer {
                case .json:
                    key = try messageKey(Data(line))
                case .jsonSchema(let id):
                    key = try messageKey(Data(line))
                    encoded = AvroEncoder.wireFormat(schemaID: id, payload: Array(line))
                case .avro(let encoder, let id):
                    let value: JSONValue
                    do {
                        value = try JSONValue.parse(line)
                    } catch {
                        throw LineProblem(message: "not valid JSON (\(error))")
                    }
                    do {
                        encoded = AvroEncoder.wireFormat(schemaID: id, payload: try encoder.encode(value))
                    } catch {
                        throw LineProblem(message: "does not fit the schema: \(error)")
                    }
                    key = try avroKey(value)
                }
            } catch let problem as LineProblem {
                Output.error("\(input.name):\(lineNumber): \(problem.message); not sent")
                summary.invalid += 1
                return
            }
            do {
                try Self.send(producer, topic: topic, key: key, value: encoded, line: line)
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

    private static func send(
        _ producer: KafkaProducer, topic: String, key: String?, value: [UInt8]?, line: UnsafeRawBufferPointer
    ) throws(KafkaError) {
        func send(_ value: UnsafeRawBufferPointer) throws(KafkaError) {
            guard var key else { return try producer.send(topic: topic, key: nil, value: value) }
            let result = key.withUTF8 { keyBytes in
                Result { () throws(KafkaError) in try producer.send(topic: topic, key: UnsafeRawBufferPointer(keyBytes), value: value) }
            }
            try result.get()
        }
        guard let value else { return try send(line) }
        let result = value.withUnsafeBytes { bytes in Result { () throws(KafkaError) in try send(bytes) } }
        try result.get()
    }

    /// The key field's value, for an Avro line.
    private func avroKey(_ value: JSONValue) throws -> String? {
        guard let keyField else { return nil }
        switch value[keyField] {
        case .string(let text): return text
        case .number(let text): return text
        default: throw LineProblem(message: "key field '\(keyField)' is missing, null, or not a string or a number")
        }
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

/// Basic authentication for a schema registry: the user, and the password from an environment variable.
struct RegistryAuthOptions: ParsableArguments {
    @Option(help: "The schema registry's user (basic authentication).")
    var registryUser: String?

    @Option(help: "The environment variable holding the registry user's password.")
    var registryPasswordEnv: String = "SCHEMA_REGISTRY_PASSWORD"

    func settings(url: String) throws -> SchemaRegistrySettings {
        guard let parsed = ConfigTable.httpURL(url) else {
            throw ValidationError("--schema-registry must be an http(s) URL, got '\(url)'")
        }
        var settings = SchemaRegistrySettings(url: parsed)
        if let registryUser {
            settings.user = registryUser
            guard let password = ProcessInfo.processInfo.environment[registryPasswordEnv] else {
                throw ValidationError("--registry-user needs the password in the environment variable \(registryPasswordEnv)")
            }
            settings.password = password
        }
        return settings
    }
}
