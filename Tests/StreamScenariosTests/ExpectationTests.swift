import Foundation
import KafkaRuntime
@testable import StreamScenarios
import Testing

/// Expectations judged, and the report drawn, from results made by hand: no broker, no job (the scenario tests
/// run the real thing through `streamlearn scenario run`).
@Suite("Scenario expectations and the report")
struct ExpectationTests {
    static let scenario = """
        name: judged
        seed: 1
        stream: {generator: fraud, events: 40000, drift: [{at: 20000, kind: covariate}]}
        job: {detectors: {input_psi_window: 2000}}
        expect:
          - no_alert: {severity: critical, before: 20000}
          - alert: {detector: psi, feature: amount, severity: critical, after: 20000, within: 5000}
          - alerts: {state: firing, at_most: 2}
          - snapshot_at_critical_alerts: true
        """

    static func alert(
        _ id: String, feature: String, severity: String = "critical", end: Int, snapshot: String? = nil,
        written: Bool = false
    ) -> ScenarioResult.AlertRecord {
        ScenarioResult.AlertRecord(
            id: id, detector: "psi", feature: feature, severity: severity, state: "firing", value: 0.4,
            start: end - 2_000, end: end, snapshot: snapshot, snapshotWritten: written)
    }

    static func result(_ alerts: [ScenarioResult.AlertRecord]) throws -> ScenarioResult {
        let scenario = try Scenario.parse(yaml: Self.scenario)
        var run = ScenarioResult.Run(agent: "judged", seed: 1, summary: .init())
        run.alerts = alerts
        run.events = 40_000
        run.quality = stride(from: 2_000, through: 40_000, by: 2_000).map {
            ScenarioResult.QualityPoint(end: $0, f1: 0.5, rocAUC: $0 < 24_000 ? 0.9 : 0.7, averagePrecision: 0.4)
        }
        var result = ScenarioResult(
            scenario: scenario.name, description: "", kind: .fraud, seeds: [1], agents: ["judged"], runs: [run],
            window: 2_000)
        result.driftPoints = [20_000]
        result.verdicts = scenario.expectations.map { $0.judge(result) }
        return result
    }

    @Test("Each expectation passes or fails on the measured value, which it reports with what was expected")
    func judged() throws {
        let passing = try Self.result([Self.alert("a1", feature: "amount", end: 23_000, snapshot: "s1", written: true)])
        #expect(passing.verdicts.map(\.passed) == [true, true, true, true], "\(passing.verdicts)")
        #expect(passing.verdicts[1].measured == 3_000 && passing.verdicts[1].expected == "≤ 5000 events")

        let failing = try Self.result([
            Self.alert("early", feature: "amount", end: 15_000, snapshot: "s0", written: true),
            Self.alert("late", feature: "amount", end: 26_000, snapshot: "s1", written: false),
            Self.alert("other", feature: "hour", severity: "warning", end: 27_000),
        ])
        #expect(failing.verdicts.map(\.passed) == [false, false, false, false], "\(failing.verdicts)")
        #expect(failing.verdicts[0].measured == 1, "one critical alert before the drift")
        #expect(failing.verdicts[1].measured == 6_000, "the first critical amount alert after 20,000 ends at 26,000")
        #expect(failing.verdicts[2].measured == 3)
        #expect(!failing.passed)
    }

    @Test("The report is one HTML page with the quality chart, the drift point, each alert and each verdict")
    func report() throws {
        let result = try Self.result([Self.alert("a1", feature: "amount", end: 23_000, snapshot: "s1", written: true)])
        let html = ScenarioReport(result: result).html()
        #expect(html.hasPrefix("<!DOCTYPE html>") || html.hasPrefix("<!doctype html>"))
        #expect(html.components(separatedBy: "<svg").count - 1 >= 1, "a chart")
        #expect(html.contains("judged"))
        for verdict in result.verdicts { #expect(html.contains(verdict.name.replacingOccurrences(of: "<", with: "&lt;"))) }
    }

    /// A bandit result with these final regrets per agent, seeds 1…n.
    static func banditResult(_ regrets: [String: [Double]], expect: String) throws -> ScenarioResult {
        let agents = regrets.keys.sorted()
        let seeds = regrets.values.map(\.count).max() ?? 1
        let yaml = """
            name: judged
            seeds: \(seeds)
            bandit: {arms: 5, pulls: 1000}
            agents: [\(agents.map { "{name: \($0), job: {model: {policy: thompson, arms: 5}}}" }.joined(separator: ", "))]
            expect:
              - \(expect)
            """
        let scenario = try Scenario.parse(yaml: yaml)
        var runs: [ScenarioResult.Run] = []
        for agent in agents {
            for (index, value) in regrets[agent]!.enumerated() {
                var run = ScenarioResult.Run(agent: agent, seed: UInt64(index + 1), summary: .init())
                run.regret = [value]
                runs.append(run)
            }
        }
        var result = ScenarioResult(
            scenario: "judged", description: "", kind: .bandit, seeds: (1...UInt64(seeds)).map { $0 }, agents: agents,
            runs: runs, window: 10)
        result.verdicts = scenario.expectations.map { $0.judge(result) }
        return result
    }

    @Test("beats is decided by Welch's test: a lower mean with a wide spread is not enough; a margin moves the bar; one seed is refused")
    func beatsByWelch() throws {
        // The case that passed on means alone: one agent ranging 195 to 2,886.
        let spread = try Self.banditResult(
            ["a": [195, 2_886, 240], "b": [1_300, 1_350, 1_400]], expect: "beats: {agent: a, over: b, on: regret}")
        let verdict = try #require(spread.verdicts.first)
        #expect(!verdict.passed, "\(verdict)")
        #expect(verdict.detail?.contains("95% CI") == true && verdict.detail?.contains("p 0.") == true, "\(verdict.detail ?? "")")
        let clear = try Self.banditResult(
            ["a": [86, 91, 82], "b": [8_506, 10_775, 8_666]], expect: "beats: {agent: a, over: b, on: regret}")
        #expect(clear.verdicts.first?.passed == true, "\(clear.verdicts)")
        #expect(abs((clear.verdicts.first?.measured ?? 0) - (9_315.667 - 86.333)) < 0.01, "the difference, in the better direction")
        let margin = try Self.banditResult(
            ["a": [86, 91, 82], "b": [8_506, 10_775, 8_666]], expect: "beats: {agent: a, over: b, on: regret, by: 7000}")
        #expect(margin.verdicts.first?.passed == false, "the CI's low end (about 6,100) is under the margin")
        #expect(throws: ConfigurationError.self) {
            try Self.banditResult(["a": [1], "b": [2]], expect: "beats: {agent: a, over: b, on: regret}")
        }
    }
}
