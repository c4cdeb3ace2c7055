public import StreamPipeline
public import KafkaRuntime
import Foundation
import OnlineLearning
public import Simulation

/// What a scenario run measured: each run's outcome (an agent on a seed) and each expectation's verdict.
public struct ScenarioResult: Sendable {
    public enum Kind: String, Sendable {
        case fraud, bandit, environment
    }

    /// One alert as read back from the alerts topic.
    public struct AlertRecord: Sendable, Hashable {
        public var id: String
        public var detector: String
        public var feature: String
        public var severity: String
        /// `firing` or `resolved`.
        public var state: String
        public var value: Double
        public var start: Int
        public var end: Int
        /// The snapshot a critical firing named, and whether that file was written.
        public var snapshot: String?
        public var snapshotWritten = false
    }

    /// Quality over one window of events (scored against the generator's truth): F1 at the job's threshold,
    /// ROC-AUC, average precision (PR-AUC).
    public struct QualityPoint: Sendable, Hashable {
        public var end: Int
        public var f1: Double
        public var rocAUC: Double?
        public var averagePrecision: Double?
        /// The recall reached while the false-positive rate stays at or below 1%.
        public var recallAtOnePercentFPR: Double?
    }

    /// Scores in equal bins over [0, 1]: the window before the first drift and the one after.
    public struct ScoreDistribution: Sendable, Hashable {
        public var bins: Int
        public var before: [Double]
        public var after: [Double]
        public var at: Int
    }

    /// One agent on one seed.
    public struct Run: Sendable {
        public var agent: String
        public var seed: UInt64
        /// What the runtime reports.
        public var summary: StreamRuntime.Summary
        /// Messages the driver produced (events and labels, requests and feedback).
        public var produced = 0
        public var seconds = 0.0

        // fraud
        public var events = 0
        /// Score messages read back from the scores topic, and the distinct ids among them.
        public var scores = 0
        public var distinctScored = 0
        public var alerts: [AlertRecord] = []
        public var readings: [DetectorReading] = []
        public var quality: [QualityPoint] = []
        public var distribution: ScoreDistribution?
        /// Each event's score (NaN when none was read back) and true label, by event index.
        var scoreOf: [Double] = []
        var truth: [Bool] = []
        var threshold = 0.5

        // bandit
        /// Cumulative pseudo-regret after each `step` pulls, starting at `step`.
        public var regret: [Double] = []
        /// Each arm's share of the decisions in each block of `step` pulls.
        public var armShares: [[Double]] = []
        public var step = 1

        // environment
        /// The return of each training episode, in the order they ended.
        public var returns: [Double] = []
        /// The greedy policy the job published, played after training.
        public var greedy: Training.Evaluation?

        public init(agent: String, seed: UInt64, summary: StreamRuntime.Summary) {
            self.agent = agent
            self.seed = seed
            self.summary = summary
        }

        /// Pseudo-regret after `pulls` pulls (the nearest recorded point at or before).
        public func regret(at pulls: Int) -> Double? {
            let index = min(pulls / step, regret.count) - 1
            return index >= 0 ? regret[index] : nil
        }

        /// The mean training return over all episodes.
        public var meanReturn: Double? { returns.isEmpty ? nil : returns.reduce(0, +) / Double(returns.count) }
    }

    /// One expectation's verdict: what was measured against what was expected.
    public struct Verdict: Sendable, Hashable {
        public var name: String
        public var passed: Bool
        /// `nil` when there was nothing to measure (no such alert fired).
        public var measured: Double?
        public var expected: String
        /// Which run the measured value comes from, or why nothing was measured.
        public var detail: String?
    }

    public var scenario: String
    public var description: String
    public var kind: Kind
    public var seeds: [UInt64]
    public var agents: [String]
    public var runs: [Run]
    public var verdicts: [Verdict] = []
    /// Where the stream drifts (fraud).
    public var driftPoints: [Int] = []
    /// Where the testbed's arm means change (bandit).
    public var shifts: [Int] = []
    public var window: Int
    public var seconds = 0.0

