import StreamPipeline
import ArgumentParser
import Foundation
import Simulation
import StreamCore

struct BenchDecode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode generated ~180-byte events (id + 20 numeric fields), or a file's, from memory; report events/s.",
        discussion: """
            Compares Foundation's JSONSerialization, StreamLearn's EventDecoder, and decode + feature hashing + \
            online standardisation, on the same generated events (one core).

            Examples:
              make bench-decode
              streamlearn-bench decode --events 200000 --json
              streamlearn-bench decode events.jsonl --foundation-events 10000
            """
    )

    @Option(help: "How many events.")
    var events: Int = 1_000_000

    @Argument(help: "Decode the lines of this JSON Lines file (the first --events of them) instead of generated events.")
    var file: String?

    @Option(help: "How many of them JSONSerialization decodes (it is slow).")
    var foundationEvents: Int = 200_000

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(inversion: .prefixedNo, help: "Also run the reference decoders (fastavro and json.loads, Python; pip install fastavro).")
    var peers = true

    func validate() throws {
        guard events >= 1 else { throw ValidationError("--events must be at least 1, got \(events)") }
        guard foundationEvents >= 1 else {
            throw ValidationError("--foundation-events must be at least 1, got \(foundationEvents)")
        }
    }

    func run() async throws {
        let (payload, bounds) =
            try file.map { try Self.lines(of: $0, limit: self.events) }
            ?? TransactionGenerator.contiguous(count: self.events, seed: 1)
        let events = bounds.count
        var results: [(name: String, rate: Double)] = []

        // Foundation
        let foundationCount = min(foundationEvents, events)
        var foundationSum = 0.0
        let start = ContinuousClock.now
        for range in bounds.prefix(foundationCount) {
            let object = try JSONSerialization.jsonObject(with: Data(payload[range])) as? [String: Any]
            foundationSum += Double(object?.count ?? 0)
        }
        results.append(("Foundation JSONSerialization", Double(foundationCount) / (ContinuousClock.now - start).seconds))

        // The decoder alone, then decode + feature hashing + online standardisation (the learn path's front).
        let decoder = EventDecoder()
        let event = DecodedEvent()
        var sum = 0.0
        var vectorizer = FeatureVectorizer()
        var standardizer = OnlineStandardizer()
        var vector = FeatureVector()
        func measure(
            _ names: (String, String), _ messages: [UInt8], _ ranges: [Range<Int>],
            _ decode: (UnsafeRawBufferPointer) throws -> Void
        ) throws {
            var rowVectorizer = FeatureVectorizer()
            var rowStandardizer = OnlineStandardizer()
            results.append((names.0, try bestRate(of: events, passes: 5) {
                try messages.withUnsafeBytes { bytes in
                    for range in ranges {
                        try decode(UnsafeRawBufferPointer(rebasing: bytes[range]))
                        sum += event.numeric.first?.value ?? 1
                    }
                }
            }))
            results.append((names.1, try bestRate(of: events, passes: 5) {
                try messages.withUnsafeBytes { bytes in
                    for range in ranges {
                        try decode(UnsafeRawBufferPointer(rebasing: bytes[range]))
                        rowVectorizer.vectorize(event, into: &vector)
                        rowStandardizer.update(vector)
                        rowStandardizer.standardize(&vector)
                        sum += vector.dense.first ?? 1
                    }
                }
            }))
        }
        try measure(("EventDecoder", "decode + vectorize + standardise"), payload, bounds) {
            try decoder.decode($0, into: event)
        }

        // Decoded ahead on a second thread (as `learn` and `drift` read files).
        results.append(
            (
                "decoded ahead on a second thread + vectorize + standardise",
                try bestRate(of: events, passes: 5) {
                    try payload.withUnsafeBytes { bytes in
                        try DecodeAhead.run(decoder: decoder) { reader in
                            for (index, range) in bounds.enumerated() {
                                try reader.decode(index + 1, bytes: UnsafeRawBufferPointer(rebasing: bytes[range]))
                            }
                        } consume: { _, event, _ in
                            vectorizer.vectorize(event, into: &vector)
                            standardizer.update(vector)
                            standardizer.standardize(&vector)
                            sum += vector.dense.first ?? 1
                        }
                    }
                }
            ))
        // The same events as Avro in the Confluent wire format (id long; a field long when every value is an
        // integer, else double), decoded by their writer schema's plan.
        let (schemaText, messages, messageBounds) = try Self.avro(payload, bounds)
        let schemas = SchemaTable([RegisteredSchema(id: 1, kind: .avro, text: schemaText)])
        let avroDecoder = MessageDecoder(format: .avro, configuration: EventDecoderConfiguration(), schemas: schemas)
        try measure(("Avro (Confluent wire format), MessageDecoder", "Avro decode + vectorize + standardise"), messages, messageBounds) {
            try avroDecoder.decode($0, into: event)
        }
        precondition(sum != 0 && foundationSum != 0)
        let reference = peers ? try Self.fastavro(schemaText, messages, messageBounds, payload, bounds) : nil
        if let reference {
            results.append(("fastavro \(reference.compiled ? "(Cython)" : "(pure Python)") schemaless_reader", reference.avro))
            results.append(("Python json.loads", reference.json))
        }

        if json {
            var object: [String: Any] = ["events": events, "event_bytes": payload.count / events]
            for (name, rate) in results { object[name] = rate }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Output.line(String(decoding: data, as: UTF8.self))
        } else {
            Output.line(
                "events        \(events) of \(payload.count / events) bytes"
                    + (file == nil ? " (id + 20 numeric fields)" : " from \(file!)")
                    + "; as Avro \(messages.count / events) bytes")
            for (name, rate) in results {
                Output.line("\(name.padding(toLength: 58, withPad: " ", startingAt: 0)) \(Int(rate)) events/s")
            }
        }
    }

    /// The events as Avro messages (wire format, schema id 1) under a schema inferred from them, back to back.
    static func avro(_ payload: [UInt8], _ bounds: [Range<Int>]) throws -> (String, [UInt8], [Range<Int>]) {
        var names: [String] = []
        var integral: [String: Bool] = [:]
        var parsed: [JSONValue] = []
        parsed.reserveCapacity(bounds.count)
        for range in bounds {
            let value = try JSONValue.parse(payload[range])
            guard case .object(let members) = value else { continue }
            for member in members {
                if integral[member.key] == nil { names.append(member.key) }
                if case .number(let text) = member.value {
                    integral[member.key] = (integral[member.key] ?? true) && Int64(text) != nil
                }
            }
            parsed.append(value)
        }
        let fields = names.map { #"{"name":"\#($0)","type":"\#(integral[$0] == true ? "long" : "double")"}"# }
        let schemaText = #"{"type":"record","name":"Event","fields":[\#(fields.joined(separator: ","))]}"#
        let encoder = AvroEncoder(schema: try AvroSchema.parse(schemaText))
        var messages: [UInt8] = []
        var messageBounds: [Range<Int>] = []
        for value in parsed {
            let message = AvroEncoder.wireFormat(schemaID: 1, payload: try encoder.encode(value))
            messageBounds.append(messages.count..<messages.count + message.count)
            messages += message
        }
        return (schemaText, messages, messageBounds)
    }

    /// fastavro and json.loads on the same messages and lines (Benchmarks/Peers/decode_fastavro.py); nil when
    /// Python or fastavro is missing (said on stderr).
    static func fastavro(
        _ schema: String, _ messages: [UInt8], _ messageBounds: [Range<Int>], _ payload: [UInt8], _ bounds: [Range<Int>]
    ) throws -> (avro: Double, json: Double, compiled: Bool)? {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-avro-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var framed: [UInt8] = []
        for range in messageBounds {
            withUnsafeBytes(of: UInt32(range.count - 5).littleEndian) { framed += $0 }
            framed += messages[(range.lowerBound + 5)..<range.upperBound]
        }
        var lines: [UInt8] = []
        for range in bounds {
            lines += payload[range]
            lines.append(UInt8(ascii: "\n"))
        }
        let schemaPath = directory.appendingPathComponent("schema.avsc")
        let payloadPath = directory.appendingPathComponent("payloads.bin")
        let linesPath = directory.appendingPathComponent("events.jsonl")
        try Data(schema.utf8).write(to: schemaPath)
        try Data(framed).write(to: payloadPath)
        try Data(lines).write(to: linesPath)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Peers/decode_fastavro.py").standardized.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, schemaPath.path, payloadPath.path, linesPath.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let avro = (object["fastavro"] as? NSNumber)?.doubleValue, let json = (object["json.loads"] as? NSNumber)?.doubleValue
        else {
            Output.error("note: the fastavro reference did not run (pip install fastavro; or --no-peers)")
            return nil
        }
        return (avro, json, object["fastavro_compiled"] as? Bool ?? false)
    }

    /// The first `limit` lines of `path` that the decoder accepts, back to back, read as every command reads
    /// JSON Lines (``JSONLinesSource``: CRs and blank lines dropped; exit 66 if the file cannot be read). Rejected
    /// lines are left out, so every pass decodes the same valid events.
    static func lines(of path: String, limit: Int) throws -> (payload: [UInt8], bounds: [Range<Int>]) {
        let input: JSONLinesSource
        do {
            input = try JSONLinesSource(path: path)
        } catch {
            Output.error("error: \(error)")
            throw ExitCode(66)
        }
        let decoder = EventDecoder()
        let event = DecodedEvent()
        var payload: [UInt8] = []
        var bounds: [Range<Int>] = []
        var rejected = 0
        try input.forEachLine(stopWhen: { bounds.count >= limit }) { _, line, _ in
            do {
                try decoder.decode(line, into: event)
            } catch {
                rejected += 1
                return
            }
            bounds.append(payload.count..<payload.count + line.count)
            payload.append(contentsOf: line)
        }
        guard !bounds.isEmpty else {
            Output.error("error: '\(path)' has no event the decoder accepts (\(rejected) rejected)")
            throw ExitCode(65)
        }
        if rejected > 0 { Output.error("note: \(rejected) rejected line(s) of '\(path)' left out") }
        return (payload, bounds)
    }
}

