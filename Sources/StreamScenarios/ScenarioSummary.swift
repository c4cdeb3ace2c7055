import KafkaRuntime
import Foundation
public import Simulation

extension ScenarioResult {
    /// The summary `streamlearn scenario run` prints: the runs, the comparison over seeds, each expectation.
    public var summaryLines: [String] {
        var lines: [String] = []
        let seedText = seeds.count == 1 ? "seed \(seeds[0])" : "seeds \(seeds.first!)–\(seeds.last!)"
        lines.append("scenario  \(scenario) (\(seedText), \(String(format: "%.1f", seconds)) s)")
        if !description.isEmpty { lines.append("          \(description)") }
        lines.append("")
        var table: [[String]] = []
        switch kind {
        case .fraud:
            table.append(["agent", "seed", "events", "scored", "alerts", "critical", "snapshots", "roc_auc", "seconds"])
            for run in runs {
                table.append([
                    run.agent, "\(run.seed)", "\(run.events)", "\(run.distinctScored)",
                    "\(run.alerts.filter { $0.state == "firing" }.count)",
                    "\(run.alerts.filter { $0.state == "firing" && $0.severity == "critical" }.count)",
                    "\(run.summary.snapshots)", run.wholeRunROCAUC.map { String(format: "%.4f", $0) } ?? "-",
                    String(format: "%.1f", run.seconds),
                ])
            }
        case .bandit:
            table.append(["agent", "seed", "pulls", "decisions", "regret", "seconds"])
            for run in runs {
                table.append([
                    run.agent, "\(run.seed)", "\(run.regret.count * run.step)", "\(run.summary.answered)",
                    run.regret.last.map { String(format: "%.1f", $0) } ?? "-", String(format: "%.1f", run.seconds),
                ])
            }
        case .environment:
            table.append(["agent", "seed", "episodes", "actions", "training return", "greedy return", "success", "seconds"])
            for run in runs {
                table.append([
                    run.agent, "\(run.seed)", "\(run.returns.count)", "\(run.summary.answered)",
                    run.meanReturn.map { String(format: "%.3f", $0) } ?? "-",
                    run.greedy.map { String(format: "%.3f", $0.meanReturn) } ?? "-",
                    run.greedy.map { String(format: "%.3f", $0.successRate) } ?? "-", String(format: "%.1f", run.seconds),
                ])
            }
        }
        lines += Self.align(table)
        if seeds.count > 1 || agents.count > 1 {
            lines.append("")
            lines.append(
                seeds.count == 1
                    ? "comparison (one seed)"
                    : "comparison over \(seeds.count) seeds: mean, its 95% confidence interval (Student's t), [range]")
            var rows = [["agent"] + comparedFigures.map(\.name)]
            for agent in agents {
                rows.append([agent] + comparedFigures.map { figure in
                    let values = runs(of: agent).compactMap(figure.figure)
                    guard !values.isEmpty else { return "-" }
                    return Self.describe(SeedSummary(values))
                })
            }
            lines += Self.align(rows)
        }
        lines.append("")
        lines.append("expectations")
        for verdict in verdicts {
            let measured = verdict.measured.map(ScenarioFormat.number) ?? "none"
            var line = "  \(verdict.passed ? "PASS" : "FAIL")  \(verdict.name): measured \(measured), expected \(verdict.expected)"
            if let detail = verdict.detail { line += " (\(detail))" }
            lines.append(line)
        }
        if verdicts.isEmpty { lines.append("  (none)") }
        lines.append("")
        let failed = verdicts.filter { !$0.passed }
        lines.append(
            failed.isEmpty
                ? "result    PASS: \(verdicts.count) of \(verdicts.count) expectations hold"
                : "result    FAIL: \(failed.count) of \(verdicts.count) expectations failed: "
                    + failed.map(\.name).joined(separator: "; "))
        return lines
    }

