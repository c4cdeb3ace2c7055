import StreamCore
import Testing
#if canImport(Glibc)
import Foundation
import Glibc
#endif

/// What a corpus document must give.
enum Expectation: Sendable, CustomStringConvertible {
    /// Accepted, with these numeric and categorical features (by name), missing names, id and label.
    case accept(numeric: [String: Double] = [:], categorical: [String: String] = [:], missing: [String] = [],
                id: String? = nil, label: Int8? = nil, timestamp: Int64? = nil)
    case reject(EventDecodingError.Reason, field: String? = nil)

    var description: String {
        switch self {
        case .accept: "accept"
        case .reject(let reason, let field): "reject(\(reason), field: \(field ?? "-"))"
        }
    }
}

struct CorpusCase: Sendable, CustomTestStringConvertible {
    var document: [UInt8]
    var expectation: Expectation
    var testDescription: String { "\(String(decoding: document, as: UTF8.self).debugDescription) → \(expectation)" }

    init(_ text: String, _ expectation: Expectation) {
        document = Array(text.utf8)
        self.expectation = expectation
    }

    init(bytes: [UInt8], _ expectation: Expectation) {
        document = bytes
        self.expectation = expectation
    }
}

let accept = Expectation.accept()

/// Hand-picked documents, one per edge of RFC 8259 and of the event rules, plus families generated from tables
/// (control characters, escapes, UTF-8 sequences, number grammar).
let corpus: [CorpusCase] = {
    var cases: [CorpusCase] = [
        // Objects and whitespace
        CorpusCase("{}", accept),
        CorpusCase(" \t\r\n{ \t\r\n} \t\r\n", accept),
        CorpusCase("{\"a\":1}", .accept(numeric: ["a": 1])),
        CorpusCase("{ \"a\" : 1 , \"b\" : 2 }", .accept(numeric: ["a": 1, "b": 2])),
        CorpusCase("", .reject(.unexpectedEnd)),
        CorpusCase("   ", .reject(.unexpectedEnd)),
        CorpusCase("{", .reject(.unexpectedEnd)),
        CorpusCase("{\"a\"", .reject(.unexpectedEnd, field: "a")),
        CorpusCase("{\"a\":", .reject(.unexpectedEnd, field: "a")),
        CorpusCase("{\"a\":1", .reject(.unexpectedEnd)),
        CorpusCase("{\"a\":1,", .reject(.unexpectedEnd)),
        CorpusCase("{\"a\":1,}", .reject(.invalidJSON)),
        CorpusCase("{,\"a\":1}", .reject(.invalidJSON)),
        CorpusCase("{\"a\" 1}", .reject(.invalidJSON, field: "a")),
        CorpusCase("{\"a\"::1}", .reject(.invalidJSON, field: "a")),
        CorpusCase("{\"a\":1 \"b\":2}", .reject(.invalidJSON)),
        CorpusCase("{a:1}", .reject(.invalidJSON)),
        CorpusCase("{'a':1}", .reject(.invalidJSON)),
        CorpusCase("{\"a\":1}}", .reject(.trailingCharacters)),
        CorpusCase("{\"a\":1} x", .reject(.trailingCharacters)),
        CorpusCase("{\"a\":1}{}", .reject(.trailingCharacters)),
        CorpusCase("{\"a\":1}\u{0}", .reject(.trailingCharacters)),
        CorpusCase("\u{FEFF}{}", .reject(.invalidJSON)),
        CorpusCase("{\"a\":1}\u{0B}", .reject(.trailingCharacters)),
        // Not an object
        CorpusCase("[]", .reject(.notAnObject)),
        CorpusCase("[1,2]", .reject(.notAnObject)),
        CorpusCase("1", .reject(.notAnObject)),
        CorpusCase("\"a\"", .reject(.notAnObject)),
        CorpusCase("null", .reject(.notAnObject)),
        CorpusCase("true", .reject(.notAnObject)),
        CorpusCase("[1,]", .reject(.invalidJSON)),
        CorpusCase("nul", .reject(.unexpectedEnd)),
        // Literals
        CorpusCase("{\"a\":true,\"b\":false}", .accept(numeric: ["a": 1, "b": 0])),
        CorpusCase("{\"a\":null}", .accept(missing: ["a"])),
        CorpusCase("{\"a\":tru}", .reject(.invalidJSON, field: "a")),
        CorpusCase("{\"a\":True}", .reject(.invalidJSON, field: "a")),
        CorpusCase("{\"a\":nulll}", .reject(.invalidJSON)),
        CorpusCase("{\"a\":NULL}", .reject(.invalidJSON, field: "a")),
        CorpusCase("{\"a\":undefined}", .reject(.invalidJSON, field: "a")),
        CorpusCase("{\"a\":NaN}", .reject(.invalidJSON, field: "a")),
        CorpusCase("{\"a\":Infinity}", .reject(.invalidJSON, field: "a")),
        CorpusCase("{\"a\":-Infinity}", .reject(.invalidNumber, field: "a")),
        // Numbers
        CorpusCase("{\"a\":0}", .accept(numeric: ["a": 0])),
        CorpusCase("{\"a\":-0}", .accept(numeric: ["a": -0.0])),
        CorpusCase("{\"a\":-0.0}", .accept(numeric: ["a": -0.0])),
        CorpusCase("{\"a\":123}", .accept(numeric: ["a": 123])),
        CorpusCase("{\"a\":-123.456}", .accept(numeric: ["a": -123.456])),
        CorpusCase("{\"a\":1e3}", .accept(numeric: ["a": 1000])),
        CorpusCase("{\"a\":1E3}", .accept(numeric: ["a": 1000])),
        CorpusCase("{\"a\":1e+3}", .accept(numeric: ["a": 1000])),
        CorpusCase("{\"a\":1e-3}", .accept(numeric: ["a": 0.001])),
        CorpusCase("{\"a\":0.1}", .accept(numeric: ["a": 0.1])),
        CorpusCase("{\"a\":0.000001}", .accept(numeric: ["a": 0.000001])),
        CorpusCase("{\"a\":1.7976931348623157e308}", .accept(numeric: ["a": 1.7976931348623157e308])),
        CorpusCase("{\"a\":5e-324}", .accept(numeric: ["a": .leastNonzeroMagnitude])),
        CorpusCase("{\"a\":2.2250738585072014e-308}", .accept(numeric: ["a": 2.2250738585072014e-308])),
        CorpusCase("{\"a\":1e-400}", .accept(numeric: ["a": 0])),
        CorpusCase("{\"a\":9007199254740993}", .accept(numeric: ["a": 9007199254740992])),
        CorpusCase("{\"a\":12345678901234567890123}", .accept(numeric: ["a": 1.2345678901234568e22])),
        CorpusCase("{\"a\":0.30000000000000004}", .accept(numeric: ["a": 0.30000000000000004])),
        CorpusCase("{\"a\":123456789012345678901234567890e-10}", .accept(numeric: ["a": 1.2345678901234568e19])),
        CorpusCase("{\"a\":0e999999}", .accept(numeric: ["a": 0])),
        CorpusCase("{\"a\":1e999}", .reject(.nonFiniteNumber, field: "a")),
        CorpusCase("{\"a\":-1e999}", .reject(.nonFiniteNumber, field: "a")),
        CorpusCase("{\"a\":1.8e308}", .reject(.nonFiniteNumber, field: "a")),
        CorpusCase("{\"a\":01}", .reject(.invalidNumber, field: "a")),
        CorpusCase("{\"a\":-01}", .reject(.invalidNumber, field: "a")),
        CorpusCase("{\"a\":00}", .reject(.invalidNumber, field: "a")),
        CorpusCase("{\"a\":+1}", .reject(.invalidJSON, field: "a")),
        CorpusCase("{\"a\":.5}", .reject(.invalidJSON, field: "a")),
        CorpusCase("{\"a\":5.}", .reject(.invalidNumber, field: "a")),
        CorpusCase("{\"a\":5.e3}", .reject(.invalidNumber, field: "a")),
        CorpusCase("{\"a\":1e}", .reject(.invalidNumber, field: "a")),
        CorpusCase("{\"a\":1e+}", .reject(.invalidNumber, field: "a")),
        CorpusCase("{\"a\":1e-}", .reject(.invalidNumber, field: "a")),
        CorpusCase("{\"a\":-}", .reject(.invalidNumber, field: "a")),
        CorpusCase("{\"a\":--1}", .reject(.invalidNumber, field: "a")),
        CorpusCase("{\"a\":0x10}", .reject(.invalidJSON)),
        CorpusCase("{\"a\":1_000}", .reject(.invalidJSON)),
        CorpusCase("{\"a\":1.5.5}", .reject(.invalidJSON)),
        CorpusCase("{\"a\":1e5e5}", .reject(.invalidJSON)),
        CorpusCase("{\"a\":\u{661}}", .reject(.invalidJSON, field: "a")),
        // Strings
        CorpusCase("{\"c\":\"\"}", .accept(categorical: ["c": ""])),
        CorpusCase("{\"c\":\"abc\"}", .accept(categorical: ["c": "abc"])),
        CorpusCase("{\"c\":\"a\\\"b\"}", .accept(categorical: ["c": "a\"b"])),
        CorpusCase("{\"c\":\"a\\\\b\"}", .accept(categorical: ["c": "a\\b"])),
        CorpusCase("{\"c\":\"a\\/b\"}", .accept(categorical: ["c": "a/b"])),
        CorpusCase("{\"c\":\"\\b\\f\\n\\r\\t\"}", .accept(categorical: ["c": "\u{8}\u{C}\n\r\t"])),
        CorpusCase("{\"c\":\"\\u0041\"}", .accept(categorical: ["c": "A"])),
        CorpusCase("{\"c\":\"\\u00e9\"}", .accept(categorical: ["c": "é"])),
        CorpusCase("{\"c\":\"\\u00E9\"}", .accept(categorical: ["c": "é"])),
        CorpusCase("{\"c\":\"\\u20AC\"}", .accept(categorical: ["c": "€"])),
        CorpusCase("{\"c\":\"\\uD83D\\uDE00\"}", .accept(categorical: ["c": "😀"])),
        CorpusCase("{\"c\":\"\\u0000\"}", .accept(categorical: ["c": "\u{0}"])),
        CorpusCase("{\"c\":\"é€😀\"}", .accept(categorical: ["c": "é€😀"])),
        CorpusCase("{\"c\":\"\u{7F}\"}", .accept(categorical: ["c": "\u{7F}"])),
        CorpusCase("{\"c\":\"\\uD83D\"}", .reject(.loneSurrogate, field: "c")),
        CorpusCase("{\"c\":\"\\uDE00\"}", .reject(.loneSurrogate, field: "c")),
        CorpusCase("{\"c\":\"\\uD83Dx\"}", .reject(.loneSurrogate, field: "c")),
        CorpusCase("{\"c\":\"\\uD83D\\u0041\"}", .reject(.loneSurrogate, field: "c")),
        CorpusCase("{\"c\":\"\\uD83D\\uD83D\"}", .reject(.loneSurrogate, field: "c")),
        CorpusCase("{\"c\":\"\\u12\"}", .reject(.invalidEscape, field: "c")),
        CorpusCase("{\"c\":\"\\u12G4\"}", .reject(.invalidEscape, field: "c")),
        CorpusCase("{\"c\":\"\\U0041\"}", .reject(.invalidEscape, field: "c")),
        CorpusCase("{\"c\":\"\\x41\"}", .reject(.invalidEscape, field: "c")),
        CorpusCase("{\"c\":\"\\'\"}", .reject(.invalidEscape, field: "c")),
        CorpusCase("{\"c\":\"\\\"}", .reject(.unexpectedEnd, field: "c")),
        CorpusCase("{\"c\":\"abc}", .reject(.unexpectedEnd, field: "c")),
        CorpusCase("{\"c\":'abc'}", .reject(.invalidJSON, field: "c")),
        CorpusCase("{\"\\u0061\":1}", .accept(numeric: ["a": 1])),
        CorpusCase("{\"\":1}", .accept(numeric: ["": 1])),
        CorpusCase("{\"a b\":1}", .accept(numeric: ["a b": 1])),
        // Duplicate keys (one namespace with the features object)
        CorpusCase("{\"a\":1,\"a\":2}", .reject(.duplicateKey, field: "a")),
        CorpusCase("{\"a\":1,\"\\u0061\":2}", .reject(.duplicateKey, field: "a")),
        CorpusCase("{\"a\":1,\"b\":2,\"a\":\"x\"}", .reject(.duplicateKey, field: "a")),
        CorpusCase("{\"a\":1,\"features\":{\"a\":2}}", .reject(.duplicateKey, field: "a")),
        CorpusCase("{\"id\":1,\"id\":2}", .reject(.duplicateKey, field: "id")),
        CorpusCase("{\"a\":1,\"A\":2}", .accept(numeric: ["a": 1, "A": 2])),
        // Roles
        CorpusCase("{\"id\":\"tx-1\",\"a\":1}", .accept(numeric: ["a": 1], id: "tx-1")),
        CorpusCase("{\"id\":42}", .accept(id: "42")),
        CorpusCase("{\"id\":-42}", .accept(id: "-42")),
        CorpusCase("{\"id\":4.2}", .reject(.idType, field: "id")),
        CorpusCase("{\"id\":1e3}", .reject(.idType, field: "id")),
        CorpusCase("{\"id\":true}", .reject(.idType, field: "id")),
        CorpusCase("{\"id\":null}", .reject(.idType, field: "id")),
        CorpusCase("{\"id\":[1]}", .reject(.idType, field: "id")),
        CorpusCase("{\"label\":1}", .accept(label: 1)),
        CorpusCase("{\"label\":0}", .accept(label: 0)),
        CorpusCase("{\"label\":1.0}", .accept(label: 1)),
        CorpusCase("{\"label\":true}", .accept(label: 1)),
        CorpusCase("{\"label\":false}", .accept(label: 0)),
        CorpusCase("{\"label\":null}", accept),
        CorpusCase("{\"label\":2}", .reject(.labelType, field: "label")),
        CorpusCase("{\"label\":-1}", .reject(.labelType, field: "label")),
        CorpusCase("{\"label\":0.5}", .reject(.labelType, field: "label")),
        CorpusCase("{\"label\":\"1\"}", .reject(.labelType, field: "label")),
        CorpusCase("{\"label\":\"yes\"}", .reject(.labelType, field: "label")),
        CorpusCase("{\"label\":{}}", .reject(.labelType, field: "label")),
        CorpusCase("{\"label\":[1]}", .reject(.labelType, field: "label")),
        CorpusCase("{\"label\":tru}", .reject(.invalidJSON, field: "label")),
        CorpusCase("{\"ts\":1767225600000}", .accept(timestamp: 1_767_225_600_000)),
        CorpusCase("{\"ts\":\"2026-01-01T00:00:00Z\"}", .accept(timestamp: 1_767_225_600_000)),
        CorpusCase("{\"ts\":\"2026-01-01T00:00:00.123Z\"}", .accept(timestamp: 1_767_225_600_123)),
        CorpusCase("{\"ts\":\"2026-01-01t00:00:00.1z\"}", .accept(timestamp: 1_767_225_600_100)),
        CorpusCase("{\"ts\":\"2026-01-01T01:30:00+01:30\"}", .accept(timestamp: 1_767_225_600_000)),
        CorpusCase("{\"ts\":\"2025-12-31T22:00:00-02:00\"}", .accept(timestamp: 1_767_225_600_000)),
        CorpusCase("{\"ts\":\"1970-01-01T00:00:00Z\"}", .accept(timestamp: 0)),
        CorpusCase("{\"ts\":\"2024-02-29T00:00:00Z\"}", .accept(timestamp: 1_709_164_800_000)),
        CorpusCase("{\"ts\":\"2023-02-29T00:00:00Z\"}", .reject(.timestampType, field: "ts")),
        CorpusCase("{\"ts\":\"2026-13-01T00:00:00Z\"}", .reject(.timestampType, field: "ts")),
        CorpusCase("{\"ts\":\"2026-01-01T24:00:00Z\"}", .reject(.timestampType, field: "ts")),
        CorpusCase("{\"ts\":\"2026-01-01T00:00:00\"}", .reject(.timestampType, field: "ts")),
        CorpusCase("{\"ts\":\"2026-01-01\"}", .reject(.timestampType, field: "ts")),
        CorpusCase("{\"ts\":\"yesterday\"}", .reject(.timestampType, field: "ts")),
        CorpusCase("{\"ts\":1.5}", .reject(.timestampType, field: "ts")),
        CorpusCase("{\"ts\":true}", .reject(.timestampType, field: "ts")),
        CorpusCase("{\"ts\":null}", accept),
        // Features object
        CorpusCase("{\"features\":{\"a\":1,\"c\":\"x\",\"m\":null}}",
                   .accept(numeric: ["a": 1], categorical: ["c": "x"], missing: ["m"])),
        CorpusCase("{\"id\":\"e1\",\"label\":1,\"features\":{\"a\":2.5}}", .accept(numeric: ["a": 2.5], id: "e1", label: 1)),
        CorpusCase("{\"features\":{}}", accept),
        CorpusCase("{\"features\":null}", accept),
        CorpusCase("{\"features\":{\"id\":3}}", .accept(numeric: ["id": 3])),
        CorpusCase("{\"features\":[1,2]}", .reject(.nestedValue, field: "features")),
        CorpusCase("{\"features\":1}", .reject(.nestedValue, field: "features")),
        CorpusCase("{\"features\":{\"a\":{}}}", .reject(.nestedValue, field: "a")),
        CorpusCase("{\"features\":{\"a\":1}", .reject(.unexpectedEnd)),
        // Nested values in features
        CorpusCase("{\"a\":[1,2]}", .reject(.nestedValue, field: "a")),
        CorpusCase("{\"a\":{\"b\":1}}", .reject(.nestedValue, field: "a")),
        // Mixed event
        CorpusCase("{\"id\":\"t-9\",\"ts\":1700000000000,\"label\":0,\"amount\":12.5,\"country\":\"FR\",\"card_present\":true,\"device\":null}",
                   .accept(numeric: ["amount": 12.5, "card_present": 1], categorical: ["country": "FR"],
                           missing: ["device"], id: "t-9", label: 0, timestamp: 1_700_000_000_000)),
    ]
    // Every control character is refused unescaped in a string, and accepted escaped as \u00XX.
    for code in 0..<0x20 {
        var bytes = Array("{\"c\":\"a".utf8)
        bytes.append(UInt8(code))
        bytes += Array("\"}".utf8)
        cases.append(CorpusCase(bytes: bytes, .reject(.controlCharacterInString, field: "c")))
        let hex = String(code, radix: 16)
        let escaped = "{\"c\":\"\\u00\(hex.count == 1 ? "0" + hex : hex)\"}"
        cases.append(CorpusCase(escaped, .accept(categorical: ["c": String(UnicodeScalar(UInt8(code)))])))
    }
    // Invalid UTF-8 inside a string.
    let badUTF8: [[UInt8]] = [
        [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xC2], [0xC2, 0x41], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],
        [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xE2, 0x82], [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFE], [0xFF],
        [0xF0, 0x9F, 0x98], [0xE2, 0x28, 0xA1],
    ]
    for sequence in badUTF8 {
        cases.append(CorpusCase(bytes: Array("{\"c\":\"".utf8) + sequence + Array("\"}".utf8), .reject(.invalidUTF8, field: "c")))
    }
    // Valid UTF-8 at the edges of each range.
    let goodUTF8: [[UInt8]] = [
        [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF],
        [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
    ]
    for sequence in goodUTF8 {
        cases.append(CorpusCase(
            bytes: Array("{\"c\":\"".utf8) + sequence + Array("\"}".utf8),
            .accept(categorical: ["c": String(decoding: sequence, as: UTF8.self)])))
    }
    // Every other escape letter is invalid.
    for letter in "acdeghijklmopqsvwxyzABCDEFNRTU0123456789 ".unicodeScalars {
        cases.append(CorpusCase("{\"c\":\"\\\(letter)\"}", .reject(.invalidEscape, field: "c")))
    }
    return cases
}()

