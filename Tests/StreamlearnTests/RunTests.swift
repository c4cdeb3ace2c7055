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
        deadLetter: String, snapshots: String, extra: String = ""
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
          every_messages: 1500
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

