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

        // EventDecoder
        let decoder = EventDecoder()
        let event = DecodedEvent()
        var sum = 0.0
        results.append(
            (
                "EventDecoder",
                try bestRate(of: events, passes: 5) {
                    try payload.withUnsafeBytes { bytes in
                        for range in bounds {
                            try decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[range]), into: event)
                            sum += event.numeric.first?.value ?? 1
                        }
                    }
                }
            ))

        // Decode + feature hashing + online standardisation, inline and decoded ahead on a second thread (as
        // `learn` and `drift` read files).
        var vectorizer = FeatureVectorizer()
        var standardizer = OnlineStandardizer()
        var vector = FeatureVector()
        results.append(
            (
                "decode + vectorize + standardise",
                try bestRate(of: events, passes: 5) {
                    try payload.withUnsafeBytes { bytes in
                        for range in bounds {
                            try decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[range]), into: event)
                            vectorizer.vectorize(event, into: &vector)
                            standardizer.update(vector)
                            standardizer.standardize(&vector)
                            sum += vector.dense.first ?? 1
                        }
                    }
                }
            ))
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
        precondition(sum != 0 && foundationSum != 0)

        if json {
            var object: [String: Any] = ["events": events, "event_bytes": payload.count / events]
            for (name, rate) in results { object[name] = rate }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Output.line(String(decoding: data, as: UTF8.self))
        } else {
            Output.line(
                "events        \(events) of \(payload.count / events) bytes"
                    + (file == nil ? " (id + 20 numeric fields)" : " from \(file!)"))
            for (name, rate) in results {
                Output.line("\(name.padding(toLength: 58, withPad: " ", startingAt: 0)) \(Int(rate)) events/s")
            }
        }
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
