import Foundation
import OnlineLearning
import StreamCore
import StreamKafka
import KafkaRuntime
import StreamJobs
import StreamPipeline
import Testing

@Suite("streamlearn run: the ops endpoint", .serialized)
struct OpsTests {
    /// The value of one sample line of the Prometheus text, e.g. `streamlearn_messages_in_total{job_name="ops",topic="t"}`.
    static func sample(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    @Test("/metrics counts what was read, answered and dead-lettered; /readyz, /healthz and /model; POST /score answers from the live model, bit for bit")
    func endpoint() throws {
        let broker = try EmbeddedBroker(topics: [("ops-events", 2), ("ops-scores", 2), ("ops-dead", 1), ("ops-alerts", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("ops")
        defer { try? FileManager.default.removeItem(at: directory) }
        let stream = try CLI.run(["generate", "fraud", "--events", "3000", "--seed", "3"]).stdout
        var lines = stream.split(separator: "\n").map(String.init)
        lines.insert("{not json", at: 100)
        lines.insert(#"{"id":"x1","amount":1,"label":"yes"}"#, at: 200)
        try Topics.produce(broker, "ops-events", lines)
        let config = try RunFiles.write(
            RunTests.scoringConfig(
                name: "ops", events: "ops-events", scores: "ops-scores", alerts: "ops-alerts", deadLetter: "ops-dead",
                snapshots: directory.appendingPathComponent("snapshots").path, snapshotEvery: 100_000,
                extra: "detectors: {f1_window: 500, score_psi_window: 500}"),
            to: directory, "ops.yaml")
        let job = try RunProcess([config, "--brokers", broker.bootstrapServers, "--json"])
        let address = try #require(job.opsEndpoint(), "\(job.stderrSoFar)")
        let base = address

        // Wait until every event is learned (the live model is then the final one).
        var model: [String: Any] = [:]
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let answer = HTTP.request(base + "/model"), answer.status == 200,
                let object = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
                (object["metrics"] as? [String: Any])?["labelled"] as? Int == 3000
            {
                model = object
                break
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(model["model_version"] as? Int == 3000, "\(model)")
        #expect(model["name"] as? String == "ops")
        #expect((model["partitions"] as? [Any])?.count == 2)
        let figures = model["metrics"] as? [String: Any] ?? [:]
        #expect(figures["roc_auc"] is Double && figures["average_precision"] is Double && figures["recall_at_1pct_fpr"] is Double, "\(figures)")
        Thread.sleep(forTimeInterval: 0.6)  // a model refresh (100 ms) and a metrics flush (250 ms)

        #expect(HTTP.request(base + "/healthz")?.status == 200)
        let ready = try #require(HTTP.request(base + "/readyz"))
        #expect(ready.status == 200 && ready.body.contains(#""phase":"running""#), "\(ready.body)")

        let metrics = try #require(HTTP.request(base + "/metrics")).body
        #expect(Self.sample(metrics, #"streamlearn_messages_in_total{job_name="ops",topic="ops-events"}"#) == 3002, "\(metrics)")
        #expect(Self.sample(metrics, #"streamlearn_messages_out_total{job_name="ops",topic="ops-scores"}"#) == 3000)
        #expect(Self.sample(metrics, #"streamlearn_dead_letters_total{job_name="ops",reason="invalid-json"}"#) == 1)
        #expect(Self.sample(metrics, #"streamlearn_dead_letters_total{job_name="ops",reason="wrong-type"}"#) == 1)
        #expect(Self.sample(metrics, #"streamlearn_score_latency_seconds_count{job_name="ops"}"#) == 3002)
        #expect(Self.sample(metrics, #"streamlearn_model_version{job_name="ops"}"#) == 3000)
        #expect(Self.sample(metrics, #"streamlearn_consumer_lag_messages{job_name="ops",topic="ops-events",partition="0"}"#) == 0)
        #expect(metrics.contains(#"streamlearn_drift_psi{model="ops",feature="score"}"#), "the drift gauges share the registry")

        // Synchronous scores: the same decoder, the live model, no learning.
        let probe = #"{"id":"probe-1","amount":912.5,"merchant_category":"digital","country":"BR","device":"mobile","channel":"online","hour":3,"customer_age_days":4,"txn_count_1h":6,"txn_count_24h":9,"distance_km":4200,"card_present":0,"failed_logins_24h":3,"ip_risk":0.91,"merchant_risk":0.7}"#
        let scored = try #require(HTTP.request(base + "/score", method: "POST", body: probe))
        #expect(scored.status == 200, "\(scored.body)")
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(scored.body.utf8)) as? [String: Any])
        #expect(answer["id"] as? String == "probe-1")
        #expect(answer["model_version"] as? Int == 3000)
        let again = try #require(HTTP.request(base + "/score", method: "POST", body: probe))
        #expect(again.body == scored.body, "scoring does not learn")
        let bad = try #require(HTTP.request(base + "/score", method: "POST", body: #"{"id":"b","amount":1,"label":"yes"}"#))
        #expect(bad.status == 400)
        #expect(bad.body.contains(#""field":"label""#), "\(bad.body)")
        #expect(HTTP.request(base + "/score", method: "POST", body: "[1]")?.status == 400)

        let result = job.wait(signal: SIGTERM)
        #expect(result.status == 0, "\(result.stderr)")
        // The score equals the final model's (the shutdown snapshot), computed by the library.
        let state = try PipelineState.loadNewest(in: directory.appendingPathComponent("snapshots").path)
        var classifier = state.state.classifier
        let event = DecodedEvent()
        try EventDecoder().decode(Array(probe.utf8), into: event)
        let expected = classifier.predict(event)
        #expect((answer["score"] as? Double) == expected, "\(answer) vs \(expected)")
        #expect((answer["decision"] as? Bool) == (expected >= 0.5))
    }
}

extension OpsTests {
    @Test("The job's alerts reach Alertmanager as they reach the alerts topic, are re-sent while they fire, and point at /model")
    func alertmanager() throws {
        let server = try RecordingHTTPServer()
        defer { server.stop() }
        let broker = try EmbeddedBroker(topics: [("am-events", 1), ("am-scores", 1), ("am-dead", 1), ("am-alerts", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("am")
        defer { try? FileManager.default.removeItem(at: directory) }
        let stream = try CLI.run(["generate", "fraud", "--events", "30000", "--seed", "8", "--drift-at", "15000", "--drift", "covariate"]).stdout
        try Topics.produce(broker, "am-events", stream.split(separator: "\n").map(String.init))
        let config = try RunFiles.write(
            RunTests.scoringConfig(
                name: "am", events: "am-events", scores: "am-scores", alerts: "am-alerts", deadLetter: "am-dead",
                snapshots: directory.appendingPathComponent("snapshots").path, snapshotEvery: 100_000,
                extra: """
                    detectors: {input_psi_window: 2000, score_psi_window: 2000}
                    alertmanager: {url: "http://127.0.0.1:\(server.port)", resend_interval_s: 0.4}
                    """),
            to: directory, "am.yaml")
        let job = try RunProcess([config, "--brokers", broker.bootstrapServers, "--exit-when-idle", "3", "--json"])
        let endpoint = try #require(job.opsEndpoint())
        let result = job.wait()
        #expect(result.status == 0, "\(result.stderr)")

        let onTopic = Set(Topics.objects(try Topics.read(broker, "am-alerts")).compactMap { $0["id"] as? String })
        #expect(!onTopic.isEmpty)
        var posts: [String: [[String: Any]]] = [:]
        for request in server.requests {
            #expect(request.requestLine == "POST /api/v2/alerts HTTP/1.1")
            for alert in request.alerts {
                let labels = alert["labels"] as? [String: String] ?? [:]
                #expect(labels["model"] == "am")
                #expect(alert["generatorURL"] as? String == endpoint + "/model")
                posts[labels["alert_id"] ?? "", default: []].append(alert)
            }
        }
        #expect(Set(posts.keys) == onTopic, "every alert on the topic reached Alertmanager, and no other")
        // Still firing at the end, an alert was sent again (the job ran 3 s idle), with the start it fired at.
        let resent = posts.values.filter { $0.count >= 2 && Set($0.compactMap { $0["startsAt"] as? String }).count == 1 }
        #expect(!resent.isEmpty, "\(posts.mapValues(\.count))")
    }
}