@Suite("Event decoder corpus")
struct EventDecoderCorpusTests {
    @Test("The corpus holds at least 200 documents")
    func corpusSize() {
        #expect(corpus.count >= 200)
    }

    @Test("Each corpus document is accepted with exact values or rejected for the right reason", arguments: corpus)
    func corpusCase(_ testCase: CorpusCase) {
        let decoder = EventDecoder()
        let event = DecodedEvent()
        do {
            try decoder.decode(testCase.document, into: event)
            guard case .accept(let numeric, let categorical, let missing, let id, let label, let timestamp) =
                testCase.expectation
            else {
                Issue.record("accepted, expected \(testCase.expectation)")
                return
            }
            let gotNumeric = Dictionary(event.numeric.map { (event.string($0.name), $0.value) }, uniquingKeysWith: { a, _ in a })
            #expect(gotNumeric.count == event.numeric.count)
            #expect(gotNumeric.keys.sorted() == numeric.keys.sorted())
            for (name, value) in numeric {
                #expect(gotNumeric[name]?.bitPattern == value.bitPattern, "\(name): \(gotNumeric[name] ?? .nan) vs \(value)")
            }
            let gotCategorical = Dictionary(
                event.categorical.map { (event.string($0.name), event.string($0.value)) }, uniquingKeysWith: { a, _ in a })
            #expect(gotCategorical == categorical)
            #expect(event.missing.map { event.string($0.name) } == missing)
            #expect(event.idString == id)
            #expect(event.label == label)
            #expect(event.timestampMilliseconds == timestamp)
        } catch {
            guard case .reject(let reason, let field) = testCase.expectation else {
                Issue.record("rejected with \(error), expected acceptance")
                return
            }
            #expect(error.reason == reason, "\(error)")
            #expect(error.field == field, "\(error)")
            #expect(error.offset >= 0 && error.offset <= testCase.document.count)
        }
    }

