import ArgumentParser
import Foundation
import Histogram
import OnlineLearning
import Simulation
import StreamCore
import StreamPipeline

#if canImport(Glibc)
import Glibc
#endif

struct BenchFeatures: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Keyed aggregates: their cost on the learn path, memory per key, a million keys' snapshot, memory on endless new keys.",
        discussion: """
            1. The learn path (decode, vectorize, score, join the late label, learn) over raw card-network \
            transactions, with and without six aggregates and two crosses: the best of three passes each, \
            alternating, and the ratio.
            2. --keys distinct cards through the nine aggregates of examples/fraud-features.yaml: resident memory \
            per key, the snapshot's size and its encoding and decoding times.
            3. Three times as many new cards again with a capacity of a tenth of them: resident memory at each third \
            (flat: keys beyond the capacity evict the least recently seen).
            4. A pipeline holding --keys cards scores and learns --events more, timing each event: alone, then while \
            a copy of its state is encoded on another thread every second (what the runtime's snapshot writer \
            does, one at a time), alternating twice; per-event p50, p99 and p99.9.

            Example:
              make bench-features
              streamlearn-bench features --events 100000 --keys 100000 --json
            """
    )

    @Option(help: "Transactions in the learn-path stream (label lines come on top).")
    var events: Int = 200_000

    @Option(help: "Distinct keys for the memory and snapshot figures.")
    var keys: Int = 1_000_000

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard events >= 1_000 else { throw ValidationError("--events must be at least 1000, got \(events)") }
        guard keys >= 1_000 else { throw ValidationError("--keys must be at least 1000, got \(keys)") }
    }

    static func window(_ text: String) -> Int64 {
        let scale: Int64 = text.hasSuffix("m") ? 60_000 : text.hasSuffix("h") ? 3_600_000 : 86_400_000
        return Int64(text.dropLast())! * scale
    }

    /// Six aggregates over card and merchant (velocity, amount z-score, distinct merchants, a new country, time
    /// since the last use, the merchant's fraud rate).
    static let six: [AggregateSpec] = [
        AggregateSpec(name: "card_count_10m", key: ["card"], function: .count, windowMilliseconds: window("10m")),
        AggregateSpec(name: "card_amount_z_30d", key: ["card"], function: .zscore, field: "amount", windowMilliseconds: window("30d")),
        AggregateSpec(name: "card_merchants_1h", key: ["card"], function: .distinct, field: "merchant", windowMilliseconds: window("1h")),
        AggregateSpec(name: "card_new_country", key: ["card"], function: .firstSeen, field: "country", windowMilliseconds: window("30d")),
        AggregateSpec(name: "card_since_last_s", key: ["card"], function: .sinceLast, windowMilliseconds: window("30d")),
        AggregateSpec(name: "merchant_fraud_rate_30d", key: ["merchant"], function: .targetRate, windowMilliseconds: window("30d")),
    ]

    /// examples/fraud-features.yaml's nine.
    static let nine: [AggregateSpec] = six + [
        AggregateSpec(name: "card_count_24h", key: ["card"], function: .count, windowMilliseconds: window("24h")),
        AggregateSpec(name: "card_new_device", key: ["card"], function: .firstSeen, field: "device", windowMilliseconds: window("30d")),
        AggregateSpec(name: "merchant_count_1h", key: ["merchant"], function: .count, windowMilliseconds: window("1h")),
    ]

    static func residentBytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }

    func run() async throws {
        var figures: [String: Double] = [:]
        try learnPath(&figures)
        try keyMemory(&figures)
        try snapshotLatency(&figures)
        try Output.figures(figures, json: json)
    }

    /// 1: the learn path's rate with and without the aggregates and crosses, alternating.
    func learnPath(_ figures: inout [String: Double]) throws {
        var settings = CardNetworkGenerator.Configuration()
        settings.events = events
        var generator = CardNetworkGenerator(configuration: settings)
        var payload: [UInt8] = []
        var bounds: [Range<Int>] = []
        func append(_ lines: [String]) {
            for line in lines {
                let start = payload.count
                payload.append(contentsOf: line.utf8)
                bounds.append(start..<payload.count)
            }
        }
        while generator.emitted < events { append(generator.next()) }
        append(generator.finish())
        func configuration(features: Bool) -> LearningPipelineConfiguration {
            var configuration = LearningPipelineConfiguration()
            if features {
                configuration.features.aggregation = AggregationConfiguration(aggregates: Self.six)
                configuration.features.interactions = [["card", "device"], ["card", "country"]]
            }
            var join = LabelJoin.Configuration()
            join.maxAge = .milliseconds(8 * 86_400_000)
            configuration.labelJoin = join
            return configuration
        }
        let decoder = EventDecoder()
        let event = DecodedEvent()
        func pass(features: Bool) throws -> (seconds: Double, prAUC: Double) {
            let pipeline = try LearningPipeline(configuration: configuration(features: features), raiser: AlertRaiser(model: .init(name: "bench", version: "1"), dispatcher: nil))
            let start = ContinuousClock.now
            try payload.withUnsafeBytes { bytes in
                for (record, range) in bounds.enumerated() {
                    let line = UnsafeRawBufferPointer(rebasing: bytes[range])
                    var rejection: EventDecodingError?
                    do throws(EventDecodingError) { try decoder.decode(line, into: event) } catch { rejection = error }
                    try pipeline.process(SourceCursor(record: record + 1, end: Int64(range.upperBound)), event, rejection)
                }
            }
            let seconds = (ContinuousClock.now - start).seconds
            return (seconds, pipeline.state.classifier.metrics.cumulative.summary.averagePrecision ?? .nan)
        }
        var plain = Double.infinity
        var featured = Double.infinity
        var plainPR = 0.0
        var featuredPR = 0.0
        for _ in 0..<3 {
            let without = try pass(features: false)
            let with = try pass(features: true)
            plain = min(plain, without.seconds)
            featured = min(featured, with.seconds)
            plainPR = without.prAUC
            featuredPR = with.prAUC
        }
        figures["learn path: lines/s without aggregates"] = (Double(bounds.count) / plain).rounded()
        figures["learn path: lines/s with six aggregates, two crosses"] = (Double(bounds.count) / featured).rounded()
        figures["learn path: rate with / without"] = ((plain / featured) * 1000).rounded() / 1000
        figures["pr_auc without aggregates"] = (plainPR * 10_000).rounded() / 10_000
        figures["pr_auc with aggregates"] = (featuredPR * 10_000).rounded() / 10_000
    }

    /// 2 and 3: memory per key, the snapshot of `keys` keys, and memory on endless new keys.
    func keyMemory(_ figures: inout [String: Double]) throws {
        let decoder = EventDecoder()
        let event = DecodedEvent()
        let start: Int64 = 1_767_225_600_000
        let countries = ["US", "GB", "DE", "FR", "BR"]
        func feed(_ aggregates: inout KeyedAggregates, from first: Int, count: Int) throws {
            var vector = FeatureVector()
            vector.dense = Array(repeating: 0, count: aggregates.configuration.aggregates.count)
            let slots = Array(0..<aggregates.configuration.aggregates.count)
            for index in first..<(first + count) {
                let line = #"{"ts":\#(start + Int64(index)),"card":"c\#(index)","merchant":"m\#(index % 100)","amount":\#(10 + index % 97),"country":"\#(countries[index % 5])","device":"d\#(index % 50_000)"}"#
                try decoder.decode(Array(line.utf8), into: event)
                aggregates.apply(event, slots: slots, into: &vector, update: true)
            }
        }
        var configuration = AggregationConfiguration(aggregates: Self.nine)
        configuration.capacity = max(keys, 1 << 20)
        var aggregates = try KeyedAggregates(configuration: configuration)
        let before = Self.residentBytes()
        try feed(&aggregates, from: 0, count: keys)
        let after = Self.residentBytes()
        figures["keys held (cards + merchants)"] = Double(aggregates.keyCount)
        figures["resident bytes per card (nine aggregates)"] = ((after - before) / Double(keys)).rounded()
        let encodeStart = ContinuousClock.now
        let data = try JSONEncoder().encode(aggregates)
        figures["snapshot: encode seconds"] = ((ContinuousClock.now - encodeStart).seconds * 1000).rounded() / 1000
        figures["snapshot: bytes per card"] = (Double(data.count) / Double(keys)).rounded()
        let decodeStart = ContinuousClock.now
        let restored = try JSONDecoder().decode(KeyedAggregates.self, from: data)
        figures["snapshot: decode seconds"] = ((ContinuousClock.now - decodeStart).seconds * 1000).rounded() / 1000
        guard restored.keyCount == aggregates.keyCount else { throw ValidationError("the snapshot lost keys") }

        // Endless new keys against a capacity of a tenth of them: memory stays where the capacity puts it.
        var bounded = AggregationConfiguration(aggregates: Self.nine)
        bounded.capacity = keys / 10
        var endless = try KeyedAggregates(configuration: bounded)
        var samples: [Double] = []
        for third in 0..<3 {
            try feed(&endless, from: keys * (1 + third), count: keys)
            samples.append(Self.residentBytes())
        }
        figures["new keys: resident MiB after 1× keys"] = (samples[0] / 1_048_576).rounded()
        figures["new keys: resident MiB after 3× keys"] = (samples[2] / 1_048_576).rounded()
        figures["new keys: keys held"] = Double(endless.keysPerGroup[0])
        figures["new keys: evicted"] = Double(endless.counts.evicted)
    }

    /// 4: per-event time of a pipeline holding `keys` cards, with and without its state being snapshotted.
    func snapshotLatency(_ figures: inout [String: Double]) throws {
        var configuration = LearningPipelineConfiguration()
        var aggregation = AggregationConfiguration(aggregates: Self.nine)
        aggregation.capacity = max(keys, 1 << 20)
        configuration.features.aggregation = aggregation
        configuration.labelJoin = nil
        let pipeline = try LearningPipeline(
            configuration: configuration, raiser: AlertRaiser(model: .init(name: "bench", version: "1"), dispatcher: nil))
        let decoder = EventDecoder()
        let event = DecodedEvent()
        let start: Int64 = 1_767_225_600_000
        var random = SeededRandom(seed: 3)
        var index = 0
        var line: [UInt8] = []
        line.reserveCapacity(256)
        /// The next event: the first `keys` each a new card, then cards at random among them.
        func next() throws {
            let card = index < keys ? index : Int(random.next() % UInt64(keys))
            let text = #"{"ts":\#(start + Int64(index) * 100),"card":"c\#(card)","merchant":"m\#(card % 100)","amount":\#(10 + index % 97),"country":"US","device":"d\#(card % 50_000)","label":\#(index % 50 == 0 ? 1 : 0)}"#
            line.removeAll(keepingCapacity: true)
            line.append(contentsOf: text.utf8)
            try decoder.decode(line, into: event)
            index += 1
        }
        for _ in 0..<keys {
            try next()
            try pipeline.process(SourceCursor(record: index, end: Int64(index)), event, nil)
        }
        let perPhase = max(events * 5, 10_000)
        var alone = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        var snapshotting = alone
        var written = 0
        let encoded = DispatchGroup()
        for round in 0..<4 {
            let withSnapshots = round % 2 == 1
            var lastSnapshot = ContinuousClock.now
            for _ in 0..<perPhase {
                try next()
                let began = ContinuousClock.now
                try pipeline.process(SourceCursor(record: index, end: Int64(index)), event, nil)
                let now = ContinuousClock.now
                let nanoseconds = UInt64((now - began).components.attoseconds / 1_000_000_000)
                if withSnapshots {
                    _ = snapshotting.record(nanoseconds)
                    // One at a time, as the runtime's writer: the next is due a second after the last began.
                    if now - lastSnapshot >= .seconds(1), encoded.wait(timeout: .now()) == .success {
                        // The runtime's capture: a copy of the state (its pages shared), encoded elsewhere.
                        let copy = pipeline.state
                        written += 1
                        DispatchQueue.global(qos: .utility).async(group: encoded) { _ = try? Snapshot.encode(copy) }
                        lastSnapshot = now
                    }
                } else {
                    _ = alone.record(nanoseconds)
                }
            }
            encoded.wait()
        }
        func microseconds(_ value: UInt64) -> Double { (Double(value) / 100).rounded() / 10 }
        figures["per event, alone: p50 µs"] = microseconds(alone.valueAtPercentile(50))
        figures["per event, alone: p99 µs"] = microseconds(alone.valueAtPercentile(99))
        figures["per event, alone: p99.9 µs"] = microseconds(alone.valueAtPercentile(99.9))
        figures["per event, snapshots written: p50 µs"] = microseconds(snapshotting.valueAtPercentile(50))
        figures["per event, snapshots written: p99 µs"] = microseconds(snapshotting.valueAtPercentile(99))
        figures["per event, snapshots written: p99.9 µs"] = microseconds(snapshotting.valueAtPercentile(99.9))
        figures["per event: snapshots of the keys written"] = Double(written)
    }
}
