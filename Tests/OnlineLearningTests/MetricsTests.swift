import Foundation
@testable import OnlineLearning
import StreamCore
import Testing

/// The definitions, computed the slow way.
enum BruteForce {
    static func rocAUC(_ events: [(Double, Bool)]) -> Double? {
        let positives = events.filter(\.1).map(\.0)
        let negatives = events.filter { !$0.1 }.map(\.0)
        guard !positives.isEmpty, !negatives.isEmpty else { return nil }
        var wins = 0.0
        for p in positives {
            for n in negatives { wins += p > n ? 1 : (p == n ? 0.5 : 0) }
        }
        return wins / Double(positives.count * negatives.count)
    }

    static func ks(_ events: [(Double, Bool)]) -> Double? {
        let positives = events.filter(\.1).map(\.0)
        let negatives = events.filter { !$0.1 }.map(\.0)
        guard !positives.isEmpty, !negatives.isEmpty else { return nil }
        var best = 0.0
        for threshold in Set(events.map(\.0)) {
            let p = Double(positives.filter { $0 <= threshold }.count) / Double(positives.count)
            let n = Double(negatives.filter { $0 <= threshold }.count) / Double(negatives.count)
            best = max(best, abs(p - n))
        }
        return best
    }
}

@Suite("Progressive metrics")
struct MetricsTests {
    /// Scores on a coarse grid, so ties are common, loosely related to the label.
    static func stream(count: Int, seed: UInt64) -> [(Double, Bool)] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { _ in
            let label = random.next() % 3 == 0
            let score = min(max((random.nextGaussian() * 0.2 + (label ? 0.6 : 0.4)) * 50, 0).rounded() / 50, 1)
            return (score, label)
        }
    }

    @Test("Rolling ROC-AUC and KS are exact over their window at every step (ties included)")
    func rollingExact() {
        let events = Self.stream(count: 3_000, seed: 1)
        var rolling = RollingBinaryClassificationMetrics(window: 200)
        for (index, (score, label)) in events.enumerated() {
            rolling.update(probability: score, label: label)
            if index % 37 == 0 || index == events.count - 1 {
                let window = Array(events[max(0, index - 199)...index])
                #expect(rolling.summary.rocAUC == BruteForce.rocAUC(window), "step \(index)")
                #expect(rolling.summary.ks == BruteForce.ks(window), "step \(index)")
                #expect(rolling.summary.events == window.count)
            }
        }
    }

    @Test("Cumulative ROC-AUC and KS are exact across buffer merges")
    func cumulativeExact() {
        let events = Self.stream(count: 2_500, seed: 2)
        var auc = CumulativeROCAUC()
        for (index, (score, label)) in events.enumerated() {
            auc.update(score: score, label: label)
            if index % 500 == 499 {
                let seen = Array(events[...index])
                #expect(auc.value == BruteForce.rocAUC(seen))
                #expect(auc.ksStatistic == BruteForce.ks(seen))
            }
        }
        // Past the 65,536-event buffer, merged runs agree with a fresh sort.
        var big = CumulativeROCAUC()
        var tree = ExactROCAUC()
        var random = SeededRandom(seed: 3)
        for _ in 0..<150_000 {
            let score = (random.nextUnitDouble() * 1_000).rounded() / 1_000
            let label = random.nextUnitDouble() < score
            big.update(score: score, label: label)
            tree.update(score: score, label: label)
        }
        #expect(big.value == tree.value)
        #expect(big.ksStatistic == tree.ksStatistic)
        #expect(big.value! > 0.8)
    }

    @Test("The radix sort orders doubles as the standard library's sort does", arguments: [0, 1, 255, 256, 5_000, 70_000])
    func radixSortMatchesSort(count: Int) {
        var random = SeededRandom(seed: UInt64(count) + 11)
        let specials: [Double] = [
            0, 1, -1, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude,
            -.greatestFiniteMagnitude, .leastNormalMagnitude, 0.5, 0.5, 1e-300, -1e300,
        ]
        var values = (0..<count).map { index -> Double in
            switch random.next() % 4 {
            case 0: specials[Int(random.next() % UInt64(specials.count))]
            case 1: random.nextUnitDouble()  // scores: shared sign and exponent bytes
            case 2: (random.nextUnitDouble() * 100).rounded() / 100  // many ties
            default: Double(bitPattern: random.next() & ~(0x7FF << 52) | (random.next() % 2046 + 1) << 52)  // any finite
            }
        }
        let expected = values.sorted()
        var scratch: [UInt64] = []
        DoubleRadixSort.sort(&values, scratch: &scratch)
        #expect(values.map(\.bitPattern) == expected.map(\.bitPattern))
        // The scratch is reused: a second, shorter sort with the same buffer.
        var again = Array(expected.reversed().prefix(count / 2))
        DoubleRadixSort.sort(&again, scratch: &scratch)
        #expect(again == Array(expected.prefix(count)).suffix(count / 2).sorted())
    }

    @Test("Confusion-matrix metrics and log-loss match hand-computed values")
    func thresholdMetrics() {
        var metrics = BinaryClassificationMetrics(threshold: 0.5)
        // TP: 0.9, 0.6 — FN: 0.4 — FP: 0.7 — TN: 0.2, 0.1
        for (p, y) in [(0.9, true), (0.6, true), (0.4, true), (0.7, false), (0.2, false), (0.1, false)] {
            metrics.update(probability: p, label: y)
        }
        let summary = metrics.summary
        #expect(summary.truePositives == 2 && summary.falseNegatives == 1)
        #expect(summary.falsePositives == 1 && summary.trueNegatives == 2)
        #expect(summary.accuracy == 4.0 / 6)
        #expect(summary.precision == 2.0 / 3)
        #expect(summary.recall == 2.0 / 3)
        #expect(summary.f1 == 4.0 / 6)
        let expectedLogLoss = -(log(0.9) + log(0.6) + log(0.4) + log(0.3) + log(0.8) + log(0.9)) / 6
        #expect(abs(summary.logLoss - expectedLogLoss) < 1e-12)
        // Positives 0.9, 0.6, 0.4 against negatives 0.7, 0.2, 0.1: 7 of 9 pairs.
        #expect(summary.rocAUC == 7.0 / 9)
        #expect(summary.ks == BruteForce.ks([(0.9, true), (0.6, true), (0.4, true), (0.7, false), (0.2, false), (0.1, false)]))
    }

    @Test("Undefined metrics are nil or 0, never NaN")
    func emptyMetrics() {
        var metrics = BinaryClassificationMetrics()
        #expect(metrics.summary.rocAUC == nil && metrics.summary.ks == nil)
        #expect(metrics.summary.f1 == 0 && metrics.summary.precision == 0 && metrics.summary.logLoss == 0)
        metrics.update(probability: 0.3, label: false)
        metrics.update(probability: .nan, label: true)
        #expect(metrics.count == 1)
        #expect(metrics.summary.rocAUC == nil)
    }

    @Test("The score multiset keeps counts under inserts and removals; its shape depends only on its contents")
    func scoreMultiset() throws {
        var set = ScoreMultiset()
        var reference: [Double: Int] = [:]
        var random = SeededRandom(seed: 4)
        var inserted: [Double] = []
        for step in 0..<20_000 {
            if step % 3 == 2, !inserted.isEmpty {
                let index = Int(random.next() % UInt64(inserted.count))
                let score = inserted.remove(at: index)
                let removed = set.remove(score)
                #expect(removed)
                reference[score]! -= 1
            } else {
                let score = Double(random.next() % 500) / 100 - 2.5
                set.insert(score)
                inserted.append(score)
                reference[score, default: 0] += 1
            }
        }
        let removedAbsent = set.remove(99)
        #expect(!removedAbsent)
        #expect(set.count == inserted.count)
        for probe in stride(from: -3.0, through: 3.0, by: 0.37) {
            let less = reference.filter { $0.key < probe }.values.reduce(0, +)
            let equal = reference[probe] ?? 0
            #expect(set.rank(of: probe) == (less, equal))
        }
        #expect(set.sortedCounts().map(\.score) == reference.filter { $0.value > 0 }.keys.sorted())
        // -0 and +0 are one score.
        var zeros = ScoreMultiset()
        zeros.insert(-0.0)
        zeros.insert(0.0)
        #expect(zeros.countEqual(to: 0) == 2)
        // Encoding is canonical: a decoded copy re-encodes to the same bytes.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let bytes = try encoder.encode(set)
        #expect(try encoder.encode(JSONDecoder().decode(ScoreMultiset.self, from: bytes)) == bytes)
    }
}

