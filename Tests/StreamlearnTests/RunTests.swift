import Foundation
import OnlineLearning
import StreamCore
import StreamKafka
import StreamPipeline
import Testing

@Suite("streamlearn run: the Kafka runtime", .serialized)
struct RunTests {
    static func scoringConfig(
        name: String, events: String, labels: String? = nil, scores: String, alerts: String? = nil,
        deadLetter: String, snapshots: String, snapshotEvery: Int = 1500, extra: String = ""
    ) -> String {
        """
        job: scoring
        name: \(name)
        topics:
          events: \(events)
        \(labels.map { "  labels: \($0)" } ?? "")
          scores: \(scores)
        \(alerts.map { "  alerts: \($0)" } ?? "")
          dead_letter: \(deadLetter)
        output:
          commit_interval_ms: 20
        snapshots:
          directory: \(snapshots)
          every_messages: \(snapshotEvery)
        \(extra)
        """
    }

    @Test("SIGKILL at six points and restarts: the final model is bit-identical and every score is read once, as an uninterrupted run's")
    func exactlyOnceThroughKills() throws {
        let broker = try EmbeddedBroker(topics: [("tx", 1), ("scores-ref", 1), ("scores-crash", 3), ("dlq-ref", 1), ("dlq-crash", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("kill")
        defer { try? FileManager.default.removeItem(at: directory) }
        let stream = try CLI.run(["generate", "fraud", "--events", "8000", "--seed", "5", "--label-delay", "150"]).stdout
        let lines = stream.split(separator: "\n").map(String.init)
        try Topics.produce(broker, "tx", lines)
        let detectors = "detectors:\n  score_psi_window: 1000\n  f1_window: 500\n  input_psi_window: 1000"
        let reference = try RunFiles.write(
            Self.scoringConfig(
                name: "ref", events: "tx", scores: "scores-ref", deadLetter: "dlq-ref",
                snapshots: directory.appendingPathComponent("ref").path, extra: detectors),
            to: directory, "ref.yaml")
        let crash = try RunFiles.write(
            Self.scoringConfig(
                name: "crash", events: "tx", scores: "scores-crash", deadLetter: "dlq-crash",
                snapshots: directory.appendingPathComponent("crash").path, extra: detectors),
            to: directory, "crash.yaml")
        let uninterrupted = try RunProcess.toIdle(reference, brokers: broker.bootstrapServers)
        #expect(uninterrupted.status == 0, "\(uninterrupted.stderr)")

        // Kill each run once it has answered more than the last one had (or after a while), a few ms later.
        let probe = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "probe"))
        defer { try? probe.close() }
        var random = SeededRandom(seed: 11)
        var killedMidStream = 0
        var seen = 0
        for _ in 0..<6 {
            let run = try RunProcess([crash, "--brokers", broker.bootstrapServers])
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                let answered = try (0..<Int32(3)).reduce(Int64(0)) { $0 + (try probe.watermarks(topic: "scores-crash", partition: $1).high) }
                if answered > Int64(seen) + 400 { break }
                Thread.sleep(forTimeInterval: 0.01)
            }
            Thread.sleep(forTimeInterval: Double(random.next() % 80) / 1000)
            run.kill9()
            let answered = Topics.objects(try Topics.read(broker, "scores-crash")).count
            if answered > seen && answered < 8000 { killedMidStream += 1 }
            seen = max(seen, answered)
        }
        #expect(killedMidStream >= 5, "kills mid-stream: \(killedMidStream)")
        let finished = try RunProcess.toIdle(crash, brokers: broker.bootstrapServers)
        #expect(finished.status == 0, "\(finished.stderr)")

        let expected = try RunFiles.newestPayload(directory.appendingPathComponent("ref").path)
        let actual = try RunFiles.newestPayload(directory.appendingPathComponent("crash").path)
        #expect(actual.payload == expected.payload, "the final state differs from the uninterrupted run's")

        func scores(_ topic: String) throws -> [String: [String]] {
            var byID: [String: [String]] = [:]
            for object in Topics.objects(try Topics.read(broker, topic)) {
                let id = object["id"] as? String ?? ""
                byID[id, default: []].append("\(object["score"]!) \(object["decision"]!) \(object["model_version"]!)")
            }
            return byID
        }
        let referenceScores = try scores("scores-ref")
        let crashScores = try scores("scores-crash")
        #expect(referenceScores.count == 8000)
        #expect(crashScores.count == 8000)
        #expect(crashScores.values.allSatisfy { $0.count == 1 }, "an id was scored more than once")
        #expect(crashScores == referenceScores)
    }
}


