import StreamPipeline
import ArgumentParser
import Foundation
import StreamCore

struct DecodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Validate JSON Lines events with StreamLearn's event decoder.",
        discussion: """
            Counts accepted and rejected lines and prints each rejection with its 1-based line number and reason \
            (byte offset, field, rule). Exit status 0 when every line was accepted, 65 when any was rejected.

            Examples:
              streamlearn decode events.jsonl
              streamlearn generate transactions --events 1000 | streamlearn decode --json -
              streamlearn decode --ignore-field meta --max-fields 64 events.jsonl
            """
    )

    @Argument(help: "JSON Lines file, or - for stdin.")
    var file: String = "-"

    @Flag(help: "Print one JSON object: accepted, rejected, events_per_second, rejections.")
    var json = false

    @OptionGroup var fields: EventFieldOptions

    func validate() throws {
        _ = try fields.decoderConfiguration()
    }

    func run() async throws {
        let decoder = EventDecoder(configuration: try fields.decoderConfiguration())
        let event = DecodedEvent()
        let input = try openInput(file)
        var accepted = 0
        var rejections: [(line: Int, error: EventDecodingError)] = []
        let start = ContinuousClock.now
        try reportingPipelineErrors { try input.forEachLine { lineNumber, line, _ in
            do {
                try decoder.decode(line, into: event)
                accepted += 1
            } catch let error as EventDecodingError {
                rejections.append((lineNumber, error))
            }
        } }
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
            Output.line(String(decoding: data, as: UTF8.self))
        } else {
            for rejection in rejections { Output.line("line \(rejection.line): \(rejection.error.description)") }
            Output.line("accepted \(accepted), rejected \(rejections.count), \(Int(rate)) events/s")
        }
        if !rejections.isEmpty { throw ExitCode(65) }
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
