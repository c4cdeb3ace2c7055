import Foundation
import Simulation
import StreamCore
import Testing

/// Seeded mutation fuzzing with Foundation's `JSONSerialization` as the oracle.
@Suite("Event decoder fuzz against JSONSerialization")
struct EventDecoderFuzzTests {
    /// Seeds: generated transactions and every corpus document, with a few richer events.
    static let seeds: [[UInt8]] = {
        var seeds: [[UInt8]] = corpus.map(\.document)
        var generator = TransactionGenerator(seed: 99)
        for _ in 0..<50 { seeds.append(Array(generator.next().json.utf8)) }
        seeds += [
            "{\"id\":\"t-1\",\"label\":1,\"ts\":\"2026-01-01T00:00:00Z\",\"amount\":1.5e2,\"c\":\"\\u00e9\\n\",\"n\":null,\"b\":true}",
            "{\"features\":{\"x\":-0.25,\"y\":\"caf\u{E9}\",\"z\":false},\"id\":7}",
            "{\"a\":123456789012345678901234567890,\"b\":1e-320,\"c\":0.1e1,\"d\":\"\\uD83D\\uDE00\"}",
        ].map { Array($0.utf8) }
        return seeds
    }()

    /// Bytes a mutation inserts: JSON's structural and escape characters, digits, letters, and UTF-8 fragments.
    static let alphabet: [UInt8] = Array("{}[]:,\"\\/ \t\n\r0123456789-+.eEtrufalsn".utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xA9, 0xED, 0xF0, 0xFF]

