import Foundation
import OnlineLearning
import StreamKafka
import Testing

@Suite("streamlearn run: instances sharing partitions in a consumer group", .serialized)
struct GroupTests {
    /// The tasks (partition numbers) an instance holds, from its `/model`.
    static func tasks(_ job: RunProcess, endpoint: String) -> [Int] {
        guard let answer = HTTP.request(endpoint + "/model"), answer.status == 200,
            let object = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
            let tasks = object["tasks"] as? [[String: Any]]
        else { return [] }
        return tasks.compactMap { $0["task"] as? Int }.sorted()
    }

    /// The offsets each instance has reached on the events topic, by partition.
    static func positions(_ endpoint: String) -> [Int: Int] {
        guard let answer = HTTP.request(endpoint + "/model"),
            let object = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
            let tasks = object["tasks"] as? [[String: Any]]
        else { return [:] }
        var result: [Int: Int] = [:]
        for task in tasks {
            for partition in task["partitions"] as? [[String: Any]] ?? [] {
                result[partition["partition"] as? Int ?? -1] = partition["next_offset"] as? Int
            }
        }
        return result
    }

    @Test("Two instances share four partitions; one is killed mid-stream: the other takes its tasks over, each id is scored once, and every task ends bit-identical to one instance's run")
    func rebalanceThroughKill() throws {
        let broker = try EmbeddedBroker(topics: [
            ("g-tx", 4), ("g-scores-ref", 3), ("g-scores", 3), ("g-dead-ref", 1), ("g-dead", 1),
        ])
        defer { broker.close() }
        let directory = try RunFiles.directory("group")
        defer { try? FileManager.default.removeItem(at: directory) }
        // Inline labels 150 events late, keyed by id like their events: a label is in its event's partition.
        let stream = try CLI.run(["generate", "fraud", "--events", "8000", "--seed", "5", "--label-delay", "150"]).stdout
        let lines = stream.split(separator: "\n").map(String.init)
        let detectors = "detectors:\n  score_psi_window: 500\n  f1_window: 300\nkafka:\n  assignment: group"
        let reference = try RunFiles.write(
            RunTests.scoringConfig(
                name: "gref", events: "g-tx", scores: "g-scores-ref", deadLetter: "g-dead-ref",
                snapshots: directory.appendingPathComponent("ref").path, snapshotEvery: 100_000, extra: detectors),
            to: directory, "ref.yaml")
        let shared = try RunFiles.write(
            RunTests.scoringConfig(
                name: "gshared", events: "g-tx", scores: "g-scores", deadLetter: "g-dead",
                snapshots: directory.appendingPathComponent("shared").path, snapshotEvery: 100_000, extra: detectors),
            to: directory, "shared.yaml")

        // Two instances join one group; the stream arrives while they run.
        let first = try RunProcess([shared, "--brokers", broker.bootstrapServers, "--json"])
        let second = try RunProcess([shared, "--brokers", broker.bootstrapServers, "--json"])
        let firstEndpoint = try #require(first.opsEndpoint(), "\(first.stderrSoFar)")
        let secondEndpoint = try #require(second.opsEndpoint(), "\(second.stderrSoFar)")
        var settled = false
        let joinDeadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < joinDeadline {
            let (a, b) = (Self.tasks(first, endpoint: firstEndpoint), Self.tasks(second, endpoint: secondEndpoint))
            if a.count == 2 && b.count == 2 && Set(a + b) == [0, 1, 2, 3] {
                settled = true
                break
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(settled, "the group did not settle on two tasks each: \(first.stderrSoFar)\n\(second.stderrSoFar)")
        let killedTasks = Self.tasks(first, endpoint: firstEndpoint)
        try Topics.produce(broker, "g-tx", Array(lines[..<6000]))
        // Kill the first instance once it is part way through its share.
        let killDeadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < killDeadline, Self.positions(firstEndpoint).values.reduce(0, +) < 1500 {
            Thread.sleep(forTimeInterval: 0.005)
        }
        try Topics.produce(broker, "g-tx", Array(lines[6000...]))
        first.kill9()
        let firstReached = Self.positions(firstEndpoint)

        // The second takes the first's tasks over once the group notices (its session timeout, 10 s).
        let probe = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "g-probe"))
        defer { try? probe.close() }
        let ends = try (0..<Int32(4)).map { try probe.watermarks(topic: "g-tx", partition: $0).high }
        #expect(ends.reduce(0, +) == Int64(lines.count))
        let takeoverDeadline = ContinuousClock.now + .seconds(90)
        var notReady: Set<String> = []
        while ContinuousClock.now < takeoverDeadline {
            // While the group moves the partitions, the survivor says it is not ready, and why.
            if let ready = HTTP.request(secondEndpoint + "/readyz"), ready.status == 503,
                let object = try? JSONSerialization.jsonObject(with: Data(ready.body.utf8)) as? [String: Any],
                object["ready"] as? Bool == false, object["remaining_messages"] is Int
            {
                notReady.insert(object["phase"] as? String ?? "")
            }
            let reached = Self.positions(secondEndpoint)
            if reached.count == 4 && (0..<4).allSatisfy({ Int64(reached[$0] ?? 0) == ends[$0] }) { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(notReady.contains("rebalancing"), "phases answered 503: \(notReady)")
        #expect(HTTP.request(secondEndpoint + "/readyz")?.status == 200)
        let survivor = second.wait(signal: SIGTERM)
        #expect(survivor.status == 0, "\(survivor.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(survivor.stdout.utf8)) as? [String: Any])
        #expect(summary["tasks"] as? [Int] == [0, 1, 2, 3], "\(summary)")
        #expect(firstReached.isEmpty, "the killed instance no longer answers")
        // No periodic snapshot (every 100,000 messages): the killed instance's tasks were last saved when the group
        // handed them to it, so what it answered since is re-learned by the survivor, without answering again.
        #expect((summary["relearned"] as? Int ?? 0) > 0, "\(summary)")

        // One instance alone, uninterrupted, over the same partitions: the reference for every task.
        let alone = try RunProcess([reference, "--brokers", broker.bootstrapServers, "--exit-when-idle", "8", "--json"]).wait()
        #expect(alone.status == 0, "\(alone.stderr)")
        for task in 0..<4 {
            let expected = try RunFiles.newestPayload(directory.appendingPathComponent("ref/p\(task)").path)
            let actual = try RunFiles.newestPayload(directory.appendingPathComponent("shared/p\(task)").path)
            #expect(actual.payload == expected.payload, "task \(task) (killed instance's: \(killedTasks.contains(task))) differs")
        }

        let referenceScores = try Topics.scores(broker, "g-scores-ref")
        let sharedScores = try Topics.scores(broker, "g-scores")
        #expect(referenceScores.count == 8000)
        #expect(sharedScores.count == 8000)
        #expect(sharedScores.values.allSatisfy { $0.count == 1 }, "an id was scored more than once")
        #expect(sharedScores == referenceScores)
    }
}
