import Foundation
import Testing

/// Fraud features from raw transactions, end to end through the command line: the generator, keyed aggregates on
/// a file, and the leakage rule.
@Suite("streamlearn fraud features")
struct FraudFeatureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let features = root.appendingPathComponent("examples/fraud-features.yaml").path

    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("features-\(UUID())-\(name)").path
    }

    static func learn(_ arguments: [String]) throws -> [String: Any] {
        let result = try CLI.run(["learn", "--json"] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test("generate card-network: raw fields only, labels later in time order, about 1.7% fraud, the same bytes for a seed")
    func generator() throws {
        let file = Self.temporary("raw.jsonl")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let arguments = ["generate", "card-network", "--events", "20000", "--cards", "1000", "--days", "5", "--seed", "3"]
        #expect(try CLI.run(arguments + [file]).status == 0)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(try CLI.run(arguments + ["-"]).stdout == text)
        let lines = text.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let events = lines.filter { $0["card"] != nil }
        let labels = lines.filter { $0["label"] != nil }
        #expect(events.count == 20_000 && labels.count == 20_000)
        #expect(Set(events[0].keys) == ["id", "ts", "card", "merchant", "merchant_category", "amount", "country", "channel", "device"])
        let times = lines.map { $0["ts"] as! Int }
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 })
        var eventTime: [Int: Int] = [:]
        for event in events { eventTime[event["id"] as! Int] = event["ts"] as? Int }
        // Every label comes at least a day after its event.
        #expect(labels.allSatisfy { ($0["ts"] as! Int) - eventTime[$0["id"] as! Int]! >= 86_400_000 })
        let frauds = labels.filter { $0["label"] as? Int == 1 }.count
        #expect((200...500).contains(frauds), "\(frauds) frauds")
    }

    @Test("Keyed aggregates on a file beat the raw fields on PR-AUC; with the labels shuffled they rank no better than chance")
    func aggregatesWithoutLeakage() throws {
        let file = Self.temporary("raw.jsonl")
        let shuffled = Self.temporary("shuffled.jsonl")
        defer {
            try? FileManager.default.removeItem(atPath: file)
            try? FileManager.default.removeItem(atPath: shuffled)
        }
        #expect(try CLI.run(["generate", "card-network", "--events", "60000", "--cards", "3000", "--days", "10", "--seed", "1", file]).status == 0)
        let history = try Self.learn(["--features", Self.features, file])
        let raw = try Self.learn([file])
        let historyPR = history["average_precision"] as! Double
        let rawPR = raw["average_precision"] as! Double
        #expect(historyPR >= 0.25 && historyPR > rawPR + 0.2, "history \(historyPR), raw \(rawPR)")
        let aggregates = try #require(history["aggregates"] as? [String: Any])
        #expect(aggregates["labels"] as? Int == 60_000 && aggregates["late"] as? Int == 0)

        // The same stream with its labels permuted among the label lines (a seeded shuffle): nothing left to learn,
        // so a feature that saw its own label (or a label before it was known) would show as ranking above chance.
        var lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        let labelLines = lines.indices.filter { lines[$0].hasSuffix("\"label\":0}") || lines[$0].hasSuffix("\"label\":1}") }
        var values = labelLines.map { lines[$0].hasSuffix("1}") }
        var state: UInt64 = 42
        for index in stride(from: values.count - 1, to: 0, by: -1) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            values.swapAt(index, Int((state >> 33) % UInt64(index + 1)))
        }
        for (position, index) in labelLines.enumerated() {
            lines[index] = String(lines[index].dropLast(2)) + (values[position] ? "1}" : "0}")
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: shuffled, atomically: true, encoding: .utf8)
        let blind = try Self.learn(["--features", Self.features, shuffled])
        let auc = blind["roc_auc"] as! Double
        #expect(auc > 0.45 && auc < 0.55, "ROC-AUC \(auc) on shuffled labels")
    }

    @Test("learn --features names the file and key at fault")
    func badFeatures() throws {
        let file = Self.temporary("bad.yaml")
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "features:\n  aggregates:\n    - {name: n, key: card, function: mean, window: 1h}\n".write(toFile: file, atomically: true, encoding: .utf8)
        let result = try CLI.run(["learn", "--features", file, "-"], stdin: "")
        #expect(result.status == 64)
        #expect(result.stderr.contains("features.aggregates[0].field: is required for mean"), "\(result.stderr)")
    }
}
