import Foundation
import StreamCore
import Testing

/// Runs `python3 Tests/Fixtures/avro_corpus.py ARGUMENTS` (fastavro); its status and output.
private func corpusScript(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/avro_corpus.py").standardized.path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

private func temporaryDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("avro-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// What an event holds, by feature name: a number, a string, or missing (`nil`).
private func features(_ event: DecodedEvent) -> [String: FeatureReading] {
    var result: [String: FeatureReading] = [:]
    for feature in event.numeric { result[event.string(feature.name)] = .number(feature.value) }
    for feature in event.categorical { result[event.string(feature.name)] = .text(event.string(feature.value)) }
    for feature in event.missing { result[event.string(feature.name)] = .missing }
    return result
}

private enum FeatureReading: Equatable, CustomStringConvertible {
    case number(Double)
    case text(String)
    case missing

    /// Exact: the same bits (so -0.0 and 0.0 differ).
    static func == (a: FeatureReading, b: FeatureReading) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): x.bitPattern == y.bitPattern
        case (.text(let x), .text(let y)): x == y
        case (.missing, .missing): true
        default: false
        }
    }

    var description: String {
        switch self {
        case .number(let value): "\(value)"
        case .text(let text): "'\(text)'"
        case .missing: "missing"
        }
    }
}

/// Why `decoder` refuses `bytes` (`nil`: it accepts them).
private func refusal(_ decoder: MessageDecoder, _ bytes: [UInt8], _ event: DecodedEvent) -> EventDecodingError? {
    do {
        try bytes.withUnsafeBytes { try decoder.decode($0, into: event) }
        return nil
    } catch let error as EventDecodingError {
        return error
    } catch {
        return nil
    }
}

private func encode(_ json: String, _ schema: AvroSchema) throws -> [UInt8] {
    try AvroEncoder(schema: schema).encode(JSONValue.parse(Array(json.utf8)))
}

@Suite("Avro events")
struct AvroTests {
    static let configuration: EventDecoderConfiguration = {
        var configuration = EventDecoderConfiguration()
        configuration.ignoredFields = ["tags", "attrs"]
        return configuration
    }()

    /// fastavro writes its corpus (Tests/Fixtures/avro_corpus.py) into a new directory: the directory, the schema's
    /// path and the corpus's.
    static func writeCorpus() throws -> (URL, String, String) {
        let directory = try temporaryDirectory()
        let schemaPath = directory.appendingPathComponent("schema.json").path
        let corpusPath = directory.appendingPathComponent("corpus.jsonl").path
        let written = try corpusScript(["write", schemaPath, corpusPath])
        try #require(written.status == 0, "fastavro (make deps installs it): \(written.output)")
        return (directory, schemaPath, corpusPath)
    }