    public var passed: Bool { verdicts.allSatisfy(\.passed) }

    /// Runs of one agent, by seed.
    public func runs(of agent: String) -> [Run] { runs.filter { $0.agent == agent } }

    /// Per agent: mean, standard deviation and range over seeds of a figure (the comparison table).
    public func comparison(_ figure: (Run) -> Double?) -> [(agent: String, summary: SeedSummary)] {
        agents.compactMap { agent in
            let values = runs(of: agent).compactMap(figure)
            return values.isEmpty ? nil : (agent, SeedSummary(values))
        }
    }

    /// The figures compared across agents for this kind of scenario, by name.
    public var comparedFigures: [(name: String, figure: @Sendable (Run) -> Double?)] {
        switch kind {
        case .fraud:
            return [
                ("ROC-AUC (whole run)", { $0.quality.isEmpty ? nil : $0.wholeRunROCAUC }),
                ("PR-AUC (all events)", { $0.metric(.prAUC, from: 0, to: nil) }),
                ("recall at 1% FPR (all events)", { $0.metric(.recallAtOnePercentFPR, from: 0, to: nil) }),
            ]
        case .bandit:
            return [("regret", { $0.regret.last })]
        case .environment:
            return [
                ("greedy return", { $0.greedy?.meanReturn }), ("greedy success", { $0.greedy?.successRate }),
                ("training return", { $0.meanReturn }),
            ]
        }
    }
}

extension ScenarioResult.Run {
    /// Mean of the windows' ROC-AUC (each window weighs the same).
    var wholeRunROCAUC: Double? {
        let values = quality.compactMap(\.rocAUC)
        return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}

extension ScenarioResult.Run {
    /// Quality over sliding windows of `window` events (at most about 400 points), and the score distribution
    /// before and after the first drift (or the first and second half).
    mutating func computeQuality(window: Int, driftPoints: [Int]) {
        let count = scoreOf.count
        guard count >= window, window > 0 else { return }
        let step = max(window / 4, count / 400, 1)
        var end = window
        while end <= count {
            quality.append(point(from: end - window, to: end))
            end += step
        }
        let split = driftPoints.first ?? count / 2
        let bins = 20
        func histogram(_ range: Range<Int>) -> [Double] {
            var counts = [Double](repeating: 0, count: bins)
            var total = 0.0
            for index in range where !scoreOf[index].isNaN {
                counts[min(Int(scoreOf[index] * Double(bins)), bins - 1)] += 1
                total += 1
            }
            return counts.map { total > 0 ? $0 / total : 0 }
        }
        let width = min(window * 2, split, count - split)
        if width > 0 {
            distribution = .init(
                bins: bins, before: histogram((split - width)..<split), after: histogram(split..<(split + width)), at: split)
        }
    }

    /// The quality of the scores of events `from..<to` together.
    func point(from: Int, to: Int) -> ScenarioResult.QualityPoint {
        var roc = CumulativeROCAUC()
        var truePositives = 0
        var falsePositives = 0
        var falseNegatives = 0
        for index in from..<min(to, scoreOf.count) where !scoreOf[index].isNaN {
            let label = truth[index]
            roc.update(score: scoreOf[index], label: label)
            let decision = scoreOf[index] >= threshold
            if decision && label { truePositives += 1 }
            if decision && !label { falsePositives += 1 }
            if !decision && label { falseNegatives += 1 }
        }
        let denominator = Double(2 * truePositives + falsePositives + falseNegatives)
        return ScenarioResult.QualityPoint(
            end: to, f1: denominator > 0 ? Double(2 * truePositives) / denominator : 0, rocAUC: roc.value,
            averagePrecision: roc.ranking?.averagePrecision, recallAtOnePercentFPR: roc.ranking?.recallAtFPR)
    }

    /// A metric over events `from..<to` (the end of the stream when `to` is `nil`).
    func metric(_ metric: Expectation.Metric, from: Int, to: Int?) -> Double? {
        guard from < scoreOf.count else { return nil }
        return metric.value(point(from: from, to: to ?? scoreOf.count))
    }
}