@Suite("Average precision and recall at a fixed false-positive rate")
struct RankingFigureTests {
    /// scikit-learn's definitions, by brute force: thresholds at each distinct score, highest first.
    static func bruteForce(_ events: [(score: Double, label: Bool)]) -> (averagePrecision: Double, recallAtFPR: Double) {
        let positives = Double(events.filter(\.label).count)
        let negatives = Double(events.count) - positives
        var averagePrecision = 0.0
        var recall = 0.0
        var previousRecall = 0.0
        for threshold in Set(events.map(\.score)).sorted(by: >) {
            let flagged = events.filter { $0.score >= threshold }
            let truePositives = Double(flagged.filter(\.label).count)
            let falsePositives = Double(flagged.count) - truePositives
            let currentRecall = truePositives / positives
            averagePrecision += (currentRecall - previousRecall) * truePositives / (truePositives + falsePositives)
            previousRecall = currentRecall
            if falsePositives <= 0.01 * negatives { recall = max(recall, currentRecall) }
        }
        return (averagePrecision, recall)
    }

    @Test("Exact: equal to scikit-learn's definition on scores with ties, at a 5% base rate", arguments: [1, 2, 3] as [UInt64])
    func exact(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        var metrics = BinaryClassificationMetrics(exactROCAUC: true)
        var events: [(score: Double, label: Bool)] = []
        for _ in 0..<3_000 {
            let label = random.nextUnitDouble() < 0.05
            // Scores rounded to 3 decimals: many ties.
            let raw = min(max(random.nextUnitDouble() * 0.7 + (label ? 0.3 : 0), 0), 1)
            let score = (raw * 1000).rounded() / 1000
            events.append((score, label))
            metrics.update(probability: score, label: label)
        }
        let expected = Self.bruteForce(events)
        let ranking = metrics.ranking!
        #expect(abs(ranking.averagePrecision - expected.averagePrecision) < 1e-12, "\(ranking) vs \(expected)")
        #expect(ranking.recallAtFPR == expected.recallAtFPR)
        #expect(metrics.summary.averagePrecision == ranking.averagePrecision)
    }

    @Test("Fixed memory: within 0.005 of the exact figures on 200,000 scores")
    func binned() {
        var random = SeededRandom(seed: 9)
        var exact = BinaryClassificationMetrics(exactROCAUC: true)
        var binned = BinaryClassificationMetrics()
        for _ in 0..<200_000 {
            let label = random.nextUnitDouble() < 0.02
            let margin = (random.nextUnitDouble() - 0.5) * 6 + (label ? 2.5 : -1)
            let score = 1 / (1 + exp(-margin))
            exact.update(probability: score, label: label)
            binned.update(probability: score, label: label)
        }
        let (e, b) = (exact.ranking!, binned.ranking!)
        #expect(abs(e.averagePrecision - b.averagePrecision) < 0.005, "\(e) vs \(b)")
        #expect(abs(e.recallAtFPR - b.recallAtFPR) < 0.005, "\(e) vs \(b)")
        #expect(e.averagePrecision > 0.02, "better than the base rate")
        #expect(BinaryClassificationMetrics().ranking == nil)
    }
}
