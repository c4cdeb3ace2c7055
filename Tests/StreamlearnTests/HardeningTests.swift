import Foundation
import OnlineLearning
import StreamKafka
import StreamPipeline
import Testing

/// A job's worst day: inputs, snapshots and settings that must never stop a job or corrupt its model silently.
@Suite("streamlearn run: hardening", .serialized)
struct HardeningTests {
    static func header(_ message: KafkaMessage, _ name: String) -> String? {
        message.headers.first { $0.name == name }?.value.map { String(decoding: $0, as: UTF8.self) }
    }

    static func kind(_ message: KafkaMessage) -> String? {
        header(message, "__connect.errors.exception.class.name")?.replacingOccurrences(of: "streamlearn.", with: "")
    }

    @Test("A message over the producer's limit and a tombstone are dead-lettered (cut to fit, the size named; null kept null, key and headers kept); values no model can learn are refused at scoring; the job goes on and restarts")
    func poisonPills() throws {
        let broker = try EmbeddedBroker(topics: [("pp-events", 1), ("pp-labels", 1), ("pp-scores", 1), ("pp-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("poison")
        defer { try? FileManager.default.removeItem(at: directory) }
        let origin = KafkaHeader(name: "origin", value: Array("test".utf8))
        // What a default Kafka topic accepts: up to 1,048,588 bytes, more than librdkafka's 1,000,000.
        var settings = KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers)
        settings.properties["message.max.bytes"] = "1048588"
        let producer = try KafkaProducer(configuration: settings)
        let big = Array(#"{"id":"big","note":""#.utf8) + Array(repeating: UInt8(ascii: "z"), count: 1_000_000) + Array(#""}"#.utf8)
        try producer.send(topic: "pp-events", key: Array("big".utf8), value: big, headers: [origin])
        try producer.send(topic: "pp-events", key: Array("t1".utf8), value: nil, headers: [origin])
        try producer.send(topic: "pp-events", key: Array("t2".utf8), value: [], headers: [origin])
        try producer.close()
        let events = (0..<50).map { #"{"id":"e\#($0)","amount":\#($0),"country":"FR"}"# }
        try Topics.produce(
            broker, "pp-events", events + [#"{"id":"e0","amount":3,"country":"FR"}"#, #"{"id":"huge","amount":1e308}"#])
        try Topics.produce(broker, "pp-labels", [#"{"id":"e1","label":1}"#])
        let config = try RunFiles.write(
            RunTests.scoringConfig(
                name: "poison", events: "pp-events", labels: "pp-labels", scores: "pp-scores", deadLetter: "pp-dead",
                snapshots: directory.appendingPathComponent("snapshots").path),
            to: directory, "poison.yaml")
        let first = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(first.status == 0, "\(first.stderr)")
        let summary = RunFiles.summary(first)
        #expect(summary["scored"] as? Int == 50, "a duplicate or refused event is not scored: \(summary)")
        #expect((summary["dead_letters"] as? [String: Int]) == [
            "oversized": 1, "invalid-json": 2, "duplicate-event": 1, "refused-values": 1,
        ])

        let dead = try Topics.read(broker, "pp-dead")
        let cut = try #require(dead.first { $0.keyString == "big" })
        #expect(Self.kind(cut) == "oversized")
        #expect(Self.header(cut, "streamlearn.truncated.value") == "\(big.count)")
        #expect(cut.value.count > 990_000 && cut.value.count < big.count)
        #expect(Array(big.prefix(cut.value.count)) == cut.value, "the value is cut, not altered")
        #expect(Self.header(cut, "origin") == "test")
        let tombstone = try #require(dead.first { $0.keyString == "t1" })
        #expect(tombstone.valueIsNull, "a null value stays null")
        #expect(Self.header(tombstone, "origin") == "test")
        #expect(Self.header(tombstone, "__connect.errors.offset") == "1")
        let empty = try #require(dead.first { $0.keyString == "t2" })
        #expect(!empty.valueIsNull && empty.value.isEmpty, "an empty value stays empty")
        let huge = try #require(dead.first { $0.keyString == "huge" })
        #expect(Self.kind(huge) == "refused-values")
        #expect(Self.header(huge, "__connect.errors.exception.message")?.contains("amount") == true)
        let scored = Topics.objects(try Topics.read(broker, "pp-scores")).compactMap { $0["id"] as? String }
        #expect(scored.sorted() == (0..<50).map { "e\($0)" }.sorted())

        // Nothing read again makes the job fail: a restart goes on from its snapshot.
        try Topics.produce(broker, "pp-events", [#"{"id":"e50","amount":1,"country":"FR"}"#])
        let second = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(RunFiles.summary(second)["messages"] as? Int == 1)
    }

    @Test("Another job's snapshot is refused with the reason (the job's own is used); a changed model setting stops start-up naming both values; an applied one does not; an unreadable state falls back naming its key; no usable snapshot exits 66")
    func snapshotIdentity() throws {
        let broker = try EmbeddedBroker(topics: [("si-events", 1), ("si-a", 1), ("si-b", 1), ("si-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("identity")
        defer { try? FileManager.default.removeItem(at: directory) }
        try Topics.produce(broker, "si-events", (0..<300).map { #"{"id":"e\#($0)","amount":\#($0 % 17),"label":\#($0 % 2)}"# })
        func config(_ name: String, _ extra: String = "") throws -> String {
            try RunFiles.write(
                RunTests.scoringConfig(
                    name: name, events: "si-events", scores: name == "alpha" ? "si-a" : "si-b", deadLetter: "si-dead",
                    snapshots: directory.appendingPathComponent(name).path, extra: extra),
                to: directory, "\(name)-\(UUID()).yaml")
        }
        #expect(try RunProcess.toIdle(config("alpha", "model: {hash_bits: 12}"), brokers: broker.bootstrapServers).status == 0)
        let beta = try config("beta")
        #expect(try RunProcess.toIdle(beta, brokers: broker.bootstrapServers).status == 0)
        let alphaStore = try SnapshotStore(directory: directory.appendingPathComponent("alpha").path)
        let betaStore = try SnapshotStore(directory: directory.appendingPathComponent("beta").path)
        let own = try #require(betaStore.files().first)
        #expect(try SnapshotStore.read(own).header.identity?.job == "beta")
        let foreign = betaStore.directory + "/snapshot-00000090.json"
        try FileManager.default.copyItem(atPath: try #require(alphaStore.files().first), toPath: foreign)

        let refused = try RunProcess.toIdle(beta, brokers: broker.bootstrapServers)
        #expect(refused.status == 0, "\(refused.stderr)")
        #expect(refused.stderr.contains("snapshot '\(foreign)' refused: it belongs to the scoring job 'alpha', not to this scoring job 'beta'"), "\(refused.stderr)")
        #expect(RunFiles.summary(refused)["restored_from"] as? String == own)
        try FileManager.default.removeItem(atPath: foreign)

        // A setting the model was built with: refused, both values named. The threshold is applied.
        let changed = try RunProcess.toIdle(try config("beta", "model: {optimizer: {kind: ftrl}, hash_bits: 18}"), brokers: broker.bootstrapServers)
        #expect(changed.status == 78)
        #expect(changed.stderr.contains("model.hash_bits: '20' in the snapshot, '18' now"), "\(changed.stderr)")
        #expect(changed.stderr.contains("model.optimizer.kind: 'adagrad' in the snapshot, 'ftrl' now"))
        let applied = try RunProcess.toIdle(try config("beta", "model: {threshold: 0.7}"), brokers: broker.bootstrapServers)
        #expect(applied.status == 0, "\(applied.stderr)")

        // Checksum-valid but unreadable states: a number no Double holds, a newer format. Both fall back.
        let newest = try #require(betaStore.files().first)
        let entry = try SnapshotStore.read(newest)
        let text = String(decoding: entry.payload, as: UTF8.self)
        let scoredRange = try #require(text.range(of: #""scored":\d+"#, options: .regularExpression))
        let huge = text.replacingCharacters(in: scoredRange, with: #""scored":1e999"#)
        let newer = text.replacingOccurrences(of: #""format_version":1"#, with: #""format_version":2"#)
        #expect(newer != text)
        let sequence = try #require(Int(newest.dropLast(".json".count).suffix(8)))
        let hugePath = betaStore.directory + String(format: "/snapshot-%08d.json", sequence + 1)
        let newerPath = betaStore.directory + String(format: "/snapshot-%08d.json", sequence + 2)
        try SnapshotStore.writeFile(Data(huge.utf8), to: hugePath, reason: .periodic, positions: entry.header.positions, at: Date())
        try SnapshotStore.writeFile(Data(newer.utf8), to: newerPath, reason: .periodic, positions: entry.header.positions, at: Date())
        let fellBack = try RunProcess.toIdle(beta, brokers: broker.bootstrapServers)
        #expect(fellBack.status == 0, "\(fellBack.stderr)")
        #expect(fellBack.stderr.contains("snapshot '\(newerPath)' refused: its state cannot be loaded: invalid snapshot: format_version 2 is not readable by this build"), "\(fellBack.stderr)")
        #expect(fellBack.stderr.contains("snapshot '\(hugePath)' refused: its state cannot be loaded: invalid snapshot: pipeline-state: a number out of range at state.classifier.scored: 1e999"))
        #expect(RunFiles.summary(fellBack)["restored_from"] as? String == newest)

        // Only another job's snapshot: nothing to start from, and no silent fresh start.
        let lone = try config("gamma")
        let gamma = directory.appendingPathComponent("gamma").path
        try FileManager.default.createDirectory(atPath: gamma, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try #require(alphaStore.files().first), toPath: gamma + "/snapshot-00000001.json")
        let none = try RunProcess.toIdle(lone, brokers: broker.bootstrapServers)
        #expect(none.status == 66)
        #expect(none.stderr.contains("no usable snapshot in '\(gamma)'"), "\(none.stderr)")
    }

    @Test("Numbers no model can learn are refused by every job kind (a LinUCB context or reward of 1e308, a transition's reward of 1.7e308): dead-lettered, the state stays finite, restarts answer")
    func unlearnableNumbers() throws {
        let broker = try EmbeddedBroker(topics: [
            ("un-requests", 1), ("un-rewards", 1), ("un-decisions", 1), ("un-dead", 1), ("un-actions", 1),
            ("un-transitions", 1), ("un-answers", 1), ("un-rdead", 1),
        ])
        defer { broker.close() }
        let directory = try RunFiles.directory("unlearnable")
        defer { try? FileManager.default.removeItem(at: directory) }
        let bandit = try RunFiles.write(
            """
            job: bandit
            name: un-bandit
            topics: {requests: un-requests, rewards: un-rewards, decisions: un-decisions, dead_letter: un-dead}
            model: {policy: linucb, arms: 2, dimension: 2}
            snapshots: {directory: \(directory.appendingPathComponent("bandit").path)}
            """, to: directory, "bandit.yaml")
        try Topics.produce(broker, "un-requests", [
            #"{"id":"d1","context":[1e308,1]}"#, #"{"id":"d2","context":[0.5,1]}"#, #"{"id":"d3","context":[1,0]}"#,
        ])
        #expect(try RunProcess.toIdle(bandit, brokers: broker.bootstrapServers).status == 0)
        try Topics.produce(broker, "un-rewards", [#"{"id":"d2","reward":1e308}"#, #"{"id":"d3","reward":1}"#])
        let learned = try RunProcess.toIdle(bandit, brokers: broker.bootstrapServers)
        #expect(learned.status == 0, "\(learned.stderr)")
        #expect(RunFiles.summary(learned)["rewarded"] as? Int == 1)
        let state = try Snapshot.decode(
            BanditJobState.self, from: RunFiles.newestPayload(directory.appendingPathComponent("bandit").path).payload)
        guard case .linucb(let policy) = state.policy else { Issue.record("not LinUCB"); return }
        for arm in 0..<2 {
            #expect(policy.upperConfidenceBound(arm: arm, context: BanditContext([1, 1])).isFinite)
        }
        try Topics.produce(broker, "un-requests", [#"{"id":"d4","context":[0,1]}"#, #"{"id":"d5","context":[1,1]}"#])
        #expect(try RunProcess.toIdle(bandit, brokers: broker.bootstrapServers).status == 0)
        let decisions = Topics.objects(try Topics.read(broker, "un-decisions"))
        #expect(decisions.compactMap { $0["id"] as? String }.sorted() == ["d2", "d3", "d4", "d5"])
        let banditDead = try Topics.read(broker, "un-dead").map { "\($0.keyString ?? "") \(Self.kind($0) ?? "")" }
        #expect(banditDead.sorted() == ["d1 refused-values", "d2 refused-values"])

        let agent = try RunFiles.write(
            """
            job: reinforcement
            name: un-agent
            topics: {requests: un-actions, transitions: un-transitions, decisions: un-answers, dead_letter: un-rdead}
            model: {states: 4, actions: 2, learning_rate: 0.5}
            snapshots: {directory: \(directory.appendingPathComponent("agent").path)}
            """, to: directory, "agent.yaml")
        let transitions = (0..<3).map { _ in #"{"state":1,"action":0,"reward":1.7e308,"next_state":2,"terminated":false}"# }
            + [#"{"state":1,"action":1,"reward":1,"next_state":2,"terminated":true}"#]
        try Topics.produce(broker, "un-transitions", transitions)
        try Topics.produce(broker, "un-actions", [#"{"episode":"x","state":1}"#])
        let run = try RunProcess.toIdle(agent, brokers: broker.bootstrapServers)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(RunFiles.summary(run)["updates"] as? Int == 1)
        #expect((RunFiles.summary(run)["dead_letters"] as? [String: Int])?["refused-values"] == 3)
        let agentState = try Snapshot.decode(
            ReinforcementJobState.self, from: RunFiles.newestPayload(directory.appendingPathComponent("agent").path).payload)
        #expect(agentState.agent.values.allSatisfy { $0.isFinite })
        #expect(try RunProcess.toIdle(agent, brokers: broker.bootstrapServers).status == 0)
    }

    @Test("Names and ids that go into Kafka requests are bounded at start-up (exit 78, the key named), and so are librdkafka properties it refuses")
    func identifierLimits() throws {
        let directory = try RunFiles.directory("limits")
        defer { try? FileManager.default.removeItem(at: directory) }
        func run(_ yaml: String) throws -> CLI.Result {
            try CLI.run(["run", try RunFiles.write(yaml, to: directory, "\(UUID()).yaml"), "--brokers", "127.0.0.1:1", "--ops-address", "off"])
        }
        let long = try run("job: scoring\nname: \(String(repeating: "n", count: 33_000))\ntopics: {events: a, scores: b}\n")
        #expect(long.status == 78)
        #expect(long.stderr.contains("name: must be at most 100 characters, got 33000"), "\(long.stderr)")
        let topic = try run("job: scoring\nname: x\ntopics: {events: 'a b', scores: b}\n")
        #expect(topic.status == 78)
        #expect(topic.stderr.contains("topics.events: a topic name may hold ASCII letters, digits"), "\(topic.stderr)")
        let group = try run("job: scoring\nname: x\ntopics: {events: a, scores: b}\nkafka: {group: \(String(repeating: "g", count: 300))}\n")
        #expect(group.status == 78)
        #expect(group.stderr.contains("kafka.group: must be at most 255 bytes, got 300"))
        let property = try run("job: scoring\nname: x\ntopics: {events: a, scores: b}\nkafka: {properties: {no.such.key: 1}}\n")
        #expect(property.status == 78, "\(property.stderr)")
        #expect(property.stderr.contains("kafka.properties.no.such.key"), "\(property.stderr)")
    }
}