extension RunTests {
    @Test("Sixteen kinds of bad input go to the dead-letter topic unchanged, with Kafka Connect's headers; the rest is scored")
    func deadLetters() throws {
        let broker = try EmbeddedBroker(topics: [("dl-events", 1), ("dl-labels", 1), ("dl-scores", 1), ("dl-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("dead")
        defer { try? FileManager.default.removeItem(at: directory) }
        func event(_ id: Int, amount: Double = 12.5) -> String {
            #"{"id":"e\#(id)","amount":\#(amount),"country":"FR"}"#
        }
        // (message, the kind it must be dead-lettered as); nil kind: a good one.
        var messages: [(String, String?)] = (0..<40).map { (event($0), nil) }
        messages += [
            ("{\"id\":\"x1\",\"amount\":", "invalid-json"),
            ("{\"id\":\"x2\",\"country\":\"\u{FFFD}\"}".replacingOccurrences(of: "\u{FFFD}", with: "\\xff"), nil),
            ("[1,2,3]", "not-an-object"),
            (#"{"id":"x4","amount":1,"amount":2}"#, "duplicate-key"),
            (#"{"id":"x5","amount":1e999}"#, "non-finite-number"),
            (#"{"id":"x6","amount":1,"label":"yes"}"#, "wrong-type"),
            (#"{"id":["x7"],"amount":1}"#, "wrong-type"),
            (#"{"id":"x8","amount":{"nested":1}}"#, "wrong-type"),
            (#"{"id":"x9","amount":1,"note":"\#(String(repeating: "a", count: 70_000))"}"#, "oversized"),
            (#"{"id":"x10","country":"\#(String(repeating: "b", count: 2_000))"}"#, "oversized"),
            (#"{"amount":3.5}"#, "missing-id"),
            (#"{"id":"x12"}"#, "no-features"),
            (event(39), "duplicate-event"),
            (#"{"id":"x14","amount":1e200,"label":1}"#, "refused-values"),
        ]
        messages.removeAll { $0.0.contains("\\xff") }
        let invalidUTF8: [UInt8] = Array(#"{"id":"x2","country":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8)
        // Labels: one for an unknown id (expires as an orphan), one duplicate, one that is not a label.
        let labels: [(String, String?)] = [
            (#"{"id":"e1","label":1}"#, nil), (#"{"id":"e1","label":0}"#, "duplicate-label"),
            (#"{"id":"nobody","label":1}"#, "orphan-label"), (#"{"id":"e2","amount":5,"label":1}"#, "not-a-label"),
        ]
        let header = KafkaHeader(name: "origin", value: Array("test".utf8))
        try Topics.produce(broker, "dl-events", messages.map(\.0), headers: [header])
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers))
        try producer.send(topic: "dl-events", key: Array("x2".utf8), value: invalidUTF8, headers: [header])
        try producer.close()
        // The labels come after their events were read (a label waits for its event up to 60 events).
        let config = try RunFiles.write(
            Self.scoringConfig(
                name: "dead", events: "dl-events", labels: "dl-labels", scores: "dl-scores", deadLetter: "dl-dead",
                snapshots: directory.appendingPathComponent("snapshots").path,
                extra: "join:\n  max_age_messages: 60"),
            to: directory, "dead.yaml")
        let first = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(first.status == 0, "\(first.stderr)")
        try Topics.produce(broker, "dl-labels", labels.map(\.0), headers: [header])
        let second = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(second.status == 0, "\(second.stderr)")
        // Events after the orphan's wait: it expires and is dead-lettered then (the run resumes its snapshot).
        try Topics.produce(broker, "dl-events", (100..<170).map { event($0) })
        let third = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(third.status == 0, "\(third.stderr)")

        let dead = try Topics.read(broker, "dl-dead")
        var expectedKinds = messages.compactMap(\.1) + labels.compactMap(\.1) + ["invalid-utf8"]
        expectedKinds.sort()
        func text(_ message: KafkaMessage, _ name: String) -> String? {
            message.headers.first { $0.name == name }?.value.map { String(decoding: $0, as: UTF8.self) }
        }
        let kinds = dead.compactMap { text($0, "__connect.errors.exception.class.name") }.map { $0.replacingOccurrences(of: "streamlearn.", with: "") }
        #expect(kinds.sorted() == expectedKinds)
        #expect(Set(kinds).count >= 12)
        for message in dead {
            #expect(text(message, "origin") == "test", "original headers kept")
            let topic = try #require(text(message, "__connect.errors.topic"))
            let offset = try #require(text(message, "__connect.errors.offset").flatMap { Int($0) })
            #expect(text(message, "__connect.errors.partition") == "0")
            #expect(["VALUE_CONVERTER", "TASK_PUT"].contains(text(message, "__connect.errors.stage") ?? ""))
            #expect(!(text(message, "__connect.errors.exception.message") ?? "").isEmpty)
            // The value is the original message's, byte for byte.
            let original = try Topics.read(broker, topic).first { $0.offset == Int64(offset) }
            #expect(original?.value == message.value)
            #expect(original?.key == message.key)
            #expect(original?.timestampMilliseconds == message.timestampMilliseconds)
        }
        let scored = Set(Topics.objects(try Topics.read(broker, "dl-scores")).compactMap { $0["id"] as? String })
        #expect(scored == Set((0..<40).map { "e\($0)" } + (100..<170).map { "e\($0)" }))
        let summary = RunFiles.summary(third)
        #expect((summary["dead_letters"] as? [String: Int])?["orphan-label"] == 1)
    }
}

extension RunTests {
    @Test("A fraud job over 100,000 events, labels late on their own topic, covariate drift at 60,000: one score per id, every label joined, PSI fires only after the drift, with a snapshot")
    func fraudJob() throws {
        let broker = try EmbeddedBroker(topics: [
            ("fj-transactions", 8), ("fj-labels", 4), ("fj-scores", 8), ("fj-alerts", 1), ("fj-dead", 1),
        ])
        defer { broker.close() }
        let directory = try RunFiles.directory("fraud")
        defer { try? FileManager.default.removeItem(at: directory) }
        let stream = try CLI.run([
            "generate", "fraud", "--events", "100000", "--seed", "21", "--drift-at", "60000", "--drift", "covariate",
            "--label-delay", "500",
        ]).stdout
        let lines = stream.split(separator: "\n").map(String.init)
        let events = lines.filter { $0.contains("\"amount\"") }
        let labels = lines.filter { !$0.contains("\"amount\"") }
        #expect(events.count == 100_000 && labels.count == 100_000)
        try Topics.produce(broker, "fj-transactions", events)
        try Topics.produce(broker, "fj-labels", labels)
        let snapshots = directory.appendingPathComponent("snapshots").path
        let config = try RunFiles.write(
            Self.scoringConfig(
                name: "fraud", events: "fj-transactions", labels: "fj-labels", scores: "fj-scores", alerts: "fj-alerts",
                deadLetter: "fj-dead", snapshots: snapshots, snapshotEvery: 50_000,
                extra: "detectors:\n  input_psi_window: 5000\n  f1_window: 2000"),
            to: directory, "fraud.yaml")
        let result = try RunProcess.toIdle(config, brokers: broker.bootstrapServers, idle: 2)
        #expect(result.status == 0, "\(result.stderr)")
        let summary = RunFiles.summary(result)
        #expect(summary["joined"] as? Int == 100_000, "\(summary)")
        #expect(summary["orphans"] as? Int == 0)
        #expect(summary["expired"] as? Int == 0)

        let scores = Topics.objects(try Topics.read(broker, "fj-scores"))
        #expect(scores.count == 100_000)
        #expect(Set(scores.compactMap { $0["id"] as? String }).count == 100_000)
        for key in ["id", "score", "decision", "model_version", "latency_us"] { #expect(scores.first?[key] != nil, "\(key)") }

        // Every input PSI alert was raised by an event of the drifted part, and one fired critical, with a snapshot.
        let alerts = Topics.objects(try Topics.read(broker, "fj-alerts"))
        let psi = alerts.filter { $0["kind"] as? String == "drift.psi" }
        #expect(!psi.isEmpty)
        var byOffset: [String: String] = [:]
        for message in try Topics.read(broker, "fj-transactions") {
            let object = try JSONSerialization.jsonObject(with: Data(message.value)) as? [String: Any]
            byOffset["fj-transactions:\(message.partition):\(message.offset)"] = object?["id"].map { "\($0)" }
        }
        for alert in psi {
            let (source, offset) = try #require((alert["offsets"] as? [String: Int])?.first)
            let id = try #require(byOffset["\(source):\(offset)"].flatMap { Int($0) }, "\(alert)")
            #expect(id >= 60_000, "a PSI alert before the drift: \(alert["feature"] ?? "") \(alert["severity"] ?? "") \(alert["value"] ?? "") \(alert["window"] ?? "")")
        }
        let critical = try #require(psi.first { $0["severity"] as? String == "critical" && $0["state"] as? String == "firing" })
        let path = try #require(critical["snapshot"] as? String)
        let snapshot = try SnapshotStore.read(path)
        #expect(snapshot.header.reason == "alert:\(critical["id"] as? String ?? "")")
    }
}