    @Test("Every supported type written by fastavro decodes to exactly the values it encoded")
    func fastavroCorpus() throws {
        let (_, schemaPath, corpusPath) = try Self.writeCorpus()
        let schema = try AvroSchema.parse(String(contentsOfFile: schemaPath, encoding: .utf8))
        let plan = try AvroPlan(schema, configuration: Self.configuration)
        let event = DecodedEvent()
        var checked = 0
        for line in try String(contentsOfFile: corpusPath, encoding: .utf8).split(separator: "\n") {
            let entry = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let payload = try #require(Data(base64Encoded: entry["payload"] as! String))
            let expected = entry["expected"] as! [String: Any]
            try payload.withUnsafeBytes { try plan.decode($0, into: event) }
            #expect(event.idString == expected["id"] as? String)
            #expect(event.label.map(Int.init) == expected["label"] as? Int)
            #expect(event.timestampMilliseconds == (expected["ts"] as? NSNumber)?.int64Value)
            var want: [String: FeatureReading] = [:]
            for (name, value) in expected["features"] as! [String: Any] {
                switch value {
                case is NSNull: want[name] = .missing
                case let text as String: want[name] = .text(text)
                case let number as [String: String]: want[name] = .number(try #require(Double(number["number"]!)))
                case let number as NSNumber: want[name] = .number(number.doubleValue)
                default: Issue.record("unexpected value \(value) for \(name)")
                }
            }
            let got = features(event)
            #expect(got.count == want.count, "names: \(got.keys.sorted()) against \(want.keys.sorted())")
            for (name, value) in want { #expect(got[name] == value, "\(name) in record \(checked)") }
            checked += 1
        }
        #expect(checked == 4)
    }

    @Test("What the encoder writes (produce --format avro), fastavro reads back as the records it was given")
    func encoderReadByFastavro() throws {
        let (directory, schemaPath, corpusPath) = try Self.writeCorpus()
        let encoder = AvroEncoder(schema: try AvroSchema.parse(String(contentsOfFile: schemaPath, encoding: .utf8)))
        var payloads = ""
        for line in try String(contentsOfFile: corpusPath, encoding: .utf8).split(separator: "\n") {
            let record = try #require(try JSONValue.parse(Array(line.utf8))["json"])
            payloads += Data(try encoder.encode(record)).base64EncodedString() + "\n"
        }
        let payloadsPath = directory.appendingPathComponent("ours.txt").path
        try payloads.write(toFile: payloadsPath, atomically: true, encoding: .utf8)
        let checked = try corpusScript(["check", schemaPath, corpusPath, payloadsPath])
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.trimmingCharacters(in: .whitespacesAndNewlines) == "4")
    }

    @Test("Nested records flatten to dotted names, roles are found by name, and a features record keeps its names")
    func rolesAndNames() throws {
        let schema = try AvroSchema.parse("""
            {"type":"record","name":"T","fields":[
              {"name":"txn","type":"string"},{"name":"fraud","type":"int"},{"name":"when","type":"string"},
              {"name":"merchant","type":{"type":"record","name":"M","fields":[{"name":"country","type":"string"},
                {"name":"secret","type":"string"}]}},
              {"name":"features","type":{"type":"record","name":"F","fields":[{"name":"amount","type":"double"}]}}]}
            """)
        var configuration = EventDecoderConfiguration()
        configuration.idField = "txn"
        configuration.labelField = "fraud"
        configuration.timestampField = "when"
        configuration.ignoredFields = ["merchant.secret"]
        let plan = try AvroPlan(schema, configuration: configuration)
        #expect(plan.featureNames == ["txn", "fraud", "when", "merchant.country", "amount"])
        let bytes = try encode(
            #"{"txn":"t-1","fraud":1,"when":"2024-05-01T10:00:00Z","merchant":{"country":"FR","secret":"x"},"features":{"amount":12.5}}"#,
            schema)
        let event = DecodedEvent()
        try bytes.withUnsafeBytes { try plan.decode($0, into: event) }
        #expect(event.idString == "t-1")
        #expect(event.label == 1)
        #expect(event.timestampMilliseconds == 1_714_557_600_000)
        #expect(features(event) == ["merchant.country": .text("FR"), "amount": .number(12.5)])
    }

    @Test("Bad payloads are refused with the reason and the field, never read past their end")
    func badPayloads() throws {
        let schema = try AvroSchema.parse("""
            {"type":"record","name":"T","fields":[{"name":"id","type":"long"},
              {"name":"kind","type":["null","string","double"]},{"name":"amount","type":"double"}]}
            """)
        let plan = try AvroPlan(schema, configuration: EventDecoderConfiguration())
        let event = DecodedEvent()
        let good = try encode(#"{"id":7,"kind":"a","amount":1.5}"#, schema)
        func reason(_ bytes: [UInt8]) -> EventDecodingError? {
            do {
                try bytes.withUnsafeBytes { try plan.decode($0, into: event) }
                return nil
            } catch let error as EventDecodingError {
                return error
            } catch {
                return nil
            }
        }
        #expect(reason(good) == nil)
        // Every truncation is refused as such.
        for length in 0..<good.count {
            #expect(reason(Array(good[..<length]))?.reason == .avroTruncated, "truncated to \(length)")
        }
        #expect(reason(good + [0])?.reason == .avroTrailingBytes)
        // Union branch 5 of 3.
        var badBranch = good
        badBranch[1] = 10
        let branchError = reason(badBranch)
        #expect(branchError?.reason == .avroIndex)
        // A string length past the end.
        var badLength = good
        badLength[2] = 0x7E
        #expect(reason(badLength)?.reason == .avroTruncated)
        // Infinity is refused, naming the field; NaN is a missing feature.
        let infinite = try encode(#"{"id":7,"kind":null,"amount":"Infinity"}"#, schema)
        #expect(reason(infinite)?.field == "amount")
        #expect(reason(infinite)?.reason == .nonFiniteNumber)
        let notANumber = try encode(#"{"id":7,"kind":null,"amount":"NaN"}"#, schema)
        #expect(reason(notANumber) == nil)
        #expect(features(event) == ["kind": .missing, "amount": .missing])
        // Invalid UTF-8 in a string.
        var badText = good
        badText[3] = 0xFF
        #expect(reason(badText)?.reason == .invalidUTF8)
    }

    @Test("Arrays, maps and recursive records are refused unless ignored, naming the field")
    func unsupportedSchemas() throws {
        let schema = try AvroSchema.parse("""
            {"type":"record","name":"T","fields":[{"name":"id","type":"long"},
              {"name":"tags","type":{"type":"array","items":"string"}},
              {"name":"next","type":["null","T"]}]}
            """)
        #expect(throws: AvroPlan.Unsupported.self) { try AvroPlan(schema, configuration: EventDecoderConfiguration()) }
        var configuration = EventDecoderConfiguration()
        configuration.ignoredFields = ["tags"]
        do {
            _ = try AvroPlan(schema, configuration: configuration)
            Issue.record("a recursive record was accepted")
        } catch {
            #expect(error.field == "next")
        }
        configuration.ignoredFields = ["tags", "next"]
        #expect(throws: AvroPlan.Unsupported.self) { try AvroPlan(schema, configuration: configuration) }
        let flat = try AvroSchema.parse("""
            {"type":"record","name":"T","fields":[{"name":"id","type":"long"},
              {"name":"tags","type":{"type":"array","items":{"type":"map","values":"long"}}},{"name":"x","type":"int"}]}
            """)
        configuration.ignoredFields = ["tags"]
        let plan = try AvroPlan(flat, configuration: configuration)
        let bytes = try encode(#"{"id":1,"tags":[{"a":1,"b":2},{}],"x":3}"#, flat)
        let event = DecodedEvent()
        try bytes.withUnsafeBytes { try plan.decode($0, into: event) }
        #expect(features(event) == ["x": .number(3)])
    }

    @Test("A topic whose schema evolves: each message is read with its own writer schema, features by name")
    func schemaEvolution() throws {
        let version1 = """
            {"type":"record","name":"T","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},
              {"name":"country","type":"string"}]}
            """
        // Version 2 adds an optional field and removes one.
        let version2 = """
            {"type":"record","name":"T","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},
              {"name":"device","type":["null","string"],"default":null}]}
            """
        let schemas = SchemaTable()
        schemas.register(RegisteredSchema(id: 1, kind: .avro, text: version1))
        schemas.register(RegisteredSchema(id: 2, kind: .avro, text: version2))
        let decoder = MessageDecoder(format: .avro, configuration: EventDecoderConfiguration(), schemas: schemas)
        let event = DecodedEvent()
        func decode(_ id: Int32, _ json: String, _ text: String) throws -> [String: FeatureReading] {
            let message = AvroEncoder.wireFormat(schemaID: id, payload: try encode(json, try AvroSchema.parse(text)))
            try message.withUnsafeBytes { try decoder.decode($0, into: event) }
            return features(event)
        }
        #expect(try decode(1, #"{"id":"a","amount":1.5,"country":"FR"}"#, version1) == ["amount": .number(1.5), "country": .text("FR")])
        #expect(try decode(2, #"{"id":"b","amount":2.5,"device":"ios"}"#, version2) == ["amount": .number(2.5), "device": .text("ios")])
        #expect(try decode(2, #"{"id":"c","amount":3.5}"#, version2) == ["amount": .number(3.5), "device": .missing])
        #expect(try decode(1, #"{"id":"d","amount":4.5,"country":"DE"}"#, version1) == ["amount": .number(4.5), "country": .text("DE")])
        #expect(event.idString == "d")

        // An id the registry does not know, a message not in the wire format, a schema of another kind.
        schemas.register(RegisteredSchema(id: 3, kind: .json, text: "{}"))
        for (bytes, reason) in [
            ([0, 0, 0, 0, 9, 2, 0x61], EventDecodingError.Reason.unknownSchema), ([0x7B, 0x7D], .notWireFormat),
            ([0, 0, 0, 0, 3, 0x7B, 0x7D], .unsupportedSchema),
        ] as [([UInt8], EventDecodingError.Reason)] {
            #expect(refusal(decoder, bytes, event)?.reason == reason)
        }
    }

    @Test("JSON Schema messages: the wire format's header, then a JSON event")
    func jsonSchemaFormat() throws {
        let schemas = SchemaTable()
        schemas.register(RegisteredSchema(id: 5, kind: .json, text: #"{"type":"object"}"#))
        let decoder = MessageDecoder(format: .jsonSchema, configuration: EventDecoderConfiguration(), schemas: schemas)
        let event = DecodedEvent()
        let message: [UInt8] = [0, 0, 0, 0, 5] + Array(#"{"id":"x","amount":2,"label":1}"#.utf8)
        try message.withUnsafeBytes { try decoder.decode($0, into: event) }
        #expect(event.idString == "x" && event.label == 1 && features(event) == ["amount": .number(2)])
        let bad: [UInt8] = [0, 0, 0, 0, 5] + Array(#"{"id":"x","amount":}"#.utf8)
        let error = refusal(decoder, bad, event)
        // Offsets count from the message's first byte.
        #expect(error?.reason == .invalidJSON && error?.offset == 5 + 19 && error?.schemaID == 5)
    }
}
