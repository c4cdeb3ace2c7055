import StreamPipeline
import ArgumentParser
import Foundation
import StreamCore
import StreamJobs
import KafkaRuntime

struct DecodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Validate events with StreamLearn's event decoder: JSON Lines, or Avro messages in base64 lines.",
        discussion: """
            Counts accepted and rejected lines and prints each rejection with its 1-based line number and reason \
            (byte offset, field, rule). Exit status 0 when every line was accepted, 65 when any was rejected, 69 \
            when the schema registry did not answer.

            With --format avro or json-schema each line is one message in base64 (as `consume --base64` prints a \
            topic), in the Confluent wire format; its writer schema is fetched from --schema-registry by id. \
            --print shows each accepted event on stdout as the model sees it: id, label, timestamp and features \
            by name (nested Avro records flattened to dotted names; null for a missing feature); the summary and \
            rejections then go to stderr.

            Examples:
              streamlearn decode events.jsonl
              streamlearn generate transactions --events 1000 | streamlearn decode --json -
              streamlearn decode --ignore-field meta --max-fields 64 events.jsonl
              streamlearn consume --brokers "$B" --topic tx --group dump --from-beginning --base64 > tx.b64
              streamlearn decode --format avro --schema-registry http://127.0.0.1:8081 --print tx.b64
            """
    )

    @Argument(help: "JSON Lines file, or - for stdin.")
    var file: String = "-"

    @Flag(help: "Print one JSON object: accepted, rejected, events_per_second, rejections.")
    var json = false

    @OptionGroup var fields: EventFieldOptions

    @Option(help: "How messages are written: json, avro or json-schema (base64 lines, Confluent wire format).")
    var format: EventFormat = .json

    @Option(help: "The schema registry's URL, for --format avro or json-schema.")
    var schemaRegistry: String?

    @OptionGroup var registry: RegistryAuthOptions

    @Flag(help: "Print each accepted event as one JSON line: id, label, ts and its features by name.")
    var print = false

    func validate() throws {
        _ = try fields.decoderConfiguration()
        if format.usesRegistry {
            guard let schemaRegistry else { throw ValidationError("--format \(format.rawValue) needs --schema-registry URL") }
            _ = try registry.settings(url: schemaRegistry)
        } else if schemaRegistry != nil {
            throw ValidationError("--schema-registry is for --format avro or json-schema")
        }
    }

    func run() async throws {
        let schemas = try schemaRegistry.map { SchemaRegistryClient(settings: try registry.settings(url: $0)) }
        let decoder = MessageDecoder(format: format, configuration: try fields.decoderConfiguration(), schemas: schemas)
        let event = DecodedEvent()
        let input = try openInput(file)
        var accepted = 0
        var rejections: [(line: Int, error: EventDecodingError)] = []
        var unavailable: EventDecodingError?
        let start = ContinuousClock.now
        struct Stop: Error {}
        do {
        try reportingPipelineErrors { try input.forEachLine { lineNumber, line, _ in
            do {
                if format.usesRegistry {
                    guard let message = Data(base64Encoded: Data(line), options: .ignoreUnknownCharacters) else {
                        rejections.append((lineNumber, EventDecodingError(.notWireFormat, offset: 0, detail: "the line is not base64")))
                        return
                    }
                    try message.withUnsafeBytes { try decoder.decode($0, into: event) }
                } else {
                    try decoder.decode(line, into: event)
                }
                accepted += 1
                if print { Output.line(Self.render(event)) }
            } catch let error as EventDecodingError {
                if error.reason == .registryUnavailable {
                    unavailable = error
                    throw Stop()
                }
                rejections.append((lineNumber, error))
            }
        } }
        } catch is Stop {}
        if let unavailable {
            Output.error("error: \(unavailable)")
            throw ExitCode(69)
        }
        let seconds = max((ContinuousClock.now - start).seconds, 1e-9)
        let rate = Double(accepted + rejections.count) / seconds
        if json {
            let object: [String: Any] = [
                "accepted": accepted, "rejected": rejections.count, "events_per_second": rate.rounded(),
                // Structured: the line, the byte, the field (null when none) and the reason, as separate keys.
                "rejections": rejections.map {
                    [
                        "line": $0.line, "byte": $0.error.offset, "field": $0.error.field.map { $0 as Any } ?? NSNull(),
                        "reason": $0.error.reason.name, "message": $0.error.description,
                    ] as [String: Any]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            report(String(decoding: data, as: UTF8.self))
        } else {
            for rejection in rejections { report("line \(rejection.line): \(rejection.error.description)") }
            report("accepted \(accepted), rejected \(rejections.count), \(Int(rate)) events/s")
        }
        if !rejections.isEmpty { throw ExitCode(65) }
    }

    /// The summary and rejections: on stdout, or on stderr when stdout carries the events (--print).
    private func report(_ line: String) {
        if print { Output.error(line) } else { Output.line(line) }
    }

    /// `{"id":…,"label":…,"ts":…,"features":{name: value, …}}`, features in the order they were read.
    static func render(_ event: DecodedEvent) -> String {
        var writer = JSONWriter()
        writer.raw("{\"id\":")
        if let id = event.id { writer.string(event.bytes(id)) } else { writer.raw("null") }
        writer.raw(",\"label\":")
        if let label = event.label { writer.int(Int(label)) } else { writer.raw("null") }
        writer.raw(",\"ts\":")
        if let ts = event.timestampMilliseconds { writer.int(Int(ts)) } else { writer.raw("null") }
        writer.raw(",\"features\":{")
        // The three kinds of feature, merged back into the order their names were read.
        enum Value {
            case number(Double)
            case text(TextRange)
            case missing
        }
        let features = event.numeric.map { ($0.name, Value.number($0.value)) }
            + event.categorical.map { ($0.name, Value.text($0.value)) } + event.missing.map { ($0.name, Value.missing) }
        for (index, (name, value)) in features.sorted(by: { $0.0.start < $1.0.start }).enumerated() {
            if index > 0 { writer.raw(",") }
            writer.string(event.bytes(name))
            switch value {
            case .number(let number): writer.raw(Array(":\(number)".utf8))
            case .text(let text):
                writer.raw(":")
                writer.string(event.bytes(text))
            case .missing: writer.raw(":null")
            }
        }
        writer.raw("}}")
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

/// How events are read: field roles and limits (see `EventDecoderConfiguration`).
struct EventFieldOptions: ParsableArguments {
    @Option(help: "The id field.")
    var idField: String = "id"

    @Option(help: "The label field (0/1/true/false).")
    var labelField: String = "label"

    @Option(help: "The timestamp field (epoch ms or RFC 3339); empty for none.")
    var timestampField: String = "ts"

    @Option(name: .customLong("ignore-field"), help: "A field to skip, whatever its value (repeatable).")
    var ignoredFields: [String] = []

    @Option(parsing: .unconditional, help: "Largest accepted string, in bytes.")
    var maxStringBytes: Int = 1_024

    @Option(parsing: .unconditional, help: "Most accepted fields per event.")
    var maxFields: Int = 256

    @Option(parsing: .unconditional, help: "Largest accepted event, in bytes.")
    var maxDocumentBytes: Int = 65_536

    func decoderConfiguration() throws -> EventDecoderConfiguration {
        for (name, value) in [("--max-string-bytes", maxStringBytes), ("--max-fields", maxFields),
                              ("--max-document-bytes", maxDocumentBytes)] where value < 1 {
            throw ValidationError("\(name) must be at least 1, got \(value)")
        }
        var configuration = EventDecoderConfiguration()
        configuration.idField = idField
        configuration.labelField = labelField
        configuration.timestampField = timestampField.isEmpty ? nil : timestampField
        configuration.ignoredFields = Set(ignoredFields)
        configuration.maxStringBytes = maxStringBytes
        configuration.maxFields = maxFields
        configuration.maxDocumentBytes = maxDocumentBytes
        return configuration
    }
}