    static func mutate(_ seed: [UInt8], _ random: inout SeededRandom) -> [UInt8] {
        var bytes = seed
        let mutations = 1 + Int(random.next() % 3)
        for _ in 0..<mutations {
            let position = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count + 1))
            switch random.next() % 7 {
            case 0 where !bytes.isEmpty && position < bytes.count:  // replace
                bytes[position] = alphabet[Int(random.next() % UInt64(alphabet.count))]
            case 1:  // insert
                bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: position)
            case 2 where position < bytes.count:  // delete
                bytes.remove(at: position)
            case 3 where !bytes.isEmpty:  // truncate
                bytes.removeSubrange(position...)
            case 4 where position < bytes.count:  // duplicate a run
                let end = min(bytes.count, position + 1 + Int(random.next() % 12))
                bytes.insert(contentsOf: bytes[position..<end], at: end)
            case 5 where position < bytes.count:  // flip a bit
                bytes[position] ^= UInt8(1 << (random.next() % 8))
            default:  // splice a digit run
                bytes.insert(contentsOf: Array(String(random.next() % 100_000).utf8), at: position)
            }
        }
        return bytes
    }

    @Test("100,000 mutated documents: accept/reject and every decoded value agree with JSONSerialization")
    func fuzzAgainstFoundation() throws {
        var random = SeededRandom(seed: 20_261_122)
        let decoder = EventDecoder()
        let event = DecodedEvent()
        var accepted = 0
        var rejectedByBoth = 0
        var rejectedByRuleOnly = 0
        var foundationLaxities = 0
        var foundationInexact = 0
        var disagreements: [String] = []
        for iteration in 0..<100_000 {
            let seed = Self.seeds[Int(random.next() % UInt64(Self.seeds.count))]
            let document = Self.mutate(seed, &random)
            let oracle = try? JSONSerialization.jsonObject(with: Data(document), options: [.fragmentsAllowed])
            var ours: EventDecodingError?
            do {
                try decoder.decode(document, into: event)
            } catch {
                ours = error
            }
            let text = String(decoding: document, as: UTF8.self).debugDescription
            switch (oracle, ours) {
            case (nil, nil):
                disagreements.append("#\(iteration) we accepted what Foundation refused: \(text)")
            case (nil, .some):
                rejectedByBoth += 1
            case (.some, .some(let error)):
                if error.reason.isValidJSON {
                    rejectedByRuleOnly += 1
                } else if Self.isFoundationLaxity(document, decoder: decoder) {
                    foundationLaxities += 1
                } else {
                    disagreements.append("#\(iteration) Foundation accepted, we said not JSON (\(error)): \(text)")
                }
            case (.some(let object), nil):
                accepted += 1
                if let problem = Self.compare(object, event, document: document, inexact: &foundationInexact) {
                    disagreements.append("#\(iteration) values differ (\(problem)): \(text)")
                }
            }
            if disagreements.count >= 20 { break }
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
        print(
            "fuzz: accepted \(accepted), rejected by both \(rejectedByBoth), rejected by our rules only "
                + "\(rejectedByRuleOnly), Foundation laxities \(foundationLaxities), Foundation inexact numbers "
                + "\(foundationInexact)")
        // The mutations must exercise both sides, or the test proves nothing.
        #expect(accepted > 5_000)
        #expect(rejectedByBoth > 20_000)
        #expect(rejectedByRuleOnly > 1_000)
    }

    /// Foundation (swift-corelibs-foundation) accepts trailing commas (`[1,]`, `{"a":1,}`) and a leading byte
    /// order mark, which RFC 8259 does not. A document is such a case if, with those removed, we accept it or
    /// refuse it only for one of our own rules.
    static func isFoundationLaxity(_ document: [UInt8], decoder: EventDecoder) -> Bool {
        var bytes = document
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var cleaned: [UInt8] = []
        var inString = false
        var escaped = false
        for (index, byte) in bytes.enumerated() {
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
            } else if byte == 0x22 {
                inString = true
            } else if byte == UInt8(ascii: ",") {
                let next = bytes[(index + 1)...].first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
                if next == UInt8(ascii: "}") || next == UInt8(ascii: "]") { continue }
            }
            cleaned.append(byte)
        }
        guard cleaned != document else { return false }
        do {
            try decoder.decode(cleaned, into: DecodedEvent())
            return true
        } catch {
            return error.reason.isValidJSON
        }
    }

    /// The text of the number following `"name":` in `document`, for names written without escapes.
    static func numberText(of name: String, in document: [UInt8]) -> String? {
        let text = String(decoding: document, as: UTF8.self)
        guard let keyRange = text.range(of: "\"\(name)\"") else { return nil }
        var rest = text[keyRange.upperBound...].drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        let number = rest.prefix { "-+.eE0123456789".contains($0) }
        return number.isEmpty ? nil : String(number)
    }

    /// Compares Foundation's object with the decoded event; returns what differs.
    ///
    /// Numbers must match Foundation exactly, except where Foundation's parse is not correctly rounded (it is
    /// not, for some long mantissas: `2.2250738585072014e-08` gives `2.2250738585072002e-08`); there ours must
    /// equal Swift's correctly rounded `Double(String)` and Foundation's must be within 1e-14 relative.
    static func compare(_ object: Any, _ event: DecodedEvent, document: [UInt8], inexact: inout Int) -> String? {
        guard let dictionary = object as? [String: Any] else { return "Foundation gave no object" }
        var numeric: [String: Double] = [:]
        var categorical: [String: String] = [:]
        var missing: Set<String> = []
        func collect(_ members: [String: Any], topLevel: Bool) -> String? {
            for (key, value) in members {
                if topLevel, ["id", "label", "ts"].contains(key) { continue }
                if topLevel, key == "features" {
                    if value is NSNull { continue }
                    guard let nested = value as? [String: Any] else { return "features is not an object" }
                    if let problem = collect(nested, topLevel: false) { return problem }
                    continue
                }
                switch value {
                case is NSNull: missing.insert(key)
                case let string as String: categorical[key] = string
                case let number as NSNumber: numeric[key] = number.doubleValue
                default: return "unexpected value for \(key)"
                }
            }
            return nil
        }
        if let problem = collect(dictionary, topLevel: true) { return problem }
        let ourNumeric = Dictionary(event.numeric.map { (event.string($0.name), $0.value) }, uniquingKeysWith: { a, _ in a })
        let ourCategorical = Dictionary(
            event.categorical.map { (event.string($0.name), event.string($0.value)) }, uniquingKeysWith: { a, _ in a })
        let ourMissing = Set(event.missing.map { event.string($0.name) })
        if ourNumeric.keys.sorted() != numeric.keys.sorted() { return "numeric names \(ourNumeric.keys.sorted()) vs \(numeric.keys.sorted())" }
        for (name, value) in numeric where ourNumeric[name]!.bitPattern != value.bitPattern {
            let ours = ourNumeric[name]!
            guard ours != 0 || value != 0 else { continue }  // Foundation reads the integer `-0` as +0
            guard let text = numberText(of: name, in: document), let exact = Double(text) else {
                return "\(name): \(ours) vs Foundation \(value) (number text not found)"
            }
            guard ours.bitPattern == exact.bitPattern else { return "\(name): \(ours) vs correctly rounded \(exact)" }
            guard abs(value - exact) <= 1e-14 * abs(exact) else { return "\(name): Foundation \(value) far from \(exact)" }
            inexact += 1
        }
        if ourCategorical != categorical { return "categorical \(ourCategorical) vs \(categorical)" }
        if ourMissing != missing { return "missing \(ourMissing) vs \(missing)" }
        if let id = dictionary["id"] {
            let expected = (id as? String) ?? (id as? NSNumber).map { "\($0.int64Value)" }
            if event.idString != expected { return "id \(event.idString ?? "nil") vs \(expected ?? "nil")" }
        }
        return nil
    }
}
