import Foundation
import StreamKafka
import Testing

/// `streamlearn scenario run`: every scenario in Scenarios/ runs end to end through Kafka and its expectations
/// hold; failures and bad files are reported as documented.
@Suite("streamlearn scenario: runnable scenarios with expectations", .serialized)
struct ScenarioTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func scenario(_ name: String) -> String { root.appendingPathComponent("Scenarios/\(name).yaml").path }

    static func json(_ result: CLI.Result) throws -> [String: Any] {
        let line = try #require(result.stdout.split(separator: "\n").last, "no output; stderr: \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    static let shipped: [(String, [String])] = [
        ("fraud-drift", []), ("fraud-stationary", ["--events", "50000"]), ("fraud-gradual-drift", []),
        ("bandit-ads", []), ("contextual-bandit", []), ("frozenlake-qlearning", []), ("taxi-agents", []),
        ("cliffwalking-sarsa", []), ("fraud-features", []), ("mountaincar-tiles", []), ("cartpole-tiles", []),
    ]

    @Test("Every scenario in Scenarios/ runs and every expectation holds", arguments: shipped.map(\.0))
    func shippedScenario(name: String) throws {
        let extra = Self.shipped.first { $0.0 == name }!.1
        let result = try CLI.run(["scenario", "run", Self.scenario(name), "--json"] + extra, timeout: .seconds(300))
        let object = try Self.json(result)
        let expectations = try #require(object["expectations"] as? [[String: Any]])
        let failed = expectations.filter { $0["passed"] as? Bool != true }
        #expect(result.status == 0 && failed.isEmpty, "\(name): \(failed)\n\(result.stderr)")
        #expect(!expectations.isEmpty)
        for expectation in expectations {
            #expect(expectation["name"] is String && expectation["expected"] is String && expectation["measured"] != nil)
        }
        let runs = try #require(object["runs"] as? [[String: Any]])
        let seeds = (object["seeds"] as? [Int])?.count ?? 0
        #expect(runs.count == seeds * ((object["agents"] as? [String])?.count ?? 0))
        if object["kind"] as? String == "fraud" {
            for run in runs { #expect(run["distinct_scored"] as? Int == run["events"] as? Int) }
        }
        if name == "frozenlake-qlearning" {
            // stderr is a pipe here: a plain progress line every 5 s (the run takes longer).
            #expect(result.stderr.contains("scenario frozenlake-qlearning  [") && result.stderr.contains("/3,000 episodes"), "\(result.stderr)")
        }
    }

    @Test(
        "On a terminal, a progress bar with the rate and the time left; --quiet shows none",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func progressBar() throws {
        func onTerminal(_ arguments: String) throws -> String {
            try CLI.run(
                ["-qfec", "\(CLI.executable.path) \(arguments)", "/dev/null"], timeout: .seconds(300),
                program: URL(fileURLWithPath: "/usr/bin/script")
            ).stdout
        }
        let shown = try onTerminal("scenario run \(Self.scenario("fraud-gradual-drift"))")
        #expect(shown.contains("\u{1B}[Kscenario fraud-gradual-drift  [") && shown.contains("/35,000 events") && shown.contains("/s"), "\(shown.prefix(600))")
        #expect(shown.contains("result    PASS"), "the summary follows")
        let quiet = try onTerminal("scenario run \(Self.scenario("fraud-gradual-drift")) --quiet")
        #expect(!quiet.contains("scenario fraud-gradual-drift  [") && quiet.contains("result    PASS"))
    }

    @Test("The fraud scenario's summary: each run, each expectation with measured and expected values, the report")
    func fraudSummaryAndReport() throws {
        let directory = try RunFiles.directory("scenario")
        defer { try? FileManager.default.removeItem(at: directory) }
        let report = directory.appendingPathComponent("report.html").path
        let result = try CLI.run(["scenario", "run", Self.scenario("fraud-drift"), "--report", report], timeout: .seconds(300))
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("scenario  fraud-drift (seed 7, ") == true)
        #expect(lines.contains { $0.contains("fraud-drift  7     50000   50000") }, "\(result.stdout)")
        #expect(lines.contains("  PASS  each event scored exactly once: measured 50000, expected 50000 distinct ids, one score each"))
        #expect(lines.contains("result    PASS: 9 of 9 expectations hold"), "\(result.stdout)")
        #expect(lines.last == "report    \(report)")
        let html = try String(contentsOfFile: report, encoding: .utf8)
        for id in ["<svg id=\"quality-fraud-drift\"", "<svg id=\"psi-fraud-drift\"", "<svg id=\"scores-fraud-drift\"", "id=\"expectations\""] {
            #expect(html.contains(id), "report lacks \(id)")
        }
        // Self-contained: nothing fetched.
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"))
        #expect(html.contains("0.1 warning") && html.contains("0.2 critical") && html.contains("drift 2"))
    }

    @Test("A failing expectation exits 1 and lists the failures; the same seed gives the same figures through Kafka")
    func failureAndDeterminism() throws {
        let directory = try RunFiles.directory("scenario")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("lake.yaml").path
        try """
            name: lake
            seeds: 2
            environment: {name: frozenlake, episodes: 300, parallel: 20, evaluation_episodes: 100}
            agents:
              - name: q
                job:
                  output: {mode: at-least-once, linger_ms: 1}
                  model: {algorithm: qlearning, states: 16, actions: 4, epsilon: 0.2}
              - name: sarsa
                job:
                  output: {mode: at-least-once, linger_ms: 1}
                  model: {algorithm: sarsa, states: 16, actions: 4, epsilon: 0.2}
            expect:
              - training_return: {agent: q, at_least: -1}
              - greedy_return: {agent: q, at_least: 2}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let first = try CLI.run(["scenario", "run", file], timeout: .seconds(300))
        #expect(first.status == 1, "\(first.stdout)\n\(first.stderr)")
        #expect(first.stdout.contains("  PASS  training return of q (mean over 2 seeds)"))
        #expect(first.stdout.contains("  FAIL  greedy return of q (mean over 2 seeds): measured "))
        #expect(first.stdout.contains("result    FAIL: 1 of 2 expectations failed: greedy return of q (mean over 2 seeds)"))
        #expect(first.stdout.contains("comparison over 2 seeds: mean, its 95% confidence interval (Student's t), [range]"))
        let a = try Self.json(try CLI.run(["scenario", "run", file, "--json", "--seed", "4"], timeout: .seconds(300)))
        let b = try Self.json(try CLI.run(["scenario", "run", file, "--json", "--seed", "4"], timeout: .seconds(300)))
        let runsA = try #require(a["runs"] as? [[String: Any]])
        let runsB = try #require(b["runs"] as? [[String: Any]])
        #expect(runsA.count == 4)
        #expect(a["seeds"] as? [Int] == [4, 5])
        for (x, y) in zip(runsA, runsB) {
            for key in ["training_return", "greedy_return", "answered", "episodes"] {
                #expect("\(x[key]!)" == "\(y[key]!)", "\(key) differs between two runs of seed 4")
            }
        }
    }

    @Test("On a cluster named by `broker:`, each run's topics are its own, created by the cluster with several partitions")
    func externalBroker() throws {
        // A separate cluster: its topics come from auto-creation, with the cluster's default partition count (4 on
        // the embedded one), so scores and answers are read from several partitions.
        let broker = try EmbeddedBroker(topics: [])
        defer { broker.close() }
        let directory = try RunFiles.directory("scenario")
        defer { try? FileManager.default.removeItem(at: directory) }
        let stream = directory.appendingPathComponent("stream.yaml").path
        try """
            name: outside
            broker: \(broker.bootstrapServers)
            stream: {events: 4000, label_delay: 100, labels: topic}
            job: {detectors: {input_psi_window: 1000}}
            expect:
              - scored_once: true
            """.write(toFile: stream, atomically: true, encoding: .utf8)
        let scored = try CLI.run(["scenario", "run", stream, "--json"], timeout: .seconds(300))
        #expect(scored.status == 0, "\(scored.stdout)\n\(scored.stderr)")
        let bandit = directory.appendingPathComponent("bandit.yaml").path
        try """
            name: outside-bandit
            broker: \(broker.bootstrapServers)
            bandit: {arms: 3, pulls: 600, batch: 20}
            job:
              output: {mode: at-least-once, linger_ms: 1}
              model: {policy: ucb1, arms: 3}
            expect:
              - regret: {at_most: 600}
            """.write(toFile: bandit, atomically: true, encoding: .utf8)
        let decided = try CLI.run(["scenario", "run", bandit, "--json"], timeout: .seconds(300))
        #expect(decided.status == 0, "\(decided.stdout)\n\(decided.stderr)")
        let runs = try #require(try Self.json(decided)["runs"] as? [[String: Any]])
        #expect(runs.first?["answered"] as? Int == 600)
        let again = try CLI.run(["scenario", "run", stream, "--json"], timeout: .seconds(300))
        #expect(again.status == 0, "a second run uses topics of its own: \(again.stdout)\n\(again.stderr)")
    }

    /// Each scenario text, written to `x.yaml`, is refused with exit 78 and the message.
    static func expectRefused(_ cases: [(String, String)], in directory: URL) throws {
        for (text, message) in cases {
            let file = directory.appendingPathComponent("x.yaml").path
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let result = try CLI.run(["scenario", "run", file])
            #expect(result.status == 78, "\(text)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
        }
    }

    @Test("A bad scenario file stops with exit 78 and the key's path")
    func badFile() throws {
        let directory = try RunFiles.directory("scenario")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(String, String)] = [
            ("name: x\nbandit: {arms: 1}\n", "x.yaml: bandit.arms: must be at least 2, got 1"),
            ("name: x\nstream: {events: 1000}\njob: {model: {optimizer: {kind: nope}}}\n",
             "x.yaml: job.model.optimizer.kind: must be one of 'sgd', 'adagrad', 'ftrl', got 'nope'"),
            ("name: x\nstream: {events: 1000}\njob: {topics: {events: a}}\n", "x.yaml: job.topics: is set by the scenario runner"),
            ("name: x\nstream: {events: 1000}\nexpect:\n  - regret: {at_most: 3}\n", "x.yaml: expect[0].regret: does not apply to a stream scenario"),
            ("name: x\nenvironment: {name: taxi}\nagents: [{name: a, job: {model: {states: 500, actions: 6}}}]\nexpect:\n  - beats: {agent: a, over: b, on: greedy_return}\n",
             "x.yaml: expect[0].beats.over: must name another agent (agents: a)"),
            ("name: x\nstream: {events: 1000, drift: [{at: 500, kind: sideways}]}\n",
             "x.yaml: stream.drift[0].kind: must be one of 'covariate', 'concept', 'both', got 'sideways'"),
        ]
        try Self.expectRefused(cases, in: directory)
    }

    @Test("scenario run --curves: every run's regret over pulls and arm shares, the same as its --json figures")
    func scenarioCurves() throws {
        let directory = try RunFiles.directory("scenario-curves")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try RunFiles.write(
            """
            name: curves
            seeds: 2
            bandit: {arms: 3, pulls: 400, batch: 20}
            job: {model: {policy: thompson, arms: 3}}
            report: {window: 100}
            """, to: directory, "curves.yaml")
        let curves = directory.appendingPathComponent("curves.json").path
        let result = try CLI.run(["scenario", "run", file, "--curves", curves, "--json"], timeout: .seconds(300))
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try Self.json(result)
        #expect(summary["curves"] as? String == curves)
        let exported = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: curves))) as? [String: Any])
        #expect(exported["source"] as? String == "scenario curves")
        let runs = exported["runs"] as? [[String: Any]] ?? []
        #expect(runs.map { $0["seed"] as? Int } == [1, 2])
        for (run, figures) in zip(runs, summary["runs"] as? [[String: Any]] ?? []) {
            let series = run["series"] as? [String: [[Double]]] ?? [:]
            #expect(series["regret"]?.last?.first == 400)
            #expect(series["regret"]?.last?.last == figures["regret"] as? Double, "the curve ends at the run's regret")
            #expect(Set(series.keys) == ["regret", "arm_share[0]", "arm_share[1]", "arm_share[2]"])
        }
    }

    @Test("An environment of your own (name: mdp, a dumped P table) plays through a job like the built-in ones, and is sized against it")
    func ownEnvironmentScenario() throws {
        let directory = try RunFiles.directory("scenario-mdp")
        defer { try? FileManager.default.removeItem(at: directory) }
        let table = try RunFiles.write(try CLI.run(["simulate", "frozenlake", "--no-slippery", "--dump-dynamics"]).stdout, to: directory, "lake.json")
        let scenario = try RunFiles.write(
            """
            name: own
            environment: {name: mdp, file: \(table), episodes: 300, parallel: 20, evaluation_episodes: 50}
            job: {output: {mode: at-least-once, linger_ms: 1}, model: {states: 16, actions: 4, learning_rate: 0.5, epsilon: 0.2}}
            expect:
              - success_rate: {at_least: 1}
            """, to: directory, "own.yaml")
        let result = try CLI.run(["scenario", "run", scenario, "--json"], timeout: .seconds(300))
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let wrong = try RunFiles.write(
            "name: own\nenvironment: {name: mdp, file: \(table)}\njob: {model: {states: 500, actions: 4}}\n", to: directory, "wrong.yaml")
        let refused = try CLI.run(["scenario", "run", wrong])
        #expect(refused.status == 78 && refused.stderr.contains("job.model.states: is 500, the environment (mdp \(table)) has 16 states"), "\(refused.stderr)")
        let missing = try RunFiles.write("name: own\nenvironment: {name: mdp}\n", to: directory, "missing.yaml")
        #expect(try CLI.run(["scenario", "run", missing]).stderr.contains("environment.file: is required (the dynamics file of name: mdp)"))
    }

    @Test("A job sized for another environment or testbed, and settings that could never take effect, are refused before anything runs (exit 78, both values named); a missing file exits 66")
    func mismatchesRefused() throws {
        let directory = try RunFiles.directory("scenario-sizes")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(String, String)] = [
            // Taxi has 6 actions: 12 once indexed another state's row, then ran past the table.
            ("name: x\nenvironment: {name: taxi}\njob: {model: {states: 500, actions: 12}}\n",
             "x.yaml: job.model.actions: is 12, the environment (taxi) has 6 actions"),
            ("name: x\nenvironment: {name: frozenlake, slippery: false}\njob: {model: {states: 16, actions: 6}}\n",
             "x.yaml: job.model.actions: is 6, the environment (frozenlake 4x4) has 4 actions"),
            ("name: x\nenvironment: {name: taxi}\njob: {model: {states: 16, actions: 6}}\n",
             "x.yaml: job.model.states: is 16, the environment (taxi) has 500 states"),
            ("name: x\nenvironment: {name: frozenlake, map: 8x8}\nagents: [{name: a, job: {model: {states: 64, actions: 4}}}, {name: b, job: {model: {states: 16, actions: 4}}}]\n",
             "x.yaml: agents[1].job.model.states: is 16, the environment (frozenlake 8x8) has 64 states"),
            ("name: x\nbandit: {testbed: contextual, arms: 5, dimension: 8}\njob: {model: {policy: linucb, arms: 5, dimension: 4}}\n",
             "x.yaml: job.model.dimension: is 4, the testbed's contexts have 8 values (bandit.dimension)"),
            ("name: x\nbandit: {arms: 5}\njob: {model: {policy: thompson, arms: 8}}\n",
             "x.yaml: job.model.arms: is 8, the testbed has 5 arms (bandit.arms)"),
            ("name: x\nbandit: {arms: 5}\njob: {model: {policy: thompson, arms: 3}}\n",
             "x.yaml: job.model.arms: is 3, the testbed has 5 arms (bandit.arms)"),
            ("name: x\nbandit: {arms: 5}\njob: {model: {policy: linucb, arms: 5, dimension: 8}}\n",
             "x.yaml: job.model.policy: linucb needs contexts: the bernoulli testbed sends none (bandit.testbed: contextual)"),
            ("name: x\nbandit: {arms: 5, pulls: 100}\njob: {model: {policy: thompson, arms: 5}}\nexpect:\n  - regret: {pulls: 5000, at_most: 10}\n",
             "x.yaml: expect[0].regret.pulls: is 5000, past the scenario's 100 pulls (bandit.pulls)"),
            ("name: x\nbandit: {arms: 5, pulls: 100, shifts: [50, 500]}\njob: {model: {policy: thompson, arms: 5}}\n",
             "x.yaml: bandit.shifts[1]: is 500, past the last pull (100): it would never happen"),
            ("name: x\nbandit: {arms: 5, dimension: 4}\njob: {model: {policy: thompson, arms: 5}}\n",
             "x.yaml: bandit.dimension: applies to the contextual testbed only"),
            ("name: x\nenvironment: {name: frozenlake, map: 'SFF,FHF,FFF'}\njob: {model: {states: 9, actions: 4}}\n",
             "x.yaml: environment.map: invalid map: the map needs a goal cell G"),
        ]
        try Self.expectRefused(cases, in: directory)
        let missing = try CLI.run(["scenario", "run", directory.appendingPathComponent("missing.yaml").path])
        #expect(missing.status == 66 && missing.stderr.contains("missing.yaml: cannot read it"), "\(missing.status) \(missing.stderr)")
        let missingJob = try CLI.run(["run", directory.appendingPathComponent("missing.yaml").path])
        #expect(missingJob.status == 66, "\(missingJob.status) \(missingJob.stderr)")
    }

    @Test("make report-check: the reports render in headless Chromium (runs when chromium is installed)")
    func reportCheck() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else { return }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("report-check-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try CLI.run(
            [CLI.executable.path, output.path], timeout: .seconds(600),
            program: Self.root.appendingPathComponent("Scripts/report-check.sh"))
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        for scenario in ["fraud-drift", "bandit-ads", "frozenlake-qlearning"] {
            #expect(result.stdout.contains("report-check: \(scenario): 1000x1800 PNG"), "\(result.stdout)")
        }
    }
}
