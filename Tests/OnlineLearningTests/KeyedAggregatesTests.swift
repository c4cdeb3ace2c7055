import Foundation
@testable import OnlineLearning
import StreamCore
import Testing

/// Keyed aggregates, value by value: each is read from the key's history before its event is added.
@Suite("Keyed aggregates")
struct KeyedAggregatesTests {
    static let encoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()
    let decoder = EventDecoder()
    let event = DecodedEvent()

    static let names = [
        "count", "sum", "mean", "min", "max", "std", "z", "merchants", "since", "new_country", "rate", "frauds",
    ]

    static func configuration(lateness: Int64 = 0, capacity: Int = 1 << 20) -> AggregationConfiguration {
        var configuration = AggregationConfiguration(aggregates: [
            AggregateSpec(name: "count", key: ["card"], function: .count, windowMilliseconds: 60_000, buckets: 6),
            AggregateSpec(name: "sum", key: ["card"], function: .sum, field: "amount", windowMilliseconds: 60_000, buckets: 6),
            AggregateSpec(name: "mean", key: ["card"], function: .mean, field: "amount", windowMilliseconds: 60_000, buckets: 6),
            AggregateSpec(name: "min", key: ["card"], function: .min, field: "amount", windowMilliseconds: 60_000, buckets: 6),
            AggregateSpec(name: "max", key: ["card"], function: .max, field: "amount", windowMilliseconds: 60_000, buckets: 6),
            AggregateSpec(name: "std", key: ["card"], function: .std, field: "amount", windowMilliseconds: 60_000, buckets: 6),
            AggregateSpec(name: "z", key: ["card"], function: .zscore, field: "amount", windowMilliseconds: 60_000, buckets: 6),
            AggregateSpec(name: "merchants", key: ["card"], function: .distinct, field: "merchant", windowMilliseconds: 60_000),
            AggregateSpec(name: "since", key: ["card"], function: .sinceLast, windowMilliseconds: 60_000),
            AggregateSpec(name: "new_country", key: ["card"], function: .firstSeen, field: "country", windowMilliseconds: 60_000),
            AggregateSpec(name: "rate", key: ["merchant"], function: .targetRate, windowMilliseconds: 60_000, buckets: 6),
            AggregateSpec(name: "frauds", key: ["merchant"], function: .targetCount, windowMilliseconds: 60_000, buckets: 6),
        ])
        configuration.allowedLatenessMilliseconds = lateness
        configuration.capacity = capacity
        return configuration
    }

    /// Applies one event; returns its aggregates by name (NaN: missing) and its target keys.
    func apply(
        _ aggregates: inout KeyedAggregates, _ json: String, update: Bool = true
    ) throws -> (values: [String: Double], keys: [UInt64]) {
        try decoder.decode(Array(json.utf8), into: event)
        var vector = FeatureVector()
        vector.dense = Array(repeating: -1, count: Self.names.count)
        aggregates.apply(event, slots: Array(0..<aggregates.configuration.aggregates.count), into: &vector, update: update)
        var values: [String: Double] = [:]
        for (index, spec) in aggregates.configuration.aggregates.enumerated() { values[spec.name] = vector.dense[index] }
        return (values, vector.targetKeys)
    }

    func transaction(_ seconds: Double, card: String = "c1", amount: Double, merchant: String = "m1", country: String = "US")
        -> String
    {
        #"{"ts":\#(Int64(seconds * 1000)),"card":"\#(card)","merchant":"\#(merchant)","amount":\#(amount),"country":"\#(country)"}"#
    }

    @Test("Count, sum, mean, min, max, std, z-score, distinct, since-last and first-seen before each event is added")
    func windowedValues() throws {
        var aggregates = try KeyedAggregates(configuration: Self.configuration())
        let first = try apply(&aggregates, transaction(0, amount: 10)).values
        #expect(first["count"] == 0 && first["sum"] == 0 && first["merchants"] == 0 && first["new_country"] == 1)
        #expect(first["mean"]!.isNaN && first["min"]!.isNaN && first["std"]!.isNaN && first["since"]!.isNaN)
        let second = try apply(&aggregates, transaction(10, amount: 20, merchant: "m2")).values
        #expect(second["count"] == 1 && second["sum"] == 10 && second["mean"] == 10 && second["min"] == 10)
        #expect(second["max"] == 10 && second["std"] == 0 && second["since"] == 10 && second["merchants"] == 1)
        #expect(second["z"]!.isNaN)  // one value: no spread yet
        #expect(second["new_country"] == 0)
        let third = try apply(&aggregates, transaction(20, amount: 60, country: "BR")).values
        #expect(third["count"] == 2 && third["sum"] == 30 && third["mean"] == 15 && third["min"] == 10 && third["max"] == 20)
        #expect(third["std"] == 5 && third["z"] == 9 && third["merchants"] == 2 && third["new_country"] == 1)
        // 75 s: the 60 s window in 10 s buckets holds buckets 2…7, so only the event at 20 s.
        let fourth = try apply(&aggregates, transaction(75, amount: 1, country: "BR")).values
        #expect(fourth["count"] == 1 && fourth["sum"] == 60 && fourth["min"] == 60 && fourth["since"] == 55)
        #expect(fourth["new_country"] == 0)
        // 85 s: US was last seen at 10 s, out of the window: new again; m2 (10 s) left the distinct count.
        let fifth = try apply(&aggregates, transaction(85, amount: 1, merchant: "m1")).values
        #expect(fifth["new_country"] == 1 && fifth["merchants"] == 1 && fifth["count"] == 1)
    }

