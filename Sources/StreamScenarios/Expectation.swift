import StreamJobs
import KafkaRuntime
import Foundation
import Simulation
internal import Yams

/// What must hold after a scenario ran. Expectations about a stream hold for every run they name (each seed);
/// expectations about agents compare means over seeds.
public struct Expectation: Sendable {
    /// Which alerts an expectation is about (any, when a field is not given).
    public struct AlertFilter: Sendable, Hashable {
        public var detector: String?
        public var feature: String?
        public var severity: String?

        func matches(_ alert: ScenarioResult.AlertRecord) -> Bool {
            (detector == nil || detector == alert.detector) && (feature == nil || feature == alert.feature)
                && (severity == nil || severity == alert.severity)
        }

        var phrase: String {
            [severity, detector, feature.map { "on \($0)" }].compactMap { $0 }.joined(separator: " ")
        }
    }

    /// A quality figure over windows of events, judged against the generator's truth.
    public enum Metric: String, Sendable, CaseIterable {
        case f1
        case rocAUC = "roc_auc"
        case prAUC = "pr_auc"
        case recallAtOnePercentFPR = "recall_at_1pct_fpr"

        func value(_ point: ScenarioResult.QualityPoint) -> Double? {
            switch self {
            case .f1: point.f1
            case .rocAUC: point.rocAUC
            case .prAUC: point.averagePrecision
            case .recallAtOnePercentFPR: point.recallAtOnePercentFPR
            }
        }
    }

    /// A figure of an agent, compared over seeds.
    public enum Figure: String, Sendable, CaseIterable {
        case greedyReturn = "greedy_return"
        case successRate = "success_rate"
        case trainingReturn = "training_return"
        case regret
        case rocAUC = "roc_auc"
        /// Over every event scored, together.
        case prAUC = "pr_auc"
        case recallAtOnePercentFPR = "recall_at_1pct_fpr"

        var higherIsBetter: Bool { self != .regret }

        func value(_ run: ScenarioResult.Run) -> Double? {
            switch self {
            case .greedyReturn: run.greedy?.meanReturn
            case .successRate: run.greedy?.successRate
            case .trainingReturn: run.meanReturn
            case .regret: run.regret.last
            case .rocAUC: run.wholeRunROCAUC
            case .prAUC: run.metric(.prAUC, from: 0, to: nil)
            case .recallAtOnePercentFPR: run.metric(.recallAtOnePercentFPR, from: 0, to: nil)
            }
        }
    }

    public enum Check: Sendable {
        /// A matching alert fires within `within` events after `after` (its window ends there).
        case alertWithin(AlertFilter, after: Int, within: Int)
        /// No matching alert fires before `before` (at all when `nil`).
        case noAlert(AlertFilter, before: Int?)
        /// The number of matching alerts in `state` (firing or resolved).
        case alertCount(AlertFilter, state: String, atLeast: Int?, atMost: Int?)
        /// After `after`, the metric over a window wholly past it reaches `above` within `within` events.
        case recovers(Metric, above: Double, after: Int, within: Int)
        /// The metric over the events `from..<to` (all scores of that range together).
        case metric(Metric, from: Int, to: Int?, atLeast: Double?, atMost: Double?)
        /// Every critical alert names a snapshot, and the file was written.
        case snapshotAtCriticalAlerts
        /// The scores topic holds exactly one score per event id.
        case scoredOnce
        /// An agent's figure, as the mean over seeds.
        case figure(Figure, agent: String?, atLeast: Double?, atMost: Double?, pulls: Int?)
        /// Agent `agent` does better than `over` on the figure over seeds, by more than `by`: the 95% confidence
        /// interval of the difference of the means (Welch's t test) lies above `by`.
        case beats(agent: String, over: String, on: Figure, by: Double)
    }

    public var check: Check
    /// The runs it is about (`nil`: every agent's).
    public var agent: String?

    // MARK: - Reading

    static let kinds = [
        "alert", "no_alert", "alerts", "recovers", "metric", "snapshot_at_critical_alerts", "scored_once",
        "greedy_return", "success_rate", "training_return", "regret", "beats",
    ]

