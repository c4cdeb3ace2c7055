import Foundation
import OnlineLearning
import StreamCore
import StreamKafka
import Simulation
import KafkaRuntime
import StreamJobs
import StreamPipeline
import Testing

@Suite("streamlearn run: the Kafka runtime", .serialized)
struct RunTests {
    static func scoringConfig(
        name: String, events: String, labels: String? = nil, scores: String, alerts: String? = nil,
        deadLetter: String, snapshots: String, snapshotEvery: Int = 1500, mode: String = "exactly-once", extra: String = ""
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
          mode: \(mode)
        snapshots:
          directory: \(snapshots)
          every_messages: \(snapshotEvery)
        \(extra)
        """
    }

    @Test("SIGKILL at six points and restarts: the final model (keyed aggregates included) is bit-identical and every score is read once, as an uninterrupted run's")
    func exactlyOnceThroughKills() throws {
        let broker = try EmbeddedBroker(topics: [("tx", 1), ("scores-ref", 1), ("scores-crash", 3), ("dlq-ref", 1), ("dlq-crash", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("kill")
        defer { try? FileManager.default.removeItem(at: directory) }
        let stream = try CLI.run(["generate", "fraud", "--events", "8000", "--seed", "5", "--label-delay", "150"]).stdout
        let lines = stream.split(separator: "\n").map(String.init)
        try Topics.produce(broker, "tx", lines)
        let detectors = """
            detectors: {score_psi_window: 1000, f1_window: 500, input_psi_window: 1000}
            model:
              interactions: [[country, channel]]
            features:
              aggregates:
                - {name: category_count_1m, key: merchant_category, function: count, window: 1m}
                - {name: pair_amount_z, key: [country, device], function: zscore, field: amount, window: 10m}
                - {name: country_channels, key: country, function: distinct, field: channel, window: 10m}
                - {name: country_since_last, key: country, function: since_last, window: 10m}
                - {name: category_fraud_rate, key: merchant_category, function: target_rate, window: 1h}
            """
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

        let referenceScores = try Topics.scores(broker, "scores-ref")
        let crashScores = try Topics.scores(broker, "scores-crash")
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

extension RunTests {
    @Test("Brokers down for 3 s and up again, failed requests, a slow broker, then SIGTERM: nothing lost, nothing learned twice, exit 0 with a shutdown snapshot")
    func brokerOutageAndGracefulStop() throws {
        let broker = try EmbeddedBroker(topics: [("bo-events", 2), ("bo-scores", 2), ("bo-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("outage")
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = try CLI.run(["generate", "fraud", "--events", "6000", "--seed", "9"]).stdout
            .split(separator: "\n").map(String.init)
        let snapshots = directory.appendingPathComponent("snapshots").path
        let config = try RunFiles.write(
            Self.scoringConfig(name: "outage", events: "bo-events", scores: "bo-scores", deadLetter: "bo-dead", snapshots: snapshots),
            to: directory, "outage.yaml")
        let run = try RunProcess([config, "--brokers", broker.bootstrapServers, "--json", "--status-interval", "1"])
        try Topics.produce(broker, "bo-events", Array(lines[..<3000]))
        let probe = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "probe"))
        func answered() throws -> Int64 {
            try (0..<Int32(2)).reduce(Int64(0)) { $0 + (try probe.watermarks(topic: "bo-scores", partition: $1).high) }
        }
        var deadline = ContinuousClock.now + .seconds(60)
        while try answered() < 1000 && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        try broker.setBrokerDown()
        Thread.sleep(forTimeInterval: 3)
        try broker.setBrokerUp()
        // Failed produce, fetch and transaction requests, and every answer 200 ms late, while the rest arrives.
        try broker.pushRequestErrors(.produce, [.notLeaderForPartition, .requestTimedOut, .notEnoughReplicas])
        try broker.pushRequestErrors(.fetch, [.notLeaderForPartition, .requestTimedOut])
        try broker.pushRequestErrors(KafkaAPIKey(rawValue: 26), [.requestTimedOut])  // EndTxn
        try broker.setRoundTripTime(broker: 1, .milliseconds(200))
        try Topics.produce(broker, "bo-events", Array(lines[3000..<4500]))
        Thread.sleep(forTimeInterval: 2)
        try broker.setRoundTripTime(broker: 1, .zero)
        try Topics.produce(broker, "bo-events", Array(lines[4500...]))
        // Wait until every event is answered (each transaction adds a marker, so the end is at least 6,000 on).
        deadline = ContinuousClock.now + .seconds(90)
        while Topics.objects(try Topics.read(broker, "bo-scores")).count < 6000 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.5)
        }
        try probe.close()
        let stopped = ContinuousClock.now
        let result = run.wait(timeout: .seconds(60), signal: SIGTERM)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(ContinuousClock.now - stopped < .seconds(20))
        let summary = RunFiles.summary(result)
        #expect(summary["labelled"] as? Int == 6000, "\(summary)")
        #expect(result.stderr.contains("run outage: in "), "a status line")
        let scores = Topics.objects(try Topics.read(broker, "bo-scores"))
        #expect(scores.count == 6000)
        #expect(Set(scores.compactMap { $0["id"] as? String }).count == 6000)
        let newest = try RunFiles.newestPayload(snapshots)
        #expect(newest.header.reason == "shutdown")
        let state = try Snapshot.decode(PipelineState.self, from: newest.payload)
        #expect(state.classifier.scored == 6000)
        #expect(state.labelled == 6000)
    }

    @Test("A bandit job: one decision per request with its propensity; rewards joined by id are learned; it then prefers the best arm")
    func banditJob() throws {
        let broker = try EmbeddedBroker(topics: [("b-requests", 2), ("b-rewards", 2), ("b-decisions", 2), ("b-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("bandit")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try RunFiles.write(
            """
            job: bandit
            name: offers
            topics: {requests: b-requests, rewards: b-rewards, decisions: b-decisions, dead_letter: b-dead}
            model: {policy: epsilon-greedy, arms: 3, epsilon: 0.1, seed: 4}
            join: {default_reward: 0}
            snapshots: {directory: \(directory.appendingPathComponent("snapshots").path)}
            """, to: directory, "bandit.yaml")
        try Topics.produce(broker, "b-requests", (0..<2000).map { #"{"id":"d\#($0)"}"# } + [#"{"id":"bad","arms":[5]}"#])
        let first = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(first.status == 0, "\(first.stderr)")
        let decisions = Topics.objects(try Topics.read(broker, "b-decisions"))
        #expect(decisions.count == 2000)
        #expect(Set(decisions.compactMap { $0["id"] as? String }).count == 2000)
        for decision in decisions {
            let propensity = try #require(decision["propensity"] as? Double)
            #expect(propensity > 0 && propensity <= 1)
        }
        // Arm 2 pays, the others do not.
        let rewards = decisions.map { #"{"id":"\#($0["id"]!)","reward":\#(($0["arm"] as? Int) == 2 ? 1 : 0)}"# }
        try Topics.produce(broker, "b-rewards", rewards + [#"{"id":"nobody","reward":1}"#])
        let second = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(RunFiles.summary(second)["rewarded"] as? Int == 2000, "\(second.stdout)")
        try Topics.produce(broker, "b-requests", (2000..<2500).map { #"{"id":"d\#($0)"}"# } + [#"{"id":"only01","arms":[0,1]}"#])
        let third = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(third.status == 0, "\(third.stderr)")
        let later = Topics.objects(try Topics.read(broker, "b-decisions")).filter {
            (($0["id"] as? String).flatMap { Int($0.dropFirst()) } ?? 0) >= 2000
        }
        #expect(later.count == 500)
        let best = later.filter { $0["arm"] as? Int == 2 }.count
        #expect(best >= 425, "arm 2 chosen \(best) of 500")
        let restricted = try #require(Topics.objects(try Topics.read(broker, "b-decisions")).first { $0["id"] as? String == "only01" })
        #expect([0, 1].contains(restricted["arm"] as? Int ?? -1))
        let deadKinds = try Topics.read(broker, "b-dead").compactMap {
            $0.headers.first { $0.name == "__connect.errors.exception.class.name" }?.value.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(deadKinds.sorted() == ["streamlearn.orphan-label", "streamlearn.unknown-arm"])
    }

    @Test("A reinforcement job learns off-policy from recorded FrozenLake transitions exactly as the library does, publishes its greedy policy and answers action requests")
    func reinforcementJob() throws {
        let broker = try EmbeddedBroker(topics: [
            ("rl-requests", 1), ("rl-transitions", 1), ("rl-actions", 1), ("rl-policy", 1), ("rl-dead", 1),
        ])
        defer { broker.close() }
        let directory = try RunFiles.directory("rl")
        defer { try? FileManager.default.removeItem(at: directory) }
        // A behaviour policy (uniform) recorded on a slippery FrozenLake.
        var environment = try Environments.frozenLake(seed: 3)
        var random = SeededRandom(seed: 8)
        var transitions: [Transition] = []
        var state = environment.reset(seed: 3)
        while transitions.count < 20_000 {
            let action = Int(random.next() % 4)
            let step = try environment.step(action)
            transitions.append(Transition(
                state: state, action: action, reward: step.reward, nextState: step.observation,
                terminated: step.terminated, truncated: step.truncated))
            state = step.terminated || step.truncated ? environment.reset() : step.observation
        }
        let lines = transitions.map {
            #"{"state":\#($0.state),"action":\#($0.action),"reward":\#($0.reward),"next_state":\#($0.nextState),"terminated":\#($0.terminated),"truncated":\#($0.truncated)}"#
        }
        try Topics.produce(broker, "rl-transitions", lines + [#"{"state":99,"action":0,"reward":0,"next_state":1}"#])
        let config = try RunFiles.write(
            """
            job: reinforcement
            name: lake
            topics: {requests: rl-requests, transitions: rl-transitions, decisions: rl-actions, policy: rl-policy, dead_letter: rl-dead}
            model: {algorithm: qlearning, states: 16, actions: 4, learning_rate: 0.1, discount: 0.99, epsilon: 0.1, seed: 5}
            snapshots: {directory: \(directory.appendingPathComponent("snapshots").path)}
            """, to: directory, "lake.yaml")
        let first = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(first.status == 0, "\(first.stderr)")
        var agent = try TabularAgent(
            algorithm: .qLearning, states: 16, actions: 4, learningRate: 0.1, discount: 0.99,
            exploration: .constant(0.1), seed: 5)
        for transition in transitions { try agent.learn(transition) }
        let saved = try Snapshot.decode(
            ReinforcementJobState.self, from: try RunFiles.newestPayload(directory.appendingPathComponent("snapshots").path).payload)
        #expect(saved.agent == agent, "Q-table differs from the library's")
        #expect(saved.updates == 20_000)
        let policy = try #require(Topics.objects(try Topics.read(broker, "rl-policy")).last)
        #expect(policy["greedy_actions"] as? [Int] == (0..<16).map { agent.greedyAction($0) })

        // Action requests now: ε-greedy from the restored agent, the same draws as the library's.
        try Topics.produce(broker, "rl-requests", (0..<200).map { #"{"episode":"e\#($0 / 10)","state":\#($0 % 16)}"# })
        let second = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(second.status == 0, "\(second.stderr)")
        let actions = Topics.objects(try Topics.read(broker, "rl-actions"))
        #expect(actions.map { $0["action"] as? Int ?? -1 } == (0..<200).map { agent.predict($0 % 16) })
        #expect(actions.first?["episode"] as? String == "e0")
        let dead = try Topics.read(broker, "rl-dead")
        #expect(dead.count == 1)
    }
}

extension RunTests {
    @Test("A reinforcement job over continuous observations learns MountainCar transitions exactly as the library's tile-coded agent does, answers observation requests, and dead-letters malformed observations by name")
    func continuousReinforcementJob() throws {
        let broker = try EmbeddedBroker(topics: [("car-requests", 1), ("car-transitions", 1), ("car-actions", 1), ("car-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("car")
        defer { try? FileManager.default.removeItem(at: directory) }
        // Transitions of a policy that pushes the way the car moves, with a random push one step in five.
        var environment = MountainCar(seed: 2)
        var random = SeededRandom(seed: 4)
        var observation: [Double] = []
        var next: [Double] = []
        environment.reset(seed: 2, into: &observation)
        var transitions: [ContinuousTransition] = []
        while transitions.count < 3_000 {
            let action = random.next() % 5 == 0 ? Int(random.next() % 3) : (observation[1] >= 0 ? 2 : 0)
            let step = try environment.step(action, into: &next)
            transitions.append(ContinuousTransition(
                observation: observation, action: action, reward: step.reward, nextObservation: next,
                terminated: step.terminated, truncated: step.truncated))
            if step.terminated || step.truncated { environment.reset(seed: nil, into: &next) }
            observation = next
        }
        let lines = transitions.map {
            #"{"observation":[\#($0.observation[0]),\#($0.observation[1])],"action":\#($0.action),"reward":\#($0.reward),"next_observation":[\#($0.nextObservation[0]),\#($0.nextObservation[1])],"terminated":\#($0.terminated),"truncated":\#($0.truncated)}"#
        }
        try Topics.produce(broker, "car-transitions", lines + [
            #"{"observation":[-0.5],"action":0,"reward":-1,"next_observation":[-0.5,0],"terminated":false}"#,
            #"{"observation":[-0.5,"fast"],"action":0,"reward":-1,"next_observation":[-0.5,0],"terminated":false}"#,
            #"{"observation":[-0.5,0],"action":3,"reward":-1,"next_observation":[-0.5,0],"terminated":false}"#,
        ])
        let config = try RunFiles.write(
            """
            job: reinforcement
            name: car
            topics: {requests: car-requests, transitions: car-transitions, decisions: car-actions, dead_letter: car-dead}
            model: {algorithm: qlearning, observations: mountaincar, tilings: 8, tiles: 8, actions: 3, learning_rate: 0.5, discount: 1, epsilon: 0, seed: 5}
            snapshots: {directory: \(directory.appendingPathComponent("snapshots").path)}
            """, to: directory, "car.yaml")
        let first = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(first.status == 0, "\(first.stderr)")
        var agent = try TileCodedAgent(
            algorithm: .qLearning, coder: try TileCoder(low: [-1.2, -0.07], high: [0.6, 0.07]), actions: 3,
            learningRate: 0.5, discount: 1, exploration: .constant(0), seed: 5)
        for transition in transitions { try agent.learn(transition) }
        let saved = try Snapshot.decode(
            ReinforcementJobState.self, from: try RunFiles.newestPayload(directory.appendingPathComponent("snapshots").path).payload)
        #expect(saved.agent == nil && saved.linearAgent == agent, "the weights differ from the library's")
        #expect(saved.updates == 3_000)
        let dead = try Topics.read(broker, "car-dead")
        let messages = dead.map { HardeningTests.header($0, "__connect.errors.exception.message") ?? "" }
        #expect(messages.count == 3 && messages[0] == "'observation' has 1 values, the model 2", "\(messages)")
        #expect(messages.count == 3 && messages[1] == "'observation'[1] must be a finite number", "\(messages)")
        #expect(messages.count == 3 && messages[2].contains("action 3 outside 0..<3"), "\(messages)")

        // Observation requests: the answers are the restored agent's choices.
        let probes: [[Double]] = (0..<50).map { (index: Int) -> [Double] in
            let step = Double(index)
            return [-1.1 + 0.03 * step, 0.06 - 0.0024 * step]
        }
        try Topics.produce(broker, "car-requests", probes.enumerated().map { #"{"episode":"e\#($0)","observation":[\#($1[0]),\#($1[1])]}"# })
        #expect(try RunProcess.toIdle(config, brokers: broker.bootstrapServers).status == 0)
        let actions = Topics.objects(try Topics.read(broker, "car-actions"))
        #expect(actions.map { $0["action"] as? Int ?? -1 } == probes.map { agent.predict($0) })
        #expect(actions.first?["episode"] as? String == "e0" && actions.first?["state"] == nil)

        // Continuous observations refuse `states`, and the scenario's environment checks the job's size.
        let both = try RunFiles.write(
            "job: reinforcement\nname: x\ntopics: {requests: a, transitions: c, decisions: b}\nmodel: {observations: cartpole, states: 4, actions: 2}\n",
            to: directory, "both.yaml")
        let refused = try CLI.run(["run", both])
        #expect(refused.status == 78 && refused.stderr.contains("model.states: does not apply with model.observations"), "\(refused.stderr)")
        let unknown = try RunFiles.write(
            "job: reinforcement\nname: x\ntopics: {requests: a, transitions: c, decisions: b}\nmodel: {observations: {low: [0, 0], high: [1]}, actions: 2}\n",
            to: directory, "box.yaml")
        let box = try CLI.run(["run", unknown])
        #expect(box.status == 78 && box.stderr.contains("model.observations.low: needs one bound per dimension"), "\(box.stderr)")
    }

    @Test("The named observation boxes of the runtime are the environments' own")
    func namedObservationBoxes() {
        #expect(RuntimeConfiguration.namedObservations["mountaincar"]!.low == MountainCar().observationLow)
        #expect(RuntimeConfiguration.namedObservations["mountaincar"]!.high == MountainCar().observationHigh)
        #expect(RuntimeConfiguration.namedObservations["cartpole"]!.low == CartPole().observationLow)
        #expect(RuntimeConfiguration.namedObservations["cartpole"]!.high == CartPole().observationHigh)
    }

    @Test("A bad configuration stops start-up with exit 78 and the key's path")
    func badConfiguration() throws {
        let directory = try RunFiles.directory("config")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try RunFiles.write(
            "job: scoring\nname: x\ntopics: {events: a, scores: b}\nmodel:\n  optimizer: {kind: ftrl, alpha: -1}\n",
            to: directory, "bad.yaml")
        let result = try CLI.run(["run", config])
        #expect(result.status == 78)
        #expect(result.stderr.contains("bad.yaml: model.optimizer.alpha: must be > 0, got -1"), "\(result.stderr)")
    }

    @Test("Offsets that fell out of retention stop the job with a data-loss alert, unless a reset is configured")
    func lostOffsets() throws {
        let broker = try EmbeddedBroker(topics: [("lo-events", 1), ("lo-scores", 4), ("lo-alerts", 1), ("lo-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("lost")
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = try CLI.run(["generate", "fraud", "--events", "500", "--seed", "2"]).stdout.split(separator: "\n").map(String.init)
        try Topics.produce(broker, "lo-events", lines)
        let yaml = Self.scoringConfig(
            name: "lost", events: "lo-events", scores: "lo-scores", alerts: "lo-alerts", deadLetter: "lo-dead",
            snapshots: directory.appendingPathComponent("snapshots").path)
        let config = try RunFiles.write(yaml, to: directory, "lost.yaml")
        #expect(try RunProcess.toIdle(config, brokers: broker.bootstrapServers).status == 0)
        // About 7 MiB more: the embedded broker keeps about 5 MiB per partition and drops the oldest.
        let filler = String(repeating: "x", count: 900)
        try Topics.produce(broker, "lo-events", (0..<8000).map { #"{"id":"f\#($0)","amount":1,"pad":"\#(filler)"}"# })
        let stopped = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(stopped.status == 65)
        #expect(stopped.stderr.contains("lo-events[0]: snapshot at offset 500"), "\(stopped.stderr)")
        #expect(stopped.stderr.contains("kafka.on_lost_offsets"))
        let alerts = Topics.objects(try Topics.read(broker, "lo-alerts"))
        #expect(alerts.contains { $0["kind"] as? String == "data-loss" && $0["severity"] as? String == "critical" })

        let resetting = try RunFiles.write(yaml + "\nkafka:\n  on_lost_offsets: earliest\n", to: directory, "reset.yaml")
        let resumed = try RunProcess.toIdle(resetting, brokers: broker.bootstrapServers)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect((RunFiles.summary(resumed)["messages"] as? Int ?? 0) > 0)
    }
}

extension RunTests {
    @Test("At least once: after SIGKILL the answers since the last snapshot come again, identical to the first")
    func atLeastOnce() throws {
        let broker = try EmbeddedBroker(topics: [("al-events", 1), ("al-scores", 2), ("al-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("alo")
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = try CLI.run(["generate", "fraud", "--events", "6000", "--seed", "12", "--label-delay", "100"]).stdout
            .split(separator: "\n").map(String.init)
        try Topics.produce(broker, "al-events", lines)
        let config = try RunFiles.write(
            Self.scoringConfig(
                name: "alo", events: "al-events", scores: "al-scores", deadLetter: "al-dead",
                snapshots: directory.appendingPathComponent("snapshots").path, snapshotEvery: 2000, mode: "at-least-once"),
            to: directory, "alo.yaml")
        let run = try RunProcess([config, "--brokers", broker.bootstrapServers])
        let probe = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "probe"))
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let answered = try (0..<Int32(2)).reduce(Int64(0)) { $0 + (try probe.watermarks(topic: "al-scores", partition: $1).high) }
            if answered > 3000 { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        try probe.close()
        run.kill9()
        let finished = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(finished.status == 0, "\(finished.stderr)")
        var byID: [String: Set<String>] = [:]
        var total = 0
        for object in Topics.objects(try Topics.read(broker, "al-scores")) {
            byID[object["id"] as? String ?? "", default: []].insert("\(object["score"]!) \(object["model_version"]!)")
            total += 1
        }
        #expect(byID.count == 6000, "every event answered")
        #expect(byID.values.allSatisfy { $0.count == 1 }, "a repeated answer differs from the first")
        #expect(total > 6000, "answers since the last snapshot came again: \(total)")
    }
}

extension RunTests {
    @Test("An environment runs its episodes through Kafka with the runtime as its agent: each request answered, each transition learned")
    func environmentLoop() throws {
        let broker = try EmbeddedBroker(topics: [
            ("el-requests", 1), ("el-transitions", 1), ("el-actions", 1), ("el-dead", 1),
        ])
        defer { broker.close() }
        let directory = try RunFiles.directory("loop")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try RunFiles.write(
            """
            job: reinforcement
            name: loop
            topics: {requests: el-requests, transitions: el-transitions, decisions: el-actions, dead_letter: el-dead}
            output: {mode: at-least-once}
            model: {algorithm: qlearning, states: 16, actions: 4, epsilon: 0.2, seed: 3}
            snapshots: {directory: \(directory.appendingPathComponent("snapshots").path)}
            """, to: directory, "loop.yaml")
        let agent = try RunProcess([config, "--brokers", broker.bootstrapServers, "--json"])
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers))
        var configuration = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "environment")
        configuration.properties["fetch.wait.max.ms"] = "10"
        let actions = try KafkaConsumer(configuration: configuration)
        try actions.assign([TopicPartitionOffset("el-actions", 0, offset: 0)])
        var environment = try Environments.frozenLake(slippery: false, maxEpisodeSteps: 8, seed: 1)
        var steps = 0
        for episode in 0..<12 {
            var state = environment.reset()
            var done = false
            while !done {
                try producer.send(topic: "el-requests", key: "e\(episode)", value: #"{"episode":"e\#(episode)","state":\#(state)}"#)
                producer.poll()
                var answer: [String: Any]?
                let deadline = ContinuousClock.now + .seconds(20)
                while answer == nil && ContinuousClock.now < deadline {
                    answer = Topics.objects(try actions.poll(timeout: .milliseconds(20))).first
                }
                let reply = try #require(answer, "no action for episode \(episode) step \(steps)")
                #expect(reply["episode"] as? String == "e\(episode)" && reply["state"] as? Int == state)
                let action = try #require(reply["action"] as? Int)
                let step = try environment.step(action)
                try producer.send(
                    topic: "el-transitions", key: "e\(episode)",
                    value: #"{"state":\#(state),"action":\#(action),"reward":\#(step.reward),"next_state":\#(step.observation),"terminated":\#(step.terminated),"truncated":\#(step.truncated)}"#)
                steps += 1
                state = step.observation
                done = step.terminated || step.truncated
            }
        }
        try producer.close()
        try actions.close()
        Thread.sleep(forTimeInterval: 1)
        let result = agent.wait(timeout: .seconds(30), signal: SIGTERM)
        #expect(result.status == 0, "\(result.stderr)")
        let summary = RunFiles.summary(result)
        #expect(summary["actions"] as? Int == steps)
        #expect(summary["updates"] as? Int == steps, "\(summary)")
        #expect(summary["episodes"] as? Int == 12)
    }
}
