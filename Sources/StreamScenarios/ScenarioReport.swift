import StreamPipeline
import Foundation
import Simulation

/// A scenario's result as one self-contained HTML file: the expectations, then the charts (inline SVG and CSS, no
/// script, nothing fetched).
public struct ScenarioReport: Sendable {
    public let result: ScenarioResult

    public init(result: ScenarioResult) { self.result = result }

    static let palette = [
        "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    ]

    /// Writes the report atomically.
    public func write(to path: String) throws {
        try Data(html().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public func html() -> String {
        var body = "<header><h1>\(escape(result.scenario))</h1>"
        if !result.description.isEmpty { body += "<p class=\"description\">\(escape(result.description))</p>" }
        let failed = result.verdicts.filter { !$0.passed }.count
        body += "<p><span class=\"badge \(result.passed ? "pass" : "fail")\">\(result.passed ? "PASS" : "FAIL")</span> "
        body += "\(result.verdicts.count - failed) of \(result.verdicts.count) expectations hold · "
        body += "\(result.agents.count) agent\(result.agents.count == 1 ? "" : "s") × \(result.seeds.count) seed\(result.seeds.count == 1 ? "" : "s") "
        body += "(\(result.seeds.map(String.init).joined(separator: ", "))) · \(String(format: "%.1f", result.seconds)) s</p></header>"
        body += expectationsTable()
        switch result.kind {
        case .fraud: body += fraudSections()
        case .bandit: body += banditSections()
        case .environment: body += environmentSections()
        }
        body += comparisonTable()
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(result.scenario)) — StreamLearn scenario</title>
            <style>\(Self.css)</style></head>
            <body>\(body)<footer>StreamLearn scenario report · every figure computed from what the job wrote to Kafka</footer></body></html>

            """
    }

    // MARK: - Tables

    private func expectationsTable() -> String {
        var out = "<section id=\"expectations\"><h2>Expectations</h2><table><thead><tr><th></th><th>expectation</th><th>measured</th><th>expected</th><th>note</th></tr></thead><tbody>"
        for verdict in result.verdicts {
            out += "<tr class=\"\(verdict.passed ? "pass" : "fail")\"><td>\(verdict.passed ? "✔" : "✘")</td><td>\(escape(verdict.name))</td>"
            out += "<td>\(verdict.measured.map(ScenarioFormat.number) ?? "none")</td><td>\(escape(verdict.expected))</td>"
            out += "<td>\(escape(verdict.detail ?? ""))</td></tr>"
        }
        if result.verdicts.isEmpty { out += "<tr><td></td><td colspan=\"4\">none</td></tr>" }
        return out + "</tbody></table></section>"
    }

    private func comparisonTable() -> String {
        var out = "<section id=\"runs\"><h2>Runs</h2><table><thead><tr><th>agent</th>"
        for figure in result.comparedFigures { out += "<th>\(escape(figure.name)) (mean, 95% CI, [range])</th>" }
        out += "</tr></thead><tbody>"
        for agent in result.agents {
            out += "<tr><td>\(escape(agent))</td>"
            for figure in result.comparedFigures {
                let values = result.runs(of: agent).compactMap(figure.figure)
                if values.isEmpty {
                    out += "<td>-</td>"
                    continue
                }
                let summary = SeedSummary(values)
                out += "<td>\(ScenarioResult.describe(summary))</td>"
            }
            out += "</tr>"
        }
        return out + "</tbody></table></section>"
    }

    // MARK: - Fraud

    private func fraudSections() -> String {
        var out = ""
        for agent in result.agents {
            guard let run = result.runs(of: agent).first else { continue }
            let suffix = result.agents.count > 1 || result.seeds.count > 1 ? " — \(agent), seed \(run.seed)" : ""
            var drifts = result.driftPoints.enumerated().map { index, at in
                SVGChart.Marker(x: Double(at), label: "drift \(index + 1)", color: "#222")
            }
            let firing = run.alerts.filter { $0.state == "firing" }
            drifts += firing.prefix(24).map { alert in
                SVGChart.Marker(
                    x: Double(alert.end), label: "\(alert.severity == "critical" ? "▲" : "△") \(alert.feature)",
                    color: alert.severity == "critical" ? "#d62728" : "#ff9f1c")
            }
            var quality = SVGChart(
                id: "quality-\(agent)", title: "Rolling quality over \(result.window)-event windows\(suffix)",
                xLabel: "events", yLabel: "score (0–1)")
            quality.yRange = 0...1
            quality.series = [
                .init(name: "ROC-AUC", color: Self.palette[0], points: run.quality.compactMap { p in p.rocAUC.map { (Double(p.end), $0) } }),
                .init(name: "PR-AUC", color: Self.palette[1], points: run.quality.compactMap { p in p.averagePrecision.map { (Double(p.end), $0) } }),
                .init(name: "F1", color: Self.palette[2], points: run.quality.map { (Double($0.end), $0.f1) }),
            ]
            quality.markers = drifts
            out += section("quality-section", "Quality and alerts\(suffix)", quality.svg(), note: "Each point judges the scores the job wrote to its scores topic for the window of events ending there against the generator's labels. Black lines: drift points; ▲ critical and △ warning alerts read back from the alerts topic, at the end of the window that raised them.")

            let psiReadings = run.readings.filter { $0.detector == "psi" }
            if !psiReadings.isEmpty {
                var features: [String] = []
                for reading in psiReadings where !features.contains(reading.feature) { features.append(reading.feature) }
                let drifting = Set(features.filter { feature in
                    psiReadings.contains { $0.feature == feature && $0.value >= 0.2 }
                })
                var psi = SVGChart(id: "psi-\(agent)", title: "PSI per feature over time\(suffix)", xLabel: "events", yLabel: "PSI")
                var colorIndex = 0
                psi.series = features.map { feature in
                    let points = psiReadings.filter { $0.feature == feature }.map { (Double($0.end), $0.value) }
                    if drifting.contains(feature) {
                        defer { colorIndex += 1 }
                        return .init(name: feature, color: Self.palette[colorIndex % Self.palette.count], points: points, width: 2.2)
                    }
                    return .init(name: feature, color: "#c8c8c8", points: points, width: 1)
                }
                // Grey lines first (drawn under), unnamed (not in the legend); the drifting features on top.
                psi.series = psi.series.filter { !drifting.contains($0.name) }.map {
                    var quiet = $0
                    quiet.name = ""
                    return quiet
                } + psi.series.filter { drifting.contains($0.name) }
                psi.rules = [.init(y: 0.1, label: "0.1 warning", color: "#ff9f1c"), .init(y: 0.2, label: "0.2 critical", color: "#d62728")]
                psi.markers = result.driftPoints.enumerated().map { .init(x: Double($1), label: "drift \($0 + 1)", color: "#222") }
                out += section(
                    "psi-section", "Input drift\(suffix)", psi.svg(),
                    note: "The job's own PSI evaluations (each window against the reference), one line per watched input and the score. Coloured: features that crossed 0.2 (\(drifting.sorted().joined(separator: ", ").isEmpty ? "none" : drifting.sorted().joined(separator: ", "))); grey: the others.")
            }

            if let distribution = run.distribution {
                var bars = SVGChart(
                    id: "scores-\(agent)", title: "Score distribution before and after event \(distribution.at)\(suffix)",
                    xLabel: "score", yLabel: "share of events")
                bars.series = [
                    .init(name: "before", color: Self.palette[0], points: []),
                    .init(name: "after", color: Self.palette[1], points: []),
                ]
                let width = 1.0 / Double(distribution.bins)
                bars.bars = (
                    (0..<distribution.bins).map { String(format: "%.2f", Double($0) * width) },
                    [distribution.before, distribution.after]
                )
                out += section("scores-section", "Scores\(suffix)", bars.svg(), note: result.driftPoints.isEmpty ? "The first half of the stream's window against the second." : "The events just before the first drift point against those just after.")
            }
        }
        return out
    }

    // MARK: - Bandit

    private func banditSections() -> String {
        var regret = SVGChart(id: "regret", title: "Cumulative pseudo-regret", xLabel: "pulls", yLabel: "regret")
        for (index, agent) in result.agents.enumerated() {
            let runs = result.runs(of: agent).filter { !$0.regret.isEmpty }
            guard let first = runs.first else { continue }
            let count = runs.map(\.regret.count).min() ?? 0
            var series = SVGChart.Series(name: agent, color: Self.palette[index % Self.palette.count], points: [])
            for point in 0..<count {
                let values = runs.map { $0.regret[point] }
                let x = Double((point + 1) * first.step)
                series.points.append((x, values.reduce(0, +) / Double(values.count)))
                if let interval = SeedSummary(values).confidenceInterval95 {
                    series.band.append((x, interval.lowerBound, interval.upperBound))
                }
            }
            regret.series.append(series)
        }
        regret.markers = result.shifts.map { .init(x: Double($0), label: "arms change", color: "#222") }
        var out = section(
            "regret-section", "Regret", regret.svg(),
            note: "The best arm's expected reward minus the chosen arm's, summed over pulls: the mean over seeds, and its 95% confidence interval (Student's t) as a band.")
        for agent in result.agents {
            let runs = result.runs(of: agent).filter { !$0.armShares.isEmpty }
            guard let first = runs.first, let arms = first.armShares.first?.count else { continue }
            // Each block's shares, averaged over the seeds.
            let blocks = runs.map(\.armShares.count).min() ?? 0
            let seedsText = runs.count == 1 ? "seed \(first.seed)" : "mean over \(runs.count) seeds"
            var shares = SVGChart(
                id: "arms-\(agent)", title: "Arm shares — \(agent), \(seedsText)", xLabel: "pulls",
                yLabel: "share of decisions")
            shares.yRange = 0...1
            shares.series = (0..<arms).map { arm in
                .init(
                    name: "arm \(arm)", color: Self.palette[arm % Self.palette.count],
                    points: (0..<blocks).map { block in
                        (Double((block + 1) * first.step), runs.reduce(0.0) { $0 + $1.armShares[block][arm] } / Double(runs.count))
                    })
            }
            shares.markers = regret.markers
            out += section(
                "arms-section", "Arm shares — \(agent)", shares.svg(),
                note: "Each arm's share of the decisions in each block of \(first.step) pulls (\(seedsText); each seed draws its own arm means, so arm numbers mean the same only within a seed).")
        }
        return out
    }

    // MARK: - Environment

    private func environmentSections() -> String {
        let window = result.window
        var returns = SVGChart(
            id: "returns", title: "Return per training episode (faint) and its moving average over \(window) episodes", xLabel: "episodes",
            yLabel: "return")
        var lateReturns = SVGChart(
            id: "returns-late", title: "The second half: moving average over \(window) episodes", xLabel: "episodes", yLabel: "return")
        for (index, agent) in result.agents.enumerated() {
            let runs = result.runs(of: agent).filter { $0.returns.count >= window }
            guard !runs.isEmpty else { continue }
            let averages = runs.map { Self.movingAverage($0.returns, window: window) }
            let count = averages.map(\.count).min() ?? 0
            let stride = max(count / 300, 1)
            // Each episode's return (mean over seeds), faint under its moving average.
            let episodes = runs.map(\.returns.count).min() ?? 0
            var raw: [(x: Double, y: Double)] = []
            for episode in Swift.stride(from: 0, to: episodes, by: max(episodes / 600, 1)) {
                var total = 0.0
                for run in runs { total += run.returns[episode] }
                raw.append((Double(episode + 1), total / Double(runs.count)))
            }
            let color = Self.palette[index % Self.palette.count]
            returns.series.append(SVGChart.Series(name: "", color: color + "40", points: raw, width: 0.7))
            var series = SVGChart.Series(name: agent, color: Self.palette[index % Self.palette.count], points: [])
            for point in Swift.stride(from: 0, to: count, by: stride) {
                let values = averages.map { $0[point] }
                let x = Double(point + window)
                series.points.append((x, values.reduce(0, +) / Double(values.count)))
                if let interval = SeedSummary(values).confidenceInterval95 {
                    series.band.append((x, interval.lowerBound, interval.upperBound))
                }
            }
            returns.series.append(series)
            // The second half on its own scale: the early episodes' returns set the whole chart's, and hide the
            // late differences that decide between agents.
            var late = series
            let half = Double(runs.map(\.returns.count).min() ?? 0) / 2
            late.points = late.points.filter { $0.x >= half }
            late.band = late.band.filter { $0.x >= half }
            lateReturns.series.append(late)
        }
        var out = section(
            "returns-section", "Learning curves", returns.svg(),
            note: "Episodes in the order they ended, played through Kafka against the job. The line is the mean over seeds, the band its 95% confidence interval (Student's t).")
        out += section(
            "returns-late-section", "Learning curves, second half", lateReturns.svg(),
            note: "The same curves from the middle of training on, on their own scale.")
        var greedy = SVGChart(
            id: "greedy", title: "Greedy return of the published policy: mean over seeds and its 95% confidence interval",
            xLabel: "agent", yLabel: "mean return")
        greedy.series = [.init(name: "mean over seeds", color: Self.palette[0], points: [])]
        let summaries = result.agents.map { agent in
            let values = result.runs(of: agent).compactMap { $0.greedy?.meanReturn }
            return values.isEmpty ? nil : SeedSummary(values)
        }
        greedy.bars = (result.agents, [summaries.map { $0?.mean ?? 0 }])
        greedy.errorBars = [summaries.map { $0?.confidenceInterval95 }]
        out += section(
            "greedy-section", "Greedy policies", greedy.svg(),
            note: "The greedy policy each job published on its policy topic at the end, played for evaluation; each seed's figure is in the table above.")
        return out
    }

    static func movingAverage(_ values: [Double], window: Int) -> [Double] {
        guard values.count >= window else { return [] }
        var sum = values[0..<window].reduce(0, +)
        var averages = [sum / Double(window)]
        for index in window..<values.count {
            sum += values[index] - values[index - window]
            averages.append(sum / Double(window))
        }
        return averages
    }

    private func section(_ className: String, _ title: String, _ svg: String, note: String) -> String {
        "<section class=\"\(className)\"><h2>\(escape(title))</h2>\(svg)<p class=\"note\">\(escape(note))</p></section>"
    }

    static let css = """
        body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1d1d1f;margin:24px auto;max-width:920px;padding:0 16px;background:#fff}
        h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
        .description{color:#444;margin:0 0 8px}.note{color:#555;font-size:12.5px;margin:4px 0 0}
        .badge{display:inline-block;padding:2px 10px;border-radius:4px;font-weight:700;color:#fff}
        .badge.pass{background:#2e7d32}.badge.fail{background:#c62828}
        table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e3e3e3}
        th{background:#f5f5f7;font-weight:600}tr.fail td{background:#fdecea}tr.pass td:first-child{color:#2e7d32}tr.fail td:first-child{color:#c62828}
        svg.chart{display:block;max-width:100%;height:auto;background:#fff}
        .title{font-size:13px;font-weight:600;fill:#1d1d1f}.legend,.tick{font-size:11px;fill:#444}
        .axis-label{font-size:12px;fill:#333}.grid line{stroke:#ececec}.frame{fill:none;stroke:#bbb}
        .rule{stroke-dasharray:6 4;stroke-width:1.2}.rule-label{font-size:11px}
        .marker{stroke-width:1;stroke-dasharray:3 3;opacity:.85}.marker-label{font-size:10.5px}
        .band{opacity:.18}footer{margin:32px 0 8px;color:#888;font-size:12px}
        """
}