    @Test("A target rate changes only when a label is learned, starting from the global rate")
    func targetRateWithoutLeakage() throws {
        var aggregates = try KeyedAggregates(configuration: Self.configuration())
        let scored = try apply(&aggregates, transaction(0, amount: 10))
        #expect(scored.values["rate"] == 0.5 && scored.values["frauds"] == 0)  // (0 + 1) / (0 + 2), no labels
        // The next event of the merchant, before the first one's label: still nothing learned.
        let before = try apply(&aggregates, transaction(1, card: "c2", amount: 10))
        #expect(before.values["rate"] == 0.5 && before.values["frauds"] == 0)
        aggregates.learnLabel(keys: scored.keys, positive: true, at: 2_000)
        let after = try apply(&aggregates, transaction(3, card: "c3", amount: 10)).values
        // Global (1 + 1) / (1 + 2); the merchant's 1 of 1 shrunk by a prior of 10 labels.
        #expect(abs(after["rate"]! - (1 + 10 * 2.0 / 3) / 11) < 1e-15)
        #expect(after["frauds"] == 1)
        // Another merchant starts at the global rate.
        let other = try apply(&aggregates, transaction(4, amount: 10, merchant: "m9")).values
        #expect(abs(other["rate"]! - 2.0 / 3) < 1e-15 && other["frauds"] == 0)
        // 70 s later the label (learned at 2 s) left the 60 s window.
        let later = try apply(&aggregates, transaction(75, amount: 10)).values
        #expect(later["frauds"] == 0)
    }