    static func read(
        _ node: Node, path: String, agents: [String], job: JobKind
    ) throws(ConfigurationError) -> Expectation {
        guard case .mapping(let mapping) = node, mapping.count == 1, let key = mapping.first?.key.scalar?.string else {
            throw ConfigurationError(
                path: path, reason: "must be one expectation, a mapping with one key (\(kinds.joined(separator: ", ")))")
        }
        let body = mapping.first!.value
        let keyPath = "\(path).\(key)"
        func flag() throws(ConfigurationError) {
            guard body.scalar?.string == "true" else {
                throw ConfigurationError(path: keyPath, reason: "must be true")
            }
        }
        if key == "snapshot_at_critical_alerts" || key == "scored_once" {
            try flag()
            guard job == .scoring else { throw ConfigurationError(path: keyPath, reason: "applies to a stream scenario only") }
            return Expectation(check: key == "scored_once" ? .scoredOnce : .snapshotAtCriticalAlerts)
        }
        let table = try ConfigTable(body, path: keyPath)
        var agent = try table.string("agent")
        if let name = agent, !agents.contains(name) {
            throw ConfigurationError(
                path: table.keyPath("agent"), reason: "names no agent (agents: \(agents.joined(separator: ", ")))")
        }
        func filter() throws(ConfigurationError) -> AlertFilter {
            AlertFilter(
                detector: try table.string("detector"), feature: try table.string("feature"),
                severity: try table.choice("severity", Severity.self)?.rawValue)
        }
        func required(_ name: String, min: Int = 0) throws(ConfigurationError) -> Int {
            guard let value = try table.int(name, min: min) else {
                throw ConfigurationError(path: table.keyPath(name), reason: "is required")
            }
            return value
        }
        func requireStream() throws(ConfigurationError) {
            guard job == .scoring else { throw ConfigurationError(path: keyPath, reason: "applies to a stream scenario only") }
        }
        let check: Check
        switch key {
        case "alert":
            try requireStream()
            check = .alertWithin(try filter(), after: try required("after"), within: try required("within", min: 1))
        case "no_alert":
            try requireStream()
            check = .noAlert(try filter(), before: try table.int("before", min: 0))
        case "alerts":
            try requireStream()
            let state = try table.string("state") ?? "firing"
            guard ["firing", "resolved"].contains(state) else {
                throw ConfigurationError(path: table.keyPath("state"), reason: "must be 'firing' or 'resolved', got '\(state)'")
            }
            let atLeast = try table.int("at_least", min: 0)
            let atMost = try table.int("at_most", min: 0)
            guard atLeast != nil || atMost != nil else {
                throw ConfigurationError(path: keyPath, reason: "needs at_least or at_most")
            }
            check = .alertCount(try filter(), state: state, atLeast: atLeast, atMost: atMost)
        case "recovers":
            try requireStream()
            guard let metric = try table.choice("metric", Metric.self) else {
                throw ConfigurationError(path: table.keyPath("metric"), reason: "is required (f1, roc_auc, pr_auc or recall_at_1pct_fpr)")
            }
            guard let above = try table.double("above") else {
                throw ConfigurationError(path: table.keyPath("above"), reason: "is required")
            }
            check = .recovers(metric, above: above, after: try required("after"), within: try required("within", min: 1))
        case "metric":
            try requireStream()
            guard let metric = try table.choice("name", Metric.self) else {
                throw ConfigurationError(path: table.keyPath("name"), reason: "is required (f1, roc_auc, pr_auc or recall_at_1pct_fpr)")
            }
            let atLeast = try table.double("at_least")
            let atMost = try table.double("at_most")
            guard atLeast != nil || atMost != nil else { throw ConfigurationError(path: keyPath, reason: "needs at_least or at_most") }
            check = .metric(
                metric, from: try table.int("from", min: 0) ?? 0, to: try table.int("to", min: 1), atLeast: atLeast,
                atMost: atMost)
        case "greedy_return", "success_rate", "training_return", "regret":
            let figure = Figure(rawValue: key)!
            guard (job == .bandit) == (figure == .regret) && job != .scoring else {
                throw ConfigurationError(path: keyPath, reason: "does not apply to a \(job == .scoring ? "stream" : job.rawValue) scenario")
            }
            let atLeast = try table.double("at_least")
            let atMost = try table.double("at_most")
            guard atLeast != nil || atMost != nil else { throw ConfigurationError(path: keyPath, reason: "needs at_least or at_most") }
            check = .figure(
                figure, agent: agent, atLeast: atLeast, atMost: atMost,
                pulls: figure == .regret ? try table.int("pulls", min: 1) : nil)
        case "beats":
            guard let winner = agent else { throw ConfigurationError(path: table.keyPath("agent"), reason: "is required") }
            let over = try table.requiredString("over")
            guard agents.contains(over), over != winner else {
                throw ConfigurationError(path: table.keyPath("over"), reason: "must name another agent (agents: \(agents.joined(separator: ", ")))")
            }
            guard let figure = try table.choice("on", Figure.self) else {
                throw ConfigurationError(path: table.keyPath("on"), reason: "is required (\(Figure.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            check = .beats(agent: winner, over: over, on: figure, by: try table.double("by", atLeast: 0) ?? 0)
            agent = nil
        default:
            throw ConfigurationError(path: keyPath, reason: "is not an expectation (\(kinds.joined(separator: ", ")))")
        }
        try table.finish()
        return Expectation(check: check, agent: agent)
    }

    enum Severity: String, CaseIterable { case warning, critical }

    // MARK: - Judging

    /// The verdict on `result`.
    public func judge(_ result: ScenarioResult) -> ScenarioResult.Verdict {
        let runs = result.runs.filter { agent == nil || $0.agent == agent }
        let who = { (run: ScenarioResult.Run) in result.runs.count > 1 ? "\(run.agent), seed \(run.seed)" : nil }
        switch check {
        case .alertWithin(let filter, let after, let within):
            let name = "\(filter.phrase.isEmpty ? "an" : "a \(filter.phrase)") alert within \(within) events after \(after)"
            var worst: (Double?, String?) = (0, nil)
            for run in runs {
                let delay = run.alerts.filter { $0.state == "firing" && filter.matches($0) && $0.end >= after }
                    .map { Double($0.end - after) }.min()
                if delay == nil || delay! > (worst.0 ?? .infinity) || worst.1 == nil { worst = (delay, who(run)) }
                if delay == nil { break }
            }
            return verdict(name, worst.0, expected: "≤ \(within) events", passed: worst.0.map { $0 <= Double(within) } ?? false,
                           detail: worst.0 == nil ? "no such alert fired\(worst.1.map { " (\($0))" } ?? "")" : worst.1)
        case .noAlert(let filter, let before):
            let name = "no \(filter.phrase.isEmpty ? "" : "\(filter.phrase) ")alert" + (before.map { " before \($0)" } ?? "")
            let count = runs.map { run in
                run.alerts.filter { alert in
                    alert.state == "firing" && filter.matches(alert) && (before.map { alert.end < $0 } ?? true)
                }.count
            }.max() ?? 0
            return verdict(name, Double(count), expected: "0", passed: count == 0)
        case .alertCount(let filter, let state, let atLeast, let atMost):
            let name = "\(state == "firing" ? "alerts fired" : "alerts resolved")\(filter.phrase.isEmpty ? "" : " (\(filter.phrase))")"
            let counts = runs.map { run in run.alerts.filter { $0.state == state && filter.matches($0) }.count }
            let low = counts.min() ?? 0
            let high = counts.max() ?? 0
            let passed = atLeast.map { low >= $0 } ?? true && atMost.map { high <= $0 } ?? true
            let measured = atLeast.map { low < $0 } ?? false ? low : high
            return verdict(name, Double(measured), expected: Self.bounds(atLeast.map(Double.init), atMost.map(Double.init)), passed: passed)
        case .recovers(let metric, let above, let after, let within):
            let name = "\(metric.rawValue) back above \(ScenarioFormat.number(above)) within \(within) events after \(after)"
            var worst: Double? = 0
            for run in runs {
                let delay = run.quality.first { point in
                    point.end - result.window >= after && (metric.value(point) ?? -.infinity) >= above
                }.map { Double($0.end - after) }
                if delay == nil { worst = nil; break }
                worst = max(worst!, delay!)
            }
            return verdict(name, worst, expected: "≤ \(within) events", passed: worst.map { $0 <= Double(within) } ?? false,
                           detail: worst == nil ? "never above it" : nil)
        case .metric(let metric, let from, let to, let atLeast, let atMost):
            let name = "\(metric.rawValue) over events \(from)..<\(to.map(String.init) ?? "end")"
            let values = runs.map { $0.metric(metric, from: from, to: to) }
            let measured: Double? = values.contains { $0 == nil } ? nil : (atLeast != nil ? values.map { $0! }.min() : values.map { $0! }.max())
            let passed = measured.map { value in atLeast.map { value >= $0 } ?? true && atMost.map { value <= $0 } ?? true } ?? false
            return verdict(name, measured, expected: Self.bounds(atLeast, atMost), passed: passed)
        case .snapshotAtCriticalAlerts:
            let critical = runs.flatMap { $0.alerts.filter { $0.state == "firing" && $0.severity == "critical" } }
            let written = critical.filter { $0.snapshot != nil && $0.snapshotWritten }.count
            return verdict(
                "a snapshot written at each critical alert", Double(written), expected: "\(critical.count) (every critical alert)",
                passed: written == critical.count, detail: critical.isEmpty ? "no critical alert fired" : nil)
        case .scoredOnce:
            let bad = runs.first { $0.scores != $0.events || $0.distinctScored != $0.events }
            let run = bad ?? runs.first
            return verdict(
                "each event scored exactly once", Double(run?.distinctScored ?? 0), expected: "\(run?.events ?? 0) distinct ids, one score each",
                passed: bad == nil, detail: bad.map { "\($0.scores) scores for \($0.distinctScored) distinct ids" })
        case .figure(let figure, let agent, let atLeast, let atMost, let pulls):
            let values = runs.compactMap { run in pulls.map { run.regret(at: $0) } ?? figure.value(run) }
            let mean = values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
            var name = "\(figure.rawValue.replacingOccurrences(of: "_", with: " "))"
            if let pulls { name += " at \(pulls) pulls" }
            if let agent { name += " of \(agent)" }
            if Set(result.runs.map(\.seed)).count > 1 { name += " (mean over \(Set(runs.map(\.seed)).count) seeds)" }
            let passed = mean.map { value in atLeast.map { value >= $0 } ?? true && atMost.map { value <= $0 } ?? true } ?? false
            return verdict(name, mean, expected: Self.bounds(atLeast, atMost), passed: passed)
        case .beats(let winner, let over, let figure, let margin):
            // Decided by Welch's test: the 95% confidence interval of the difference (in the better direction)
            // must lie wholly above the margin.
            let name = "\(winner) beats \(over) on \(figure.rawValue.replacingOccurrences(of: "_", with: " "))"
            let a = result.runs(of: winner).compactMap(figure.value)
            let b = result.runs(of: over).compactMap(figure.value)
            let expected = "95% CI of the difference above \(ScenarioFormat.number(margin)) (Welch's t test)"
            guard !a.isEmpty, !b.isEmpty else {
                return verdict(name, nil, expected: expected, passed: false, detail: "a figure for both is missing")
            }
            let means = "\(winner) \(ScenarioFormat.number(SeedSummary(a).mean)), \(over) \(ScenarioFormat.number(SeedSummary(b).mean))"
            guard let test = figure.higherIsBetter ? WelchComparison(a, b) : WelchComparison(b, a) else {
                return verdict(name, nil, expected: expected, passed: false, detail: "\(means): two seeds or more per agent are needed")
            }
            let interval = test.confidenceInterval95
            let detail = "\(means); difference \(ScenarioFormat.number(test.difference)), 95% CI "
                + "[\(ScenarioFormat.number(interval.lowerBound)), \(ScenarioFormat.number(interval.upperBound))], "
                + "t \(String(format: "%.2f", test.t)), df \(String(format: "%.1f", test.degreesOfFreedom)), "
                + "p \(ScenarioFormat.number(test.pValue))"
            return verdict(name, test.difference, expected: expected, passed: interval.lowerBound > margin, detail: detail)
        }
    }

    private func verdict(
        _ name: String, _ measured: Double?, expected: String, passed: Bool, detail: String? = nil
    ) -> ScenarioResult.Verdict {
        ScenarioResult.Verdict(name: name, passed: passed, measured: measured, expected: expected, detail: detail)
    }

    static func bounds(_ atLeast: Double?, _ atMost: Double?) -> String {
        switch (atLeast, atMost) {
        case (let low?, let high?): "\(ScenarioFormat.number(low)) to \(ScenarioFormat.number(high))"
        case (let low?, nil): "≥ \(ScenarioFormat.number(low))"
        case (nil, let high?): "≤ \(ScenarioFormat.number(high))"
        default: "any"
        }
    }
}

/// Numbers as the summary and the report show them.
enum ScenarioFormat {
    static func number(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e12 { return String(Int64(value)) }
        if abs(value) >= 100 { return String(format: "%.1f", value) }
        return String(format: "%.4g", value)
    }
}