    /// One JSON object: the scenario, each run's figures, the comparison and the expectations.
    public var jsonObject: [String: Any] {
        func clean(_ value: Double?) -> Any {
            guard let value, value.isFinite else { return NSNull() }
            return value
        }
        var object: [String: Any] = [
            "scenario": scenario, "kind": kind.rawValue, "seeds": seeds.map { Int($0) }, "agents": agents,
            "seconds": seconds, "passed": passed,
            "expectations": verdicts.map { verdict in
                ["name": verdict.name, "passed": verdict.passed, "measured": clean(verdict.measured),
                 "expected": verdict.expected, "detail": verdict.detail ?? NSNull()] as [String: Any]
            },
        ]
        object["runs"] = runs.map { run -> [String: Any] in
            var entry: [String: Any] = [
                "agent": run.agent, "seed": Int(run.seed), "seconds": run.seconds, "messages": run.summary.messages,
                "answered": run.summary.answered, "snapshots": run.summary.snapshots,
            ]
            switch kind {
            case .fraud:
                entry["events"] = run.events
                entry["scores"] = run.scores
                entry["distinct_scored"] = run.distinctScored
                entry["roc_auc"] = clean(run.wholeRunROCAUC)
                entry["alerts"] = run.alerts.map { alert in
                    ["id": alert.id, "state": alert.state, "severity": alert.severity, "detector": alert.detector,
                     "feature": alert.feature, "value": clean(alert.value), "start": alert.start, "end": alert.end,
                     "snapshot": alert.snapshot ?? NSNull(), "snapshot_written": alert.snapshotWritten] as [String: Any]
                }
            case .bandit:
                entry["pulls"] = run.regret.count * run.step
                entry["regret"] = clean(run.regret.last)
            case .environment:
                entry["episodes"] = run.returns.count
                entry["training_return"] = clean(run.meanReturn)
                entry["greedy_return"] = clean(run.greedy?.meanReturn)
                entry["greedy_success"] = clean(run.greedy?.successRate)
            }
            return entry
        }
        var comparison: [String: Any] = [:]
        for agent in agents {
            var figures: [String: Any] = [:]
            for figure in comparedFigures {
                let values = runs(of: agent).compactMap(figure.figure)
                guard !values.isEmpty else { continue }
                let summary = SeedSummary(values)
                let interval = summary.confidenceInterval95
                figures[figure.name] = [
                    "n": summary.count, "mean": clean(summary.mean), "std": clean(summary.standardDeviation),
                    "ci95": interval.map { [clean($0.lowerBound), clean($0.upperBound)] } ?? NSNull(),
                    "min": clean(summary.min), "max": clean(summary.max),
                ]
            }
            comparison[agent] = figures
        }
        object["comparison"] = comparison
        return object
    }

    /// `mean (95% CI low to high) [min, max]`, or the value alone for one seed.
    static func describe(_ summary: SeedSummary) -> String {
        guard let interval = summary.confidenceInterval95 else { return short(summary.mean) }
        return "\(short(summary.mean)) (\(short(interval.lowerBound)) to \(short(interval.upperBound))) "
            + "[\(short(summary.min)), \(short(summary.max))]"
    }

    static func short(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        return abs(value) >= 100 ? String(format: "%.1f", value) : String(format: "%.3f", value)
    }

    /// Rows as columns padded to their widest cell.
    static func align(_ rows: [[String]]) -> [String] {
        guard let columns = rows.map(\.count).max() else { return [] }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            "  " + row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
            }.joined()
        }
    }
}

extension ScenarioResult {
    /// Every run's curves for `scenario run --curves`: quality over windows of events (streams), regret and arm
    /// shares over pulls (bandits), each training episode's return and the greedy evaluation (environments).
    public var curveExport: CurveExport {
        CurveExport(source: "scenario \(scenario)", runs: runs.map { run in
            var series: [CurveExport.Series] = []
            switch kind {
            case .fraud:
                func quality(_ name: String, _ value: (QualityPoint) -> Double?) -> CurveExport.Series {
                    .init(name, run.quality.compactMap { point in value(point).map { (Double(point.end), $0) } })
                }
                series = [
                    quality("f1", \.f1), quality("roc_auc", \.rocAUC), quality("pr_auc", \.averagePrecision),
                    quality("recall_at_1pct_fpr", \.recallAtOnePercentFPR),
                ]
            case .bandit:
                series.append(.init("regret", run.regret.enumerated().map { (Double(($0.offset + 1) * run.step), $0.element) }))
                for arm in 0..<(run.armShares.first?.count ?? 0) {
                    series.append(.init(
                        "arm_share[\(arm)]", run.armShares.enumerated().map { (Double(($0.offset + 1) * run.step), $0.element[arm]) }))
                }
            case .environment:
                series.append(.init("return", run.returns.enumerated().map { (Double($0.offset + 1), $0.element) }))
                if let greedy = run.greedy {
                    let episodes = Double(run.returns.count)
                    series.append(.init("greedy_mean_return", [(episodes, greedy.meanReturn)]))
                    series.append(.init("greedy_success_rate", [(episodes, greedy.successRate)]))
                }
            }
            return CurveExport.Run(agent: run.agent, seed: run.seed, series: series)
        })
    }
}