    @Test("Limits: string length, field count, document size and nesting depth")
    func limits() {
        var configuration = EventDecoderConfiguration()
        configuration.maxStringBytes = 4
        configuration.maxFields = 3
        configuration.maxDocumentBytes = 40
        configuration.maxDepth = 2
        configuration.ignoredFields = ["meta"]
        let decoder = EventDecoder(configuration: configuration)
        let event = DecodedEvent()
        func reason(_ text: String) -> EventDecodingError.Reason? {
            do {
                try decoder.decode(Array(text.utf8), into: event)
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(reason("{\"c\":\"abcd\"}") == nil)
        #expect(reason("{\"c\":\"abcde\"}") == .stringTooLong)
        #expect(reason("{\"c\":\"\\u00e9\\u00e9\"}") == nil)  // 4 bytes after unescaping
        #expect(reason("{\"abcde\":1}") == .stringTooLong)
        #expect(reason("{\"a\":1,\"b\":2,\"c\":3}") == nil)
        #expect(reason("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}") == .tooManyFields)
        // Keys read from the key-shape cache still count (the second of two alike documents takes the cache).
        #expect(reason("{\"a\":1,\"b\":2,\"c\":3}") == nil)
        #expect(reason("{\"a\":1,\"b\":2,\"c\":3}") == nil)
        #expect(reason("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}") == .tooManyFields)
        #expect(reason("{\"a\":1,\"b\":2,\"c\":3,          \"d\":4444444}") == .documentTooLarge)
        #expect(reason("{\"meta\":[[1]]}") == nil)
        #expect(reason("{\"meta\":[[[1]]]}") == .nestingTooDeep)
        #expect(reason("{\"meta\":{\"x\":[1,{\"y\":2}],\"z\":\"w\"},\"a\":1}") == .nestingTooDeep)
    }

    @Test("Keys read from the key-shape cache count towards the field limit, with a features object's keys")
    func fieldLimitOnCachedKeys() throws {
        var configuration = EventDecoderConfiguration()
        configuration.maxFields = 3
        let decoder = EventDecoder(configuration: configuration)
        let event = DecodedEvent()
        let accepted = Array("{\"a\":1,\"features\":{\"x\":1}}".utf8)
        try decoder.decode(accepted, into: event)
        try decoder.decode(accepted, into: event)
        do {
            try decoder.decode(Array("{\"a\":1,\"features\":{\"x\":1,\"y\":2}}".utf8), into: event)
            Issue.record("accepted 4 fields with a limit of 3")
        } catch {
            #expect(error.reason == .tooManyFields)
            #expect(error.field == "y")
        }
        try decoder.decode(accepted, into: event)
        #expect(event.numeric.map(\.value) == [1, 1])
    }

    @Test("Ignored fields are skipped whatever their value, but must still be valid JSON")
    func ignoredFields() throws {
        var configuration = EventDecoderConfiguration()
        configuration.ignoredFields = ["meta", "note"]
        let decoder = EventDecoder(configuration: configuration)
        let event = DecodedEvent()
        try decoder.decode(Array("{\"meta\":{\"a\":[1,2,{\"b\":null}]},\"note\":\"x\",\"v\":3}".utf8), into: event)
        #expect(event.numeric.map { event.string($0.name) } == ["v"])
        #expect(event.categorical.isEmpty)
        #expect(throws: EventDecodingError.self) { try decoder.decode(Array("{\"meta\":[1,]}".utf8), into: event) }
    }

    /// What a fresh decoder makes of a document: the error, or the features as text.
    static func outcome(_ decoder: EventDecoder, _ event: DecodedEvent, _ document: [UInt8]) -> String {
        do {
            try decoder.decode(document, into: event)
            let numeric = event.numeric.map { "\(event.string($0.name))=\($0.value.bitPattern)#\($0.nameHash)" }
            let categorical = event.categorical.map { "\(event.string($0.name))=\(event.string($0.value))" }
            let missing = event.missing.map { event.string($0.name) }
            return "ok \(numeric) \(categorical) \(missing) \(event.idString ?? "-") \(event.label.map(String.init) ?? "-") "
                + "\(event.timestampMilliseconds.map(String.init) ?? "-")"
        } catch {
            return "error \(error)"
        }
    }

    @Test("One decoder over a whole stream (its key-shape cache at work) gives what fresh decoders give")
    func sharedDecoderMatchesFresh() {
        let shared = EventDecoder()
        let sharedEvent = DecodedEvent()
        let otherEvent = DecodedEvent()
        // Each document twice (the second time its own shape is cached), interleaved with the next one, and
        // with two event buffers in turn.
        var documents: [[UInt8]] = []
        for (index, testCase) in corpus.enumerated() {
            documents += [testCase.document, testCase.document, corpus[(index + 1) % corpus.count].document]
        }
        for (index, document) in documents.enumerated() {
            let expected = Self.outcome(EventDecoder(), DecodedEvent(), document)
            let got = Self.outcome(shared, index % 4 == 3 ? otherEvent : sharedEvent, document)
            #expect(got == expected, "document \(index): \(String(decoding: document, as: UTF8.self).debugDescription)")
        }
    }

    @Test("Ids and labels read on the key-shape cache path decode as on the general path, or are rejected the same")
    func cachedIdAndLabel() {
        let ids = ["0", "7", "123456789012345", "1234567890123456", "12345678901234567890", "01", "1.0", "1e3", "-4",
                   "-0", "\"a-1\"", "null", "true", "[1]", "1.", "0x1"]
        let labels = ["0", "1", "01", "10", "1.0", "0.0", "1e0", "0E0", "2", "-0", "-1", "true", "false", "null",
                      "\"1\"", "0.5", "1.", "1x"]
        let decoder = EventDecoder()
        let event = DecodedEvent()
        for layout in ["{\"id\":ID,\"a\":1.5,\"label\":LABEL}", "{\"label\":LABEL,\"id\":ID}", "{\"id\":ID,\"label\":LABEL,\"b\":2}"] {
            for id in ids {
                for label in labels {
                    let document = Array(layout.replacingOccurrences(of: "ID", with: id).replacingOccurrences(of: "LABEL", with: label).utf8)
                    // Prime the cache with the layout's shape, then the document on the cached path.
                    _ = Self.outcome(decoder, event, Array(layout.replacingOccurrences(of: "ID", with: "9").replacingOccurrences(of: "LABEL", with: "1").utf8))
                    let expected = Self.outcome(EventDecoder(), DecodedEvent(), document)
                    #expect(Self.outcome(decoder, event, document) == expected, "\(String(decoding: document, as: UTF8.self))")
                }
            }
        }
    }

    @Test("The key-shape cache never skips validation", arguments: [
        ("{\"a\">0}", EventDecodingError.Reason.invalidJSON),
        ("{\"a\"9 1}", .invalidJSON),
        ("{\"a\":1,\"b\"2}", .invalidJSON),
        ("{\"a\":1,\"a\":2}", .duplicateKey),
        ("{\"a\":1,\"b\":2,\"a\":3}", .duplicateKey),
        ("{\"a\":1,\"b\":2,\"b\":3}", .duplicateKey),
        ("{\"a\":1,\"features\":{\"a\":2}}", .duplicateKey),
        ("{\"a\":1,\"b\":2,\"c\":3,\"features\":{\"c\":2}}", .duplicateKey),
        ("{\"a\":1,\"b\":2", .unexpectedEnd),
        ("{\"a\":1,\"b\":2,}", .invalidJSON),
        ("{\"a\":1,\"b\":1e999}", .nonFiniteNumber),
    ])
    func cacheKeepsValidation(document: String, reason: EventDecodingError.Reason) throws {
        let decoder = EventDecoder()
        let event = DecodedEvent()
        // Two shapes, so that both the colon-carrying and the plain patterns are cached in turn.
        for primer in ["{\"a\":1,\"b\":2,\"c\":3,\"features\":null}", "{ \"a\" : 1 , \"b\" : 2 }"] {
            try decoder.decode(Array(primer.utf8), into: event)
            try decoder.decode(Array(primer.utf8), into: event)
            do {
                try decoder.decode(Array(document.utf8), into: event)
                Issue.record("accepted \(document) after \(primer)")
            } catch {
                #expect(error.reason == reason, "\(document) after \(primer): \(error)")
            }
            // Accepted documents in other layouts still decode the same.
            try decoder.decode(Array("{\"b\":5,\"a\" :6}".utf8), into: event)
            #expect(event.numeric.map { event.string($0.name) } == ["b", "a"])
            #expect(event.numeric.map(\.value) == [5, 6])
        }
    }

    @Test("Numbers of 1 to 25 integer digits, with fractions of 0 to 20, signed or not, end where the document does or not: each equals strtod")
    func numbersOfEveryLength() throws {
        let decoder = EventDecoder()
        let event = DecodedEvent()
        let digits = Array("9876543210123456789012345")
        var checked = 0
        for integerLength in 1...digits.count {
            for fractionLength in [0, 1, 2, 3, 7, 8, 9, 12, 17, 20] {
                for padding in ["", " ", "        "] {
                    var number = String(digits[0..<integerLength])
                    if fractionLength > 0 { number += "." + String(digits.reversed()[0..<fractionLength]) }
                    for text in [number, "-" + number, "0." + String(repeating: "0", count: fractionLength) + number.filter { $0 != "." }] {
                        let document = "{\"x\":" + text + padding + "}"
                        try decoder.decode(Array(document.utf8), into: event)
                        let expected = strtod(text, nil)
                        #expect(event.numeric.first?.value == expected, "\(document)")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == 25 * 10 * 3 * 3)
        // A 20-digit integer ending in 0 keeps its last digit's power of ten (it used to be dropped).
        try decoder.decode(Array("{\"x\":98765432101234567890}".utf8), into: event)
        #expect(event.numeric.first?.value == 98_765_432_101_234_567_890.0)
        // A non-digit ends the number; junk after it is an error.
        try decoder.decode(Array("{\"x\":1234,\"y\":56789012}".utf8), into: event)
        #expect(event.numeric.map(\.value) == [1234, 56_789_012])
        #expect(throws: EventDecodingError.self) { try decoder.decode(Array("{\"x\":12345a78}".utf8), into: event) }
        #expect(throws: EventDecodingError.self) { try decoder.decode(Array("{\"x\":1.2345:789}".utf8), into: event) }
    }

    @Test("Decimals on the fast path (up to 2^53 over 10^22) equal strtod bit for bit: random, near powers of two, near halfway")
    func decimalsMatchStrtod() throws {
        let decoder = EventDecoder()
        let event = DecodedEvent()
        var random = SeededRandom(seed: 11)
        var texts: [String] = []
        for _ in 0..<200_000 {
            // Mantissas of every length up to 16 digits and 2^53, 1 to 22 decimals.
            let digits = 1 + Int(random.next() % 16)
            var mantissa = random.next() % UInt64(pow(10.0, Double(digits)))
            if random.next() % 50 == 0 { mantissa = 1 << 53 - random.next() % 3 }
            let decimals = 1 + Int(random.next() % 22)
            var text = String(mantissa)
            if text.count <= decimals { text = String(repeating: "0", count: decimals - text.count + 1) + text }
            text.insert(".", at: text.index(text.endIndex, offsetBy: -decimals))
            texts.append(text)
        }
        for power in -70...52 {
            // Just around powers of two (where the spacing of doubles halves) and just around halfway points.
            let value = pow(2.0, Double(power))
            for neighbour in [value.nextDown, value, value.nextUp, (value + value.nextUp) / 2] {
                var text = String(format: "%.22f", neighbour)
                while text.hasSuffix("0") { text.removeLast() }
                if text.hasSuffix(".") { text.removeLast() }
                texts.append(text)
            }
        }
        var checked = 0
        for text in texts {
            try decoder.decode(Array("{\"x\":\(text)}".utf8), into: event)
            let expected = strtod(text, nil)
            #expect(event.numeric.first?.value.bitPattern == expected.bitPattern, "\(text)")
            checked += 1
        }
        #expect(checked > 200_000)
    }

    @Test("A decoder and an event buffer are reusable: errors leave no state behind")
    func reuse() throws {
        let decoder = EventDecoder()
        let event = DecodedEvent()
        for round in 0..<100 {
            #expect(throws: EventDecodingError.self) { try decoder.decode(Array("{\"a\":1,\"a\":2}".utf8), into: event) }
            try decoder.decode(Array("{\"a\":\(round),\"b\":\"x\"}".utf8), into: event)
            #expect(event.numeric.count == 1)
            #expect(event.numeric[0].value == Double(round))
            #expect(event.string(event.categorical[0].value) == "x")
        }
    }
}
