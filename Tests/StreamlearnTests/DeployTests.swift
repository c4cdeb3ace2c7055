import Foundation
import StreamKafka
import Testing

/// The repository's root (for `deploy/`, `examples/`).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../..").standardized

/// A free TCP port on loopback (bound, read and released: the server started next takes it).
func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A server from Debian's packages (Prometheus, Alertmanager) on a free loopback port, its output in a log file,
/// stopped with SIGKILL (test processes pass a blocked SIGTERM on to their children).
final class ServerProcess {
    let port: Int
    let log: URL
    private let process = Process()

    /// Starts `executable` with `arguments(port)` and waits until `GET readyPath` answers 200.
    init(_ executable: String, in directory: URL, arguments: (Int) -> [String], readyPath: String = "/-/ready") throws {
        port = try freeLoopbackPort()
        log = directory.appendingPathComponent(URL(fileURLWithPath: executable).lastPathComponent + ".log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments(port)
        process.currentDirectoryURL = directory
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline && process.isRunning {
            if HTTP.request(url + readyPath)?.status == 200 { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        stop()
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "\(executable) did not start: \(logText)"])
    }

    var url: String { "http://127.0.0.1:\(port)" }
    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// `GET path` as JSON (`nil` when it does not answer 200 with JSON).
    func json(_ path: String) -> Any? {
        guard let answer = HTTP.request(url + path), answer.status == 200 else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// `deploy/`: what the operations kit ships, checked by the tools that will read it (Debian's `prometheus`,
/// `prometheus-alertmanager` and systemd packages), and the dashboard's and rules' expressions run against a real
/// Prometheus scraping a real job.
@Suite("deploy/: the operations kit, checked by Prometheus, Alertmanager and systemd", .serialized)
struct DeployTests {
    static let deploy = repositoryRoot.appendingPathComponent("deploy")

    static func tool(_ name: String, _ arguments: [String], in directory: URL? = nil) throws -> CLI.Result {
        let path = try #require(
            ["/usr/bin/\(name)", "/bin/\(name)"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "\(name) is not installed (make deps installs it)")
        if let directory {
            // promtool reads a test file's rule_files relative to the working directory.
            return try CLI.run(["-c", "cd \"$0\" && exec \"$@\"", directory.path, path] + arguments, program: URL(fileURLWithPath: "/bin/sh"))
        }
        return try CLI.run(arguments, program: URL(fileURLWithPath: path))
    }

    @Test("promtool accepts the alerting rules, and their unit tests (each rule firing and not firing) pass")
    func prometheusRules() throws {
        let rules = Self.deploy.appendingPathComponent("prometheus")
        let check = try Self.tool("promtool", ["check", "rules", "streamlearn-rules.yml"], in: rules)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("SUCCESS: 11 rules found"), "\(check.stdout)")
        let test = try Self.tool("promtool", ["test", "rules", "streamlearn-rules.test.yml"], in: rules)
        #expect(test.status == 0, "\(test.stdout)\(test.stderr)")
        #expect(test.stdout.contains("SUCCESS"), "\(test.stdout)")
        // Every rule has a runbook line, a severity, and a unit test naming it.
        let text = try String(contentsOf: rules.appendingPathComponent("streamlearn-rules.yml"), encoding: .utf8)
        let tests = try String(contentsOf: rules.appendingPathComponent("streamlearn-rules.test.yml"), encoding: .utf8)
        let names = text.split(separator: "\n").filter { $0.contains("- alert: ") }.map { String($0.split(separator: " ").last!) }
        #expect(Set(names).count == 9, "\(names)")
        #expect(text.components(separatedBy: "runbook: ").count - 1 == names.count)
        #expect(text.components(separatedBy: "severity: ").count - 1 == names.count)
        for name in Set(names) { #expect(tests.contains("alertname: \(name)\n"), "no unit test for \(name)") }
    }

    @Test("amtool accepts the Alertmanager configuration, and routes by model and severity as its comments say")
    func alertmanagerConfiguration() throws {
        let route = Self.deploy.appendingPathComponent("alertmanager/route.yml").path
        let check = try Self.tool("amtool", ["check-config", route])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("SUCCESS") && check.stdout.contains("1 inhibit rules"), "\(check.stdout)")
        let cases: [([String], String)] = [
            (["model=fraud", "severity=critical", "alertname=drift.psi"], "fraud-team-pager"),
            (["model=fraud-p3", "severity=warning", "alertname=drift.psi"], "fraud-team-chat"),
            (["model=offers", "severity=critical", "alertname=StreamlearnNotReady"], "streamlearn-pager"),
            (["model=offers", "severity=warning", "alertname=drift.f1"], "streamlearn-chat"),
            (["job=streamlearn", "severity=critical", "alertname=StreamlearnDown"], "streamlearn-pager"),
        ]
        for (labels, receiver) in cases {
            let routed = try Self.tool("amtool", ["config", "routes", "test", "--config.file", route] + labels)
            #expect(routed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == receiver, "\(labels): \(routed.stdout)\(routed.stderr)")
        }
    }

    @Test("systemd-analyze verifies the service unit with no complaint, and rates it as hardened")
    func systemdUnit() throws {
        let directory = try RunFiles.directory("systemd")
        defer { try? FileManager.default.removeItem(at: directory) }
        // The unit names /usr/local/bin/streamlearn; verify checks that ExecStart exists, so point it at this build.
        let unit = try String(contentsOf: Self.deploy.appendingPathComponent("systemd/streamlearn@.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/bin/streamlearn run /etc/streamlearn/%i.yaml"))
        _ = try RunFiles.write(
            unit.replacingOccurrences(of: "/usr/local/bin/streamlearn", with: CLI.executable.path), to: directory,
            "streamlearn@.service")
        let instance = directory.appendingPathComponent("streamlearn@fraud.service").path
        let verify = try Self.tool("systemd-analyze", ["verify", instance])
        #expect(verify.status == 0 && verify.stdout.isEmpty && verify.stderr.isEmpty, "\(verify.stdout)\(verify.stderr)")
        let security = try Self.tool("systemd-analyze", ["security", "--offline=true", instance])
        let exposure = security.stdout.split(separator: "\n").last { $0.contains("Overall exposure level") }
            .flatMap { line in line.split(separator: " ").compactMap { Double($0) }.first }
        #expect((exposure ?? 10) <= 2.0, "\(security.stdout.suffix(300))")
    }
}

extension DeployTests {
    /// The dashboard's panels: (title, expression) for every target.
    static func dashboardExpressions() throws -> [(panel: String, expr: String)] {
        let data = try Data(contentsOf: deploy.appendingPathComponent("grafana/streamlearn.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        return panels.flatMap { panel -> [(String, String)] in
            let targets = panel["targets"] as? [[String: Any]] ?? []
            return targets.compactMap { target in (target["expr"] as? String).map { (panel["title"] as? String ?? "?", $0) } }
        }
    }

    @Test("The dashboard is templated by job_name and draws every panel from the metrics a job serves")
    func dashboardShape() throws {
        let data = try Data(contentsOf: Self.deploy.appendingPathComponent("grafana/streamlearn.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let variables = ((dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(variables == ["datasource", "job_name"])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        var ids: Set<Int> = []
        for panel in panels {
            let id = try #require(panel["id"] as? Int)
            #expect(ids.insert(id).inserted, "panel id \(id) twice")
            let grid = try #require(panel["gridPos"] as? [String: Int], "\(panel["title"] ?? "?")")
            #expect((grid["x"] ?? 99) + (grid["w"] ?? 99) <= 24, "\(panel["title"] ?? "?") is wider than the grid")
            guard panel["type"] as? String != "row" else { continue }
            let targets = try #require(panel["targets"] as? [[String: Any]])
            #expect(!targets.isEmpty, "\(panel["title"] ?? "?") has no query")
            for target in targets {
                let expr = try #require(target["expr"] as? String)
                #expect(expr.contains("$job_name"), "\(panel["title"] ?? "?"): \(expr) is not templated by job_name")
            }
        }
        // What the issue's operators asked for is there.
        let titles = Set(panels.compactMap { $0["title"] as? String })
        for wanted in [
            "Ready", "Messages in", "Messages out", "Consumer lag per partition", "Score latency", "Learn latency",
            "Dead letters by reason", "PSI per feature", "Rolling F1", "ROC-AUC", "Alerts raised", "Snapshot age",
            "POST /score",
        ] {
            #expect(titles.contains(wanted), "no panel \(wanted)")
        }
    }
}

extension DeployTests {
    @Test("A real Prometheus scrapes a running job: every dashboard expression returns data and every rule evaluates; the job's alerts reach a real Alertmanager with deploy/'s route, grouped by model and kind, routed by severity, warnings inhibited by their critical")
    func liveStack() throws {
        let directory = try RunFiles.directory("deploy")
        defer { try? FileManager.default.removeItem(at: directory) }
        let alertmanager = try ServerProcess("/usr/bin/prometheus-alertmanager", in: directory) { port in
            [
                "--config.file", Self.deploy.appendingPathComponent("alertmanager/route.yml").path,
                "--storage.path", directory.appendingPathComponent("alertmanager").path,
                "--web.listen-address", "127.0.0.1:\(port)", "--cluster.listen-address=",
            ]
        }
        defer { alertmanager.stop() }

        // A job named fraud-kit (the route's fraud team) on a drifting stream, with bad messages and late labels.
        let broker = try EmbeddedBroker(topics: [("kit-events", 2), ("kit-labels", 2), ("kit-scores", 2), ("kit-dead", 1), ("kit-alerts", 1)])
        defer { broker.close() }
        let config = try RunFiles.write(
            RunTests.scoringConfig(
                name: "fraud-kit", events: "kit-events", labels: "kit-labels", scores: "kit-scores", alerts: "kit-alerts",
                deadLetter: "kit-dead", snapshots: directory.appendingPathComponent("snapshots").path, snapshotEvery: 5000,
                extra: """
                    detectors: {input_psi_window: 2000, score_psi_window: 2000, f1_window: 1000}
                    alertmanager: {url: "\(alertmanager.url)", resend_interval_s: 1}
                    """),
            to: directory, "kit.yaml")
        let job = try RunProcess([config, "--brokers", broker.bootstrapServers])
        let endpoint = try #require(job.opsEndpoint(), "\(job.stderrSoFar)")
        defer { _ = job.wait(timeout: .seconds(60), signal: SIGTERM) }

        // Prometheus scrapes the job every second and evaluates deploy/'s rules, sending to the Alertmanager.
        let rules = Self.deploy.appendingPathComponent("prometheus/streamlearn-rules.yml").path
        let prometheusConfig = try RunFiles.write(
            """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            rule_files: ["\(rules)"]
            alerting:
              alertmanagers: [{static_configs: [{targets: ["127.0.0.1:\(alertmanager.port)"]}]}]
            scrape_configs:
              - job_name: streamlearn
                static_configs: [{targets: ["\(endpoint.replacingOccurrences(of: "http://", with: ""))"]}]
            """, to: directory, "prometheus.yml")
        let prometheus = try ServerProcess("/usr/bin/prometheus", in: directory) { port in
            [
                "--config.file", prometheusConfig, "--storage.tsdb.path", directory.appendingPathComponent("tsdb").path,
                "--web.listen-address", "127.0.0.1:\(port)",
            ]
        }
        defer { prometheus.stop() }
        func query(_ expr: String) -> [[String: Any]]? {
            let encoded = expr.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expr
            let answer = prometheus.json("/api/v1/query?query=\(encoded)") as? [String: Any]
            return (answer?["data"] as? [String: Any])?["result"] as? [[String: Any]]
        }
        func finite(_ result: [[String: Any]]?) -> Bool {
            (result ?? []).contains { sample in
                ((sample["value"] as? [Any])?.last as? String).flatMap(Double.init).map(\.isFinite) ?? false
            }
        }
        let scraped = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < scraped && !finite(query(#"streamlearn_ready{job="streamlearn",job_name="fraud-kit"}"#)) {
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(finite(query(#"up{job="streamlearn"} == 1"#)), "Prometheus does not scrape the job: \(prometheus.logText.suffix(2000))")

        // The traffic, once Prometheus watches: 30,000 events drifting at 15,000, their labels 300 events late,
        // three bad messages, and synchronous scores.
        let stream = try CLI.run(["generate", "fraud", "--events", "30000", "--seed", "8", "--drift-at", "15000", "--drift", "covariate", "--label-delay", "300"]).stdout
        var events: [String] = []
        var labels: [String] = []
        for line in stream.split(separator: "\n").map(String.init) {
            if line.contains(#""amount""#) { events.append(line) } else { labels.append(line) }
        }
        events.insert(contentsOf: ["{not json", #"{"id":"b1","amount":"x"}"#, #"{"id":"b2","amount":1,"label":"yes"}"#], at: 500)
        try Topics.produce(broker, "kit-events", events)
        try Topics.produce(broker, "kit-labels", labels)
        let probe = #"{"id":"probe","amount":912.5,"merchant_category":"digital","country":"BR","channel":"online"}"#
        var answered = 0
        let learned = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < learned {
            if HTTP.request(endpoint + "/score", method: "POST", body: probe)?.status == 200 { answered += 1 }
            let model = HTTP.request(endpoint + "/model").flatMap { try? JSONSerialization.jsonObject(with: Data($0.body.utf8)) as? [String: Any] }
            if (model?["metrics"] as? [String: Any])?["labelled"] as? Int == 30000 { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(answered > 5)

        // Every panel's expression, as Grafana sends it for this job, returns at least one finite value.
        let expressions = try Self.dashboardExpressions()
        #expect(expressions.count >= 25)
        var missing = expressions
        let deadline = ContinuousClock.now + .seconds(60)
        while !missing.isEmpty && ContinuousClock.now < deadline {
            missing.removeAll { panel in
                let expr = panel.expr.replacingOccurrences(of: "$job_name", with: "fraud-kit")
                    .replacingOccurrences(of: "$__rate_interval", with: "5m")
                return finite(query(expr))
            }
            if !missing.isEmpty { Thread.sleep(forTimeInterval: 1) }
        }
        #expect(missing.isEmpty, "panels without data: \(missing.map { "\($0.panel): \($0.expr)" }.joined(separator: "\n"))")

        // Every rule evaluates without error against the job's series.
        let groups = ((prometheus.json("/api/v1/rules") as? [String: Any])?["data"] as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        let evaluated = groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }
        #expect(evaluated.count == 11)
        for rule in evaluated {
            #expect(rule["health"] as? String == "ok", "\(rule["name"] ?? "?"): \(rule["lastError"] ?? "")")
        }

        // The job's drift alerts in the Alertmanager: one group per (model, alert kind), on the fraud team's
        // receivers by severity.
        let onTopic = Topics.objects(try Topics.read(broker, "kit-alerts"))
        #expect(onTopic.contains { $0["severity"] as? String == "critical" }, "the drift raised no critical alert")
        var grouped: [[String: Any]] = []
        let received = ContinuousClock.now + .seconds(20)
        repeat {
            grouped = (alertmanager.json("/api/v2/alerts/groups") as? [[String: Any]] ?? []).filter {
                ($0["labels"] as? [String: String])?["model"] == "fraud-kit"
            }
            if !grouped.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.5)
        } while ContinuousClock.now < received
        #expect(!grouped.isEmpty, "no alert of the job reached the Alertmanager: \(alertmanager.logText.suffix(2000))")
        // Alertmanager groups per route: a kind with alerts of both severities is a group on each receiver.
        var kinds: Set<String> = []
        var groupKeys: Set<String> = []
        for group in grouped {
            let labels = group["labels"] as? [String: String] ?? [:]
            #expect(Set(labels.keys) == ["model", "alertname"], "\(labels)")
            let alertname = labels["alertname"] ?? ""
            let receiver = (group["receiver"] as? [String: Any])?["name"] as? String ?? ""
            #expect(groupKeys.insert(alertname + " " + receiver).inserted, "\(alertname) in two groups on \(receiver)")
            kinds.insert(alertname)
            let alerts = group["alerts"] as? [[String: Any]] ?? []
            #expect(!alerts.isEmpty)
            for alert in alerts {
                let alertLabels = alert["labels"] as? [String: String] ?? [:]
                #expect(alertLabels["alertname"] == alertname && alertLabels["model"] == "fraud-kit")
                let expected = alertLabels["severity"] == "critical" ? "fraud-team-pager" : "fraud-team-chat"
                #expect(receiver == expected, "\(alertLabels) on \(receiver)")
            }
        }
        #expect(kinds.contains("drift.psi"), "\(kinds)")

        // Inhibition: a warning and a critical of the same kind, model and feature; the warning is inhibited.
        let now = ISO8601DateFormatter().string(from: Date())
        let pair = ["warning", "critical"].map { severity in
            #"{"labels":{"alertname":"drift.psi","model":"offers","feature":"price","severity":"\#(severity)"},"startsAt":"\#(now)"}"#
        }
        #expect(HTTP.request(alertmanager.url + "/api/v2/alerts", method: "POST", body: "[\(pair.joined(separator: ","))]", contentType: "application/json")?.status == 200)
        var inhibited: [String: Bool] = [:]
        let settled = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < settled && inhibited["warning"] != true {
            for alert in alertmanager.json("/api/v2/alerts?filter=model%3D%22offers%22") as? [[String: Any]] ?? [] {
                let severity = (alert["labels"] as? [String: String])?["severity"] ?? ""
                let by = ((alert["status"] as? [String: Any])?["inhibitedBy"] as? [Any]) ?? []
                inhibited[severity] = !by.isEmpty
            }
            Thread.sleep(forTimeInterval: 0.3)
        }
        #expect(inhibited == ["warning": true, "critical": false], "\(inhibited)")
    }
}
