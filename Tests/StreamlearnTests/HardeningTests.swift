import Foundation
import OnlineLearning
import StreamCore
#if canImport(Glibc)
import Glibc
#endif
import StreamKafka
import KafkaRuntime
import StreamJobs
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
        #expect(agentState.agent?.values.allSatisfy { $0.isFinite } == true)
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
        // A snapshot directory the job cannot write in is found at start-up (sysfs refuses new files even to root).
        let readOnly = try run("job: scoring\nname: x\ntopics: {events: a, scores: b}\nsnapshots: {directory: /sys/kernel}\n")
        #expect(readOnly.status == 73)
        #expect(readOnly.stderr.contains("snapshot directory '/sys/kernel': cannot write in it: Permission denied"), "\(readOnly.stderr)")
        let property = try run("job: scoring\nname: x\ntopics: {events: a, scores: b}\nkafka: {properties: {no.such.key: 1}}\n")
        #expect(property.status == 78, "\(property.stderr)")
        #expect(property.stderr.contains("kafka.properties.no.such.key"), "\(property.stderr)")
    }

    @Test("Brokers gone for good: /readyz says unavailable at once, the job retries within kafka.unavailable_timeout_s and exits 69 naming why; a restart finishes the stream; SIGTERM while they are gone ends the job within kafka.shutdown_timeout_s")
    func deadBroker() throws {
        let broker = try EmbeddedBroker(topics: [("db-events", 1), ("db-scores", 1), ("db-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("dead-broker")
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = try CLI.run(["generate", "fraud", "--events", "3000", "--seed", "4"]).stdout.split(separator: "\n").map(String.init)
        try Topics.produce(broker, "db-events", Array(lines[..<2000]))
        let config = try RunFiles.write(
            RunTests.scoringConfig(
                name: "dead-broker", events: "db-events", scores: "db-scores", deadLetter: "db-dead",
                snapshots: directory.appendingPathComponent("snapshots").path,
                extra: "kafka: {unavailable_timeout_s: 10, shutdown_timeout_s: 3}"),
            to: directory, "job.yaml")
        func ready(_ base: String) -> String { HTTP.request(base + "/readyz")?.body ?? "" }
        func waitFor(_ what: String, within seconds: Int64, _ condition: () throws -> Bool) rethrows -> Bool {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < deadline {
                if try condition() { return true }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return false
        }

        let run = try RunProcess([config, "--brokers", broker.bootstrapServers, "--json"])
        let base = try #require(run.opsEndpoint(), "\(run.stderrSoFar)")
        let probe = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "probe"))
        #expect(try waitFor("answers", within: 60) { try probe.watermarks(topic: "db-scores", partition: 0).high >= 2000 })
        try probe.close()
        #expect(ready(base).contains(#""phase":"running""#))
        try broker.setBrokerDown()
        let down = ContinuousClock.now
        // Not ready within a second or two (an idle job checks once a second), long before it gives up.
        #expect(waitFor("not ready", within: 8) { ready(base).contains(#""phase":"unavailable""#) }, "\(ready(base))")
        let gaveUp = run.wait(timeout: .seconds(60))
        #expect(gaveUp.status == 69, "\(gaveUp.stderr)")
        #expect(ContinuousClock.now - down < .seconds(25), "exited \(ContinuousClock.now - down) after the brokers went")
        #expect(gaveUp.stderr.contains("Kafka has not answered for"), "\(gaveUp.stderr)")
        #expect(gaveUp.stderr.contains("kafka.unavailable_timeout_s (10.0 s)"))

        try broker.setBrokerUp()
        try Topics.produce(broker, "db-events", Array(lines[2000...]))
        let finished = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(finished.status == 0, "\(finished.stderr)")
        let scores = Topics.objects(try Topics.read(broker, "db-scores")).compactMap { $0["id"] as? String }
        #expect(scores.count == 3000 && Set(scores).count == 3000, "every event scored once: \(scores.count)")

        // SIGTERM while the brokers are gone: the stop cannot commit, and ends within its bound all the same.
        let second = try RunProcess([config, "--brokers", broker.bootstrapServers, "--json"])
        let secondBase = try #require(second.opsEndpoint(), "\(second.stderrSoFar)")
        #expect(waitFor("running", within: 60) { ready(secondBase).contains(#""phase":"running""#) })
        try broker.setBrokerDown()
        Thread.sleep(forTimeInterval: 1)
        let stopped = ContinuousClock.now
        let stopResult = second.wait(timeout: .seconds(60), signal: SIGTERM)
        #expect(ContinuousClock.now - stopped < .seconds(8), "stopped \(ContinuousClock.now - stopped) after SIGTERM")
        #expect(stopResult.status == 69, "\(stopResult.stderr)")
        #expect(stopResult.stderr.contains("kafka.shutdown_timeout_s (3.0 s) after the stop"), "\(stopResult.stderr)")
        try broker.setBrokerUp()
    }

    @Test("No broker at start-up: the job retries within kafka.unavailable_timeout_s and exits 69 naming why; a second SIGTERM during a stop that waits on Kafka exits 143 at once")
    func unavailableAtStartAndSecondSignal() throws {
        let directory = try RunFiles.directory("no-broker")
        defer { try? FileManager.default.removeItem(at: directory) }
        // A port nothing listens on.
        let config = try RunFiles.write(
            RunTests.scoringConfig(
                name: "no-broker", events: "nb-events", scores: "nb-scores", deadLetter: "nb-dead",
                snapshots: directory.appendingPathComponent("snapshots").path,
                extra: "kafka: {unavailable_timeout_s: 3, shutdown_timeout_s: 60}"),
            to: directory, "job.yaml")
        let started = ContinuousClock.now
        let result = try RunProcess([config, "--brokers", "127.0.0.1:1", "--ops-address", "off"]).wait(timeout: .seconds(60))
        #expect(result.status == 69, "\(result.stderr)")
        #expect(ContinuousClock.now - started < .seconds(30), "exited \(ContinuousClock.now - started) after start")
        #expect(result.stderr.contains("kafka.unavailable_timeout_s (3.0 s)"), "\(result.stderr)")

        // The first SIGTERM starts a stop that waits for Kafka (up to 60 s); the second ends the process at once.
        let broker = try EmbeddedBroker(topics: [("nb-events", 1), ("nb-scores", 1), ("nb-dead", 1)])
        defer { broker.close() }
        try Topics.produce(broker, "nb-events", try CLI.run(["generate", "fraud", "--events", "200", "--seed", "5"]).stdout
            .split(separator: "\n").map(String.init))
        let patient = try RunFiles.write(
            RunTests.scoringConfig(
                name: "no-broker", events: "nb-events", scores: "nb-scores", deadLetter: "nb-dead",
                snapshots: directory.appendingPathComponent("snapshots").path,
                extra: "kafka: {unavailable_timeout_s: 60, shutdown_timeout_s: 60}"),
            to: directory, "patient.yaml")
        let run = try RunProcess([patient, "--brokers", broker.bootstrapServers])
        let base = try #require(run.opsEndpoint(), "\(run.stderrSoFar)")
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline && !(HTTP.request(base + "/readyz")?.body ?? "").contains(#""phase":"running""#) {
            Thread.sleep(forTimeInterval: 0.1)
        }
        try broker.setBrokerDown()
        kill(run.process.processIdentifier, SIGTERM)
        Thread.sleep(forTimeInterval: 1)
        let second = ContinuousClock.now
        let stopped = run.wait(timeout: .seconds(30), signal: SIGTERM)
        #expect(stopped.status == 128 + SIGTERM, "\(stopped.stderr)")
        #expect(ContinuousClock.now - second < .seconds(5), "exited \(ContinuousClock.now - second) after the second SIGTERM")
        try broker.setBrokerUp()
    }

    @Test("Offsets lost while running (retention overtakes a slow job) and a snapshot beyond the partition's end: one alert naming the partition and the count, the job reads on from the oldest kept, and its next snapshot no longer holds the gap")
    func lostOffsetsReported() throws {
        let broker = try EmbeddedBroker(topics: [("lr-events", 1), ("lr-scores", 1), ("lr-alerts", 1), ("lr-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("lost-running")
        defer { try? FileManager.default.removeItem(at: directory) }
        let snapshots = directory.appendingPathComponent("snapshots").path
        let config = try RunFiles.write(
            RunTests.scoringConfig(
                name: "lost-running", events: "lr-events", scores: "lr-scores", alerts: "lr-alerts", deadLetter: "lr-dead",
                snapshots: snapshots, mode: "at-least-once",
                extra: "kafka:\n  on_lost_offsets: earliest"),
            to: directory, "job.yaml")
        try Topics.produce(broker, "lr-events", (0..<100).map { #"{"id":"s\#($0)","amount":\#($0)}"# })
        let run = try RunProcess([config, "--brokers", broker.bootstrapServers, "--json", "--exit-when-idle", "3"])
        let probe = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "probe"))
        defer { try? probe.close() }
        let deadline = ContinuousClock.now + .seconds(60)
        while try probe.watermarks(topic: "lr-scores", partition: 0).high < 100 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        // The job stopped (SIGSTOP: a long pause) while about 11 MiB arrive: the embedded broker keeps about 5 MiB
        // and drops the oldest before the job, running again, reads them.
        kill(run.process.processIdentifier, SIGSTOP)
        Thread.sleep(forTimeInterval: 0.2)  // a fetch in flight is answered (empty) before the flood
        let filler = String(repeating: "x", count: 900)
        try Topics.produce(broker, "lr-events", (0..<12_000).map { #"{"id":"f\#($0)","amount":1,"pad":"\#(filler)"}"# })
        kill(run.process.processIdentifier, SIGCONT)
        let result = run.wait(timeout: .seconds(120))
        #expect(result.status == 0, "\(result.stderr.suffix(2000))")
        let alerts = Topics.objects(try Topics.read(broker, "lr-alerts")).filter { $0["kind"] as? String == "data-loss" }
        #expect(alerts.count == 1, "one alert for one gap: \(alerts)")
        let alert = try #require(alerts.first)
        #expect(alert["feature"] as? String == "lr-events[0]")
        let from = try #require((alert["offsets"] as? [String: Any])?["lr-events:0"] as? Int)
        let lost = try #require(alert["value"] as? Double)
        #expect(from == 100 && lost > 1000, "\(alert)")
        let (low, high) = try probe.watermarks(topic: "lr-events", partition: 0)
        #expect(Int64(from) + Int64(lost) <= low, "the count is what retention dropped")
        let newest = try RunFiles.newestPayload(snapshots)
        #expect(newest.header.positions.contains(.kafka(KafkaPosition(topic: "lr-events", partition: 0, offset: high))), "\(newest.header.positions)")
        let summary = RunFiles.summary(result)
        #expect((summary["messages"] as? Int ?? 0) >= Int(high - low) + 100)
        // A restart meets no gap.
        let again = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(again.status == 0 && !again.stderr.contains("fell out of retention"), "\(again.stderr)")

        // A snapshot past the end of its partition (a topic made anew): named as such, then read from the start.
        let fresh = try EmbeddedBroker(topics: [("lr-events", 1), ("lr-scores", 1), ("lr-alerts", 1), ("lr-dead", 1)])
        defer { fresh.close() }
        try Topics.produce(fresh, "lr-events", (0..<50).map { #"{"id":"n\#($0)","amount":\#($0)}"# })
        let strict = try RunFiles.write(
            RunTests.scoringConfig(
                name: "lost-running", events: "lr-events", scores: "lr-scores", alerts: "lr-alerts", deadLetter: "lr-dead",
                snapshots: snapshots, mode: "at-least-once"),
            to: directory, "strict.yaml")
        let refused = try RunProcess.toIdle(strict, brokers: fresh.bootstrapServers)
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("lr-events[0]: snapshot at offset \(high), beyond the partition's end 50 (truncated or made anew)"), "\(refused.stderr)")
        let resumed = try RunProcess.toIdle(config, brokers: fresh.bootstrapServers)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(RunFiles.summary(resumed)["messages"] as? Int == 50)
    }

    @Test("The ops endpoint caps its connections and closes idle ones; other methods on /score get 405")
    func opsConnections() throws {
        let broker = try EmbeddedBroker(topics: [("oc-events", 1), ("oc-scores", 1), ("oc-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("ops-connections")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try RunFiles.write(
            RunTests.scoringConfig(
                name: "ops-connections", events: "oc-events", scores: "oc-scores", deadLetter: "oc-dead",
                snapshots: directory.appendingPathComponent("snapshots").path,
                extra: "ops: {max_connections: 4, idle_timeout_s: 1}"),
            to: directory, "job.yaml")
        let run = try RunProcess([config, "--brokers", broker.bootstrapServers])
        defer { _ = run.wait(timeout: .seconds(30), signal: SIGTERM) }
        let base = try #require(run.opsEndpoint(), "\(run.stderrSoFar)")
        let port = try #require(base.split(separator: ":").last.flatMap { UInt16($0) })
        // Ten idle connections: about four are taken, the rest wait unanswered; idle ones are closed after 1 s.
        var sockets: [Int32] = []
        defer { for socket in sockets { close(socket) } }
        for _ in 0..<10 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            #expect(connected == 0)
            sockets.append(fd)
        }
        // Never more than four held at once; as idle ones are closed, waiting ones are taken.
        var held: [Int] = []
        for _ in 0..<60 {
            held.append(Self.connections(of: run.process.processIdentifier, port: port))
            Thread.sleep(forTimeInterval: 0.1)
        }
        // The cap stops accepting between accept batches: one batch (up to NIO's 4) may pass it by a few.
        #expect((4..<8).contains(held.max() ?? 0), "\(held)")
        #expect(held.last == 0, "every idle connection closed: \(held)")
        // Closed by the endpoint: each idle socket reads end-of-file.
        var closed = 0
        for socket in sockets {
            var byte: UInt8 = 0
            var timeout = timeval(tv_sec: 3, tv_usec: 0)
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if recv(socket, &byte, 1, 0) == 0 { closed += 1 }
        }
        #expect(closed >= 4, "idle connections closed: \(closed)")
        #expect(HTTP.request(base + "/healthz")?.status == 200)
        for method in ["GET", "PUT", "HEAD", "DELETE"] {
            #expect(HTTP.request(base + "/score", method: method)?.status == 405, "\(method)")
        }
    }

    /// The established TCP connections the process holds on its local `port` (its socket descriptors matched in
    /// /proc/net/tcp, read to its end: a /proc file has no size).
    static func connections(of pid: Int32, port: UInt16) -> Int {
        let inodes = Set(((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).compactMap {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)"))
                .flatMap { $0.hasPrefix("socket:[") ? String($0.dropFirst(8).dropLast()) : nil }
        })
        let data = (try? FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/net/tcp")).readToEnd()) ?? nil
        let hex = String(port, radix: 16, uppercase: true)
        let local = ":" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        return String(decoding: data ?? Data(), as: UTF8.self).split(separator: "\n").dropFirst().filter { line in
            let fields = line.split(separator: " ")
            return fields.count > 9 && fields[1].hasSuffix(local) && fields[3] == "01" && inodes.contains(String(fields[9]))
        }.count
    }

    @Test("Labels read behind a backlog of events: the inputs are kept in step, so a tight join.max_age_messages expires no event whose label is there")
    func backlogInStep() throws {
        let broker = try EmbeddedBroker(topics: [("bs-events", 1), ("bs-labels", 1), ("bs-scores", 1), ("bs-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("in-step")
        defer { try? FileManager.default.removeItem(at: directory) }
        try Topics.produce(broker, "bs-events", (0..<3000).map { #"{"id":"e\#($0)","amount":\#($0 % 50),"country":"FR"}"# })
        try Topics.produce(broker, "bs-labels", (0..<3000).map { #"{"id":"e\#($0)","label":\#($0 % 7 == 0 ? 1 : 0)}"# })
        let config = try RunFiles.write(
            RunTests.scoringConfig(
                name: "in-step", events: "bs-events", labels: "bs-labels", scores: "bs-scores", deadLetter: "bs-dead",
                snapshots: directory.appendingPathComponent("snapshots").path, extra: "join: {max_age_messages: 200}"),
            to: directory, "job.yaml")
        let result = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(result.status == 0, "\(result.stderr)")
        let summary = RunFiles.summary(result)
        #expect(summary["joined"] as? Int == 3000, "\(summary)")
        #expect(summary["expired"] as? Int == 0 && summary["orphans"] as? Int == 0)
        #expect(Topics.objects(try Topics.read(broker, "bs-scores")).count == 3000)
    }
}