    @Test("Late events are counted, scored against the state as it is, and not added")
    func lateness() throws {
        var aggregates = try KeyedAggregates(configuration: Self.configuration(lateness: 5_000))
        _ = try apply(&aggregates, transaction(20, amount: 10))
        _ = try apply(&aggregates, transaction(17, amount: 10))  // within the lateness: added
        #expect(aggregates.counts.late == 0)
        // It sees the history up to its own time's bucket (10–20 s, which holds the event at 17 s).
        let late = try apply(&aggregates, transaction(10, amount: 10)).values
        #expect(aggregates.counts.late == 1 && late["count"] == 1)
        let next = try apply(&aggregates, transaction(21, amount: 10)).values
        #expect(next["count"] == 2)
        _ = try apply(&aggregates, #"{"card":"c1","amount":3}"#)
        #expect(aggregates.counts.untimed == 1)
    }

    @Test("Keys are bounded: the least recently seen is evicted at capacity, idle keys expire")
    func boundedKeys() throws {
        var aggregates = try KeyedAggregates(configuration: Self.configuration(capacity: 100))
        for index in 0..<10_000 {
            _ = try apply(&aggregates, transaction(Double(index) / 1000, card: "c\(index)", amount: 1))
        }
        #expect(aggregates.keysPerGroup == [100, 1])
        #expect(aggregates.counts.evicted == 9_900)
        #expect(aggregates.groups[0].recordsAllocated == 100)
        // The most recent key is kept; the first is gone and starts again.
        #expect(try apply(&aggregates, transaction(10, card: "c9999", amount: 1)).values["count"] == 1)
        #expect(try apply(&aggregates, transaction(10, card: "c0", amount: 1)).values["count"] == 0)
        // 61 s later every card of the first 10 s is idle past the 60 s window: dropped on the next event.
        _ = try apply(&aggregates, transaction(71, card: "new", amount: 1))
        #expect(aggregates.keysPerGroup == [1, 1])
        #expect(aggregates.counts.expired == 101)  // the 100 cards and the merchant
    }

    @Test("Reading without update leaves the state as it was")
    func readOnly() throws {
        var aggregates = try KeyedAggregates(configuration: Self.configuration())
        _ = try apply(&aggregates, transaction(0, amount: 10))
        let before = try Self.encoder.encode(aggregates)
        let read = try apply(&aggregates, transaction(5, card: "c2", amount: 99), update: false).values
        #expect(read["count"] == 0)
        let after = try Self.encoder.encode(aggregates)
        #expect(after == before, "\(String(decoding: before, as: UTF8.self))\n\(String(decoding: after, as: UTF8.self))")
    }

    @Test("A snapshot round trip continues bit for bit")
    func snapshotRoundTrip() throws {
        var aggregates = try KeyedAggregates(configuration: Self.configuration(capacity: 50))
        var random = SeededRandom(seed: 5)
        var keys: [[UInt64]] = []
        for index in 0..<400 {
            let card = "c\(random.next() % 80)"
            let result = try apply(&aggregates, transaction(Double(index) * 0.5, card: card, amount: Double(random.next() % 500) / 7, merchant: "m\(random.next() % 5)"))
            keys.append(result.keys)
            if index % 3 == 0 { aggregates.learnLabel(keys: keys[index / 2], positive: index % 2 == 0, at: Int64(index) * 500) }
        }
        let data = try Self.encoder.encode(aggregates)
        var restored = try JSONDecoder().decode(KeyedAggregates.self, from: data)
        #expect(restored == aggregates)
        let again = try Self.encoder.encode(restored)
        #expect(again == data, "\(String(decoding: data, as: UTF8.self).prefix(3000))\n\(String(decoding: again, as: UTF8.self).prefix(3000))")
        for index in 400..<600 {
            let json = transaction(Double(index) * 0.5, card: "c\(index % 90)", amount: Double(index % 13), merchant: "m\(index % 4)")
            let original = try apply(&aggregates, json).values
            let continued = try apply(&restored, json).values
            for name in Self.names { #expect(original[name]!.bitPattern == continued[name]!.bitPattern, "\(name) at \(index)") }
        }
        #expect(try Self.encoder.encode(restored) == (try Self.encoder.encode(aggregates)))
    }

    @Test("Configuration errors name the aggregate and key")
    func validation() {
        var configuration = Self.configuration()
        configuration.aggregates[1].field = nil
        #expect(throws: AggregationError(path: "aggregates[1].field", reason: "is required for sum")) {
            try configuration.validate()
        }
        configuration = Self.configuration()
        configuration.aggregates[0].windowMilliseconds = 31 * 86_400_000
        #expect(throws: AggregationError(path: "aggregates[0].window", reason: "must be from 1 s to 30 days, got 2678400000 ms")) {
            try configuration.validate()
        }
        configuration = Self.configuration()
        configuration.aggregates[2].name = "count"
        #expect(throws: AggregationError(path: "aggregates[2].name", reason: "'count' is used twice")) {
            try configuration.validate()
        }
    }

    @Test("A classifier with aggregates holds its events' keys for their labels, and its snapshot continues bit for bit")
    func classifierWithAggregates() throws {
        var features = FeatureSpaceConfiguration()
        features.aggregation = Self.configuration()
        features.interactions = [["merchant", "country"], ["card", "merchant", "country"]]
        var classifier = try ProgressiveClassifier(features: features)
        #expect(Array(classifier.vectorizer.schema.names.prefix(3)) == ["count", "sum", "mean"])
        for index in 0..<300 {
            try decoder.decode(Array(transaction(Double(index), card: "c\(index % 7)", amount: Double(index % 11), merchant: "m\(index % 3)").utf8), into: event)
            _ = try classifier.score(event)
            let held = classifier.lastVector
            #expect(held.targetKeys.count == 1)
            #expect(held.hashedIndices.count == 5)  // 3 categorical fields and 2 crosses
            try classifier.learn(held, label: index % 5 == 0, score: 0.5, labelTime: Int64(index) * 1000)
        }
        let data = try Snapshot.encode(classifier)
        var restored = try Snapshot.decode(ProgressiveClassifier.self, from: data)
        #expect(try Snapshot.encode(restored) == data)
        try decoder.decode(Array(transaction(301, card: "c1", amount: 3).utf8), into: event)
        #expect(classifier.predict(event).bitPattern == restored.predict(event).bitPattern)
        #expect(classifier.aggregates!.counts.labels == 300)
        // The largest weights by name: aggregates by theirs, hashed features by the name first met in their bucket.
        let weights = classifier.largestWeights(count: 100)
        let names = Set(weights.map(\.feature))
        #expect(names.contains("count") && names.contains("merchant=m1") && names.contains("merchant=m2×country=US"), "\(names)")
        #expect(zip(weights, weights.dropFirst()).allSatisfy { abs($0.weight) >= abs($1.weight) })
        #expect(classifier.vectorizer.hashedNames.count == 7 + 3 + 1 + 3 + 21)  // cards, merchants, a country, the crosses
    }
}
