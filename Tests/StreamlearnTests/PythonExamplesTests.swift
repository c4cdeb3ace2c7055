import Foundation
import Simulation
import StreamCore
import StreamKafka
import Synchronization
import Testing

/// A virtual environment with examples/python/requirements.txt (PyPI), made once and remade when the file changes.
enum PythonExamples {
    static let directory = repositoryRoot.appendingPathComponent("examples/python")
    static let environment = repositoryRoot.appendingPathComponent(".build/examples-venv")
    private static let made = Mutex<Result<URL, PythonError>?>(nil)

    struct PythonError: Error, CustomStringConvertible {
        var description: String
    }

    /// The environment's python, made if needed.
    static func python() throws -> URL {
        try made.withLock { made in
            if made == nil { made = Result { () throws(PythonError) in try makeEnvironment() } }
            return try made!.get()
        }
    }

    private static func makeEnvironment() throws(PythonError) -> URL {
        let python = environment.appendingPathComponent("bin/python")
        let stamp = environment.appendingPathComponent("requirements.txt")
        let wanted = (try? String(contentsOf: directory.appendingPathComponent("requirements.txt"), encoding: .utf8)) ?? ""
        if FileManager.default.isExecutableFile(atPath: python.path),
            (try? String(contentsOf: stamp, encoding: .utf8)) == wanted
        {
            return python
        }
        try? FileManager.default.removeItem(at: environment)
        func run(_ program: String, _ arguments: [String]) throws(PythonError) {
            guard let result = try? CLI.run(arguments, timeout: .seconds(600), program: URL(fileURLWithPath: program)),
                result.status == 0
            else {
                throw PythonError(description: "\(program) \(arguments.joined(separator: " ")) failed")
            }
        }
        try run("/usr/bin/env", ["python3", "-m", "venv", environment.path])
        try run(python.path, ["-m", "pip", "install", "-q", "-r", directory.appendingPathComponent("requirements.txt").path])
        do {
            try wanted.write(to: stamp, atomically: true, encoding: .utf8)
        } catch {
            throw PythonError(description: "cannot write \(stamp.path): \(error)")
        }
        return python
    }

    /// Runs `examples/python/SCRIPT arguments`; its last line of output as JSON.
    static func run(_ script: String, _ arguments: [String], timeout: Duration = .seconds(120)) throws -> [String: Any] {
        let result = try CLI.run(
            [directory.appendingPathComponent(script).path] + arguments, timeout: timeout, program: try python())
        #expect(result.status == 0, "\(script): \(result.stderr.suffix(2000))")
        let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        return try #require(try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(script) printed \(result.stdout) \(result.stderr.suffix(2000))")
    }
}

/// examples/python: the clients our users write, run against jobs on the embedded broker with the pinned PyPI
/// packages, each asserting its outcome.
@Suite("examples/python: confluent-kafka and Gymnasium clients of real jobs", .serialized)
struct PythonExamplesTests {
    static let examples = repositoryRoot.appendingPathComponent("examples")

    @Test("fraud_client.py: transactions from a CSV in, every score read once (read_committed), POST /score answers")
    func fraud() throws {
        let broker = try EmbeddedBroker(topics: [("transactions", 2), ("labels", 2), ("fraud-scores", 2), ("model-alerts", 1), ("dead-letter", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("py-fraud")
        defer { try? FileManager.default.removeItem(at: directory) }
        let job = try RunProcess([Self.examples.appendingPathComponent("fraud-scoring.yaml").path, "--brokers", broker.bootstrapServers], directory: directory)
        let endpoint = try #require(job.opsEndpoint(), "\(job.stderrSoFar)")
        let summary = try PythonExamples.run("fraud_client.py", [
            "--brokers", broker.bootstrapServers, "--csv", PythonExamples.directory.appendingPathComponent("transactions.csv").path,
            "--ops", endpoint,
        ])
        let result = job.wait(signal: SIGTERM)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(summary["sent"] as? Int == 600 && summary["scored"] as? Int == 600, "\(summary)")
        #expect(summary["missing"] as? Int == 0 && summary["scored_twice"] as? Int == 0, "\(summary)")
        let answer = try #require(summary["post_score"] as? [String: Any], "\(summary)")
        #expect(answer["id"] as? String == "probe-1" && answer["score"] is Double && (answer["explain"] as? [Any])?.count == 3, "\(answer)")
        // What the client read is what a reader of the topic sees: 600 ids, each scored once.
        let scores = try Topics.scores(broker, "fraud-scores")
        #expect(scores.count == 600 && scores.values.allSatisfy { $0.count == 1 })
    }

    /// Runs gym_driver.py against examples/python/frozenlake.yaml (or `config`), resized for `env`.
    func drive(_ env: String, states: Int, actions: Int, arguments: [String], config file: String = "frozenlake.yaml") throws -> [String: Any] {
        let broker = try EmbeddedBroker(topics: [("agent-requests", 1), ("agent-transitions", 1), ("agent-actions", 1), ("agent-policy", 1), ("agent-dead-letter", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("py-gym")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try String(contentsOf: PythonExamples.directory.appendingPathComponent(file), encoding: .utf8)
            .replacingOccurrences(of: "states: 16", with: "states: \(states)")
            .replacingOccurrences(of: "actions: 4", with: "actions: \(actions)")
        let path = try RunFiles.write(config, to: directory, "job.yaml")
        let job = try RunProcess([path, "--brokers", broker.bootstrapServers, "--ops-address", "off"], directory: directory)
        let summary = try PythonExamples.run("gym_driver.py", ["--brokers", broker.bootstrapServers, "--env", env] + arguments)
        let result = job.wait(signal: SIGTERM)
        #expect(result.status == 0, "\(result.stderr)")
        if file == "frozenlake.yaml" {
            #expect(summary["model_version"] as? Int == summary["transitions"] as? Int, "the policy evaluated learned every transition: \(summary)")
        }
        return summary
    }

    @Test("gym_driver.py: 256 slippery FrozenLakes side by side train a policy that succeeds in Gymnasium most of the time")
    func frozenLake() throws {
        let summary = try drive("FrozenLake-v1", states: 16, actions: 4, arguments: ["--envs", "256", "--episodes", "5000", "--eval-episodes", "2000"])
        // The optimum is 0.74 (value iteration); a uniform policy succeeds 0.015 of the time. Q-learning with a
        // constant step size through Kafka ends between 0.63 and 0.73 (the order in which 256 environments'
        // transitions arrive differs run to run).
        #expect((summary["greedy_success_rate"] as? Double ?? 0) >= 0.55, "\(summary)")
    }

    @Test("gym_driver.py: CliffWalking's greedy policy walks the optimal path (return -13)")
    func cliffWalking() throws {
        let summary = try drive("CliffWalking-v1", states: 48, actions: 4, arguments: ["--envs", "48", "--episodes", "500", "--eval-episodes", "5"])
        #expect(summary["greedy_mean_return"] as? Double == -13, "\(summary)")
    }

    @Test("gym_driver.py: Gymnasium's own MountainCar-v0 through a job over continuous observations climbs to the flag")
    func mountainCar() throws {
        let summary = try drive(
            "MountainCar-v0", states: 0, actions: 3, arguments: ["--envs", "100", "--episodes", "300", "--eval-episodes", "20"],
            config: "mountaincar.yaml")
        // A random policy almost never reaches the flag in 200 steps (−200); the tile-coded agent after 300
        // episodes (100 cars side by side, so each learns from the others' first episodes) does so in about 140.
        #expect((summary["terminated_rate"] as? Double ?? 0) >= 0.8 && (summary["greedy_mean_return"] as? Double ?? -200) >= -170, "\(summary)")
    }

    @Test("gym_driver.py: Blackjack-v1's tuple observations, numbered as simulate blackjack numbers them, learn a policy that beats always hitting by far")
    func blackjack() throws {
        let summary = try drive(
            "Blackjack-v1", states: 704, actions: 2, arguments: ["--envs", "64", "--episodes", "10000", "--eval-episodes", "5000"])
        // Always hitting loses about 0.6 a hand (it mostly busts); the best strategy about 0.04.
        #expect((summary["greedy_mean_return"] as? Double ?? -1) >= -0.2, "\(summary)")
    }

    @Test("bandit_driver.py: Thompson sampling through Kafka keeps the regret far below a uniform choice's")
    func bandit() throws {
        let broker = try EmbeddedBroker(topics: [("offer-requests", 1), ("offer-rewards", 1), ("offer-decisions", 1), ("offer-dead-letter", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("py-bandit")
        defer { try? FileManager.default.removeItem(at: directory) }
        let job = try RunProcess([Self.examples.appendingPathComponent("bandit.yaml").path, "--brokers", broker.bootstrapServers, "--ops-address", "off"], directory: directory)
        let summary = try PythonExamples.run("bandit_driver.py", ["--brokers", broker.bootstrapServers, "--rounds", "3000", "--arm-means", "0.2,0.35,0.5,0.65", "--in-flight", "64"])
        let result = job.wait(signal: SIGTERM)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(summary["rounds"] as? Int == 3000)
        // Uniform choice: 3,000 × (0.65 − 0.425) = 675. Thompson's, with 64 rounds open at once, stays under a tenth.
        #expect(summary["uniform_regret"] as? Double == 675)
        #expect((summary["regret"] as? Double ?? 1e9) < 67.5, "\(summary)")
        #expect(((summary["arm_shares"] as? [Double])?.last ?? 0) > 0.8, "\(summary)")
    }
}

extension PythonExamplesTests {
    @Test("Gymnasium's own P tables (FrozenLake 4x4 and 8x8, CliffWalking and its is_slippery, Taxi and its is_rainy), dumped in Python, load as simulate mdp reads them and equal ours entry for entry")
    func gymnasiumTablesLoad() throws {
        let script = repositoryRoot.appendingPathComponent("Tests/Fixtures/gymnasium_dynamics.py").path
        let cases: [(String, [String], TabularEnvironment)] = [
            ("FrozenLake-v1", [], try Environments.frozenLake()),
            ("FrozenLake-v1", [#"{"map_name": "8x8"}"#], try Environments.frozenLake(map: Environments.frozenLake8x8)),
            ("CliffWalking-v1", [], Environments.cliffWalking()),
            ("CliffWalking-v1", [#"{"is_slippery": true}"#], Environments.cliffWalking(slippery: true)),
            ("Taxi-v4", [], Environments.taxi()),
            ("Taxi-v4", [#"{"is_rainy": true}"#], Environments.taxi(rainy: true)),
        ]
        for (id, arguments, ours) in cases {
            let dumped = try CLI.run([script, id] + arguments, timeout: .seconds(120), program: try PythonExamples.python())
            #expect(dumped.status == 0, "\(id): \(dumped.stderr)")
            let theirs = try TransitionTable(gymnasiumJSON: Array(dumped.stdout.utf8))
            let table = ours.dynamics
            #expect(theirs.stateCount == table.stateCount && theirs.actionCount == table.actionCount, "\(id)")
            var differing = 0
            for state in 0..<table.stateCount {
                for action in 0..<table.actionCount
                where Array(theirs.outcomes(state: state, action: action)) != Array(table.outcomes(state: state, action: action)) {
                    differing += 1
                }
            }
            #expect(differing == 0, "\(id) \(arguments): \(differing) (state, action) pairs differ")
            #expect(theirs.initialDistribution == table.initialDistribution, "\(id)")
        }
    }
}

extension PythonExamplesTests {
    struct RecordedEpisode: Decodable {
        struct Step: Decodable {
            var action: Int
            var state: [Double]
            var observation: [Double]
            var reward: Double
            var terminated: Bool
            var truncated: Bool
        }
        var start: [Double]
        var steps: [Step]
    }

    /// Gymnasium's episodes of `id`, recorded by Tests/Fixtures/gymnasium_trajectories.py.
    static func recorded(_ id: String, episodes: Int, seed: Int, _ arguments: [String] = []) throws -> [RecordedEpisode] {
        let script = repositoryRoot.appendingPathComponent("Tests/Fixtures/gymnasium_trajectories.py").path
        let result = try CLI.run(
            [script, id, String(episodes), String(seed)] + arguments, timeout: .seconds(120), program: try PythonExamples.python())
        #expect(result.status == 0, "\(id): \(result.stderr.suffix(2000))")
        return try JSONDecoder().decode([RecordedEpisode].self, from: Data(result.stdout.utf8))
    }

    /// Replays `episodes` from their recorded start states; the number of steps whose state, observation, reward
    /// or flags differ from Gymnasium's in any bit.
    static func replay<Environment: ContinuousEnvironment>(
        _ episodes: [RecordedEpisode], in environment: inout Environment,
        reset: (inout Environment, [Double], inout [Double]) -> Void, state: (Environment) -> [Double]
    ) throws -> (steps: Int, differing: Int, firstDifference: String?) {
        var observation: [Double] = []
        var steps = 0
        var differing = 0
        var first: String?
        for (number, episode) in episodes.enumerated() {
            reset(&environment, episode.start, &observation)
            for (index, recorded) in episode.steps.enumerated() {
                let result = try environment.step(recorded.action, into: &observation)
                steps += 1
                let same = state(environment).map(\.bitPattern) == recorded.state.map(\.bitPattern)
                    && observation.map(\.bitPattern) == recorded.observation.map(\.bitPattern)
                    && result.reward == recorded.reward && result.terminated == recorded.terminated
                    && result.truncated == recorded.truncated
                if !same {
                    differing += 1
                    if first == nil {
                        first = "episode \(number) step \(index): ours \(state(environment)) \(observation) \(result), Gymnasium's \(recorded.state) \(recorded.observation) \(recorded.reward) \(recorded.terminated) \(recorded.truncated)"
                    }
                }
            }
        }
        return (steps, differing, first)
    }

    @Test("MountainCar-v0 and CartPole-v1 (and its sutton_barto_reward) step as Gymnasium 1.4 does, to the last bit, over recorded trajectories that reach every way an episode ends")
    func classicControlTrajectories() throws {
        let mountain = try Self.recorded("MountainCar-v0", episodes: 40, seed: 11)
        #expect(mountain.contains { $0.steps.last!.terminated } && mountain.contains { $0.steps.last!.truncated })
        #expect(mountain.contains { $0.steps.contains { $0.state[0] == MountainCar.minPosition } }, "an episode reaches the left wall")
        var car = MountainCar()
        let carReplay = try Self.replay(
            mountain, in: &car, reset: { $0.reset(state: $1, into: &$2) }, state: \.state)
        #expect(carReplay.steps > 4_000 && carReplay.differing == 0, "\(carReplay)")

        for (arguments, suttonBarto) in [([String](), false), ([#"{"sutton_barto_reward": true}"#], true)] {
            let poles = try Self.recorded("CartPole-v1", episodes: 40, seed: 12, arguments)
            #expect(poles.contains { $0.steps.last!.terminated } && poles.contains { $0.steps.last!.truncated })
            var pole = CartPole(suttonBartoReward: suttonBarto)
            let poleReplay = try Self.replay(
                poles, in: &pole, reset: { $0.reset(state: $1, into: &$2) }, state: \.state)
            #expect(poleReplay.steps > 8_000 && poleReplay.differing == 0, "\(arguments): \(poleReplay)")
        }
    }
}

extension PythonExamplesTests {
    struct RecordedHand: Decodable {
        struct Step: Decodable {
            var action: Int
            var observation: [Int]
            var reward: Double
            var terminated: Bool
            var truncated: Bool
        }
        var cards: [Int]
        var start: [Int]
        var steps: [Step]
    }

    @Test("Blackjack-v1 (Sutton and Barto's rules, as gym.make registers it, and sab=False with and without natural) plays Gymnasium 1.4's recorded hands card for card: every observation, reward and flag")
    func blackjackHands() throws {
        let script = repositoryRoot.appendingPathComponent("Tests/Fixtures/gymnasium_blackjack.py").path
        // gym.make("Blackjack-v1") plays Sutton and Barto's rules (its registered kwargs: sab=True, natural=False).
        for (arguments, natural, sab) in [([String](), false, true), ([#"{"sab": false}"#], false, false), ([#"{"sab": false, "natural": true}"#], true, false)] {
            let result = try CLI.run([script, "4000", "7"] + arguments, timeout: .seconds(120), program: try PythonExamples.python())
            #expect(result.status == 0, "\(result.stderr.suffix(2000))")
            let hands = try JSONDecoder().decode([RecordedHand].self, from: Data(result.stdout.utf8))
            var differing = 0
            var first: String?
            var rewards = Set<Double>()
            for (number, hand) in hands.enumerated() {
                var game = Blackjack(natural: natural, sab: sab, cards: hand.cards)
                let state = game.reset(seed: nil)
                var same = state == Blackjack.state(sum: hand.start[0], dealerCard: hand.start[1], usableAce: hand.start[2] == 1)
                for step in hand.steps {
                    let ours = try game.step(step.action)
                    let expected = Blackjack.state(sum: step.observation[0], dealerCard: step.observation[1], usableAce: step.observation[2] == 1)
                    same = same && ours.observation == expected && ours.reward == step.reward
                        && ours.terminated == step.terminated && ours.truncated == step.truncated
                    rewards.insert(step.reward)
                }
                if !same {
                    differing += 1
                    if first == nil { first = "hand \(number): \(hand)" }
                }
            }
            #expect(differing == 0, "\(arguments): \(differing) hands differ; first \(first ?? "")")
            // The hands reach every outcome: bust, loss, draw, win (and with natural, a natural's 1.5).
            #expect(rewards.isSuperset(of: [-1, 0, 1]) && (natural ? rewards.contains(1.5) : !rewards.contains(1.5)), "\(rewards)")
        }
    }
}

extension PythonExamplesTests {
    struct FickleRecord: Decodable {
        var policy: [Int]
        var episodes: [[[Double]]]
    }

    /// Whether an episode of (state, action, next state) steps is possible in fickle Taxi: each next state is an
    /// outcome of the dry table, or one with the destination changed, once, on a step that moved the taxi with
    /// the passenger aboard. Returns nil when impossible, else whether the destination changed.
    static func fickleChange(_ episode: [(Int, Int, Int)], _ table: TransitionTable) -> Bool? {
        var changed = false
        for (state, action, next) in episode {
            let outcomes = table.outcomes(state: state, action: action).map(\.nextState)
            if outcomes.contains(next) { continue }
            let before = Environments.taxiDecode(state)
            let after = Environments.taxiDecode(next)
            let moved = (after.row, after.column) != (before.row, before.column)
            let redirected = outcomes.contains { candidate in
                let plain = Environments.taxiDecode(candidate)
                return (plain.row, plain.column, plain.passenger) == (after.row, after.column, after.passenger)
                    && after.destination != before.destination
            }
            guard !changed, before.passenger == 4, moved, redirected else { return nil }
            changed = true
        }
        return changed
    }

    @Test("Taxi-v4's fickle_passenger: every step of Gymnasium's recorded episodes is one our FickleTaxi can take, and the passenger changes their mind as often in ours (≈30% of the episodes)")
    func ficklePassenger() throws {
        let script = repositoryRoot.appendingPathComponent("Tests/Fixtures/gymnasium_fickle_taxi.py").path
        let result = try CLI.run([script, "3000", "5"], timeout: .seconds(120), program: try PythonExamples.python())
        #expect(result.status == 0, "\(result.stderr.suffix(2000))")
        let record = try JSONDecoder().decode(FickleRecord.self, from: Data(result.stdout.utf8))
        let table = Environments.taxi().dynamics
        var theirs = 0
        for (number, episode) in record.episodes.enumerated() {
            let steps = episode.map { (Int($0[0]), Int($0[1]), Int($0[2])) }
            guard let changed = Self.fickleChange(steps, table) else {
                Issue.record("Gymnasium's episode \(number) has a step FickleTaxi cannot take: \(episode)")
                continue
            }
            if changed { theirs += 1 }
        }
        // The same policy and ε in ours.
        var taxi = FickleTaxi(seed: 5)
        var coin = SeededRandom(seed: 6)
        var ours = 0
        for episode in 0..<3_000 {
            var state = taxi.reset(seed: episode == 0 ? 5 : nil)
            var steps: [(Int, Int, Int)] = []
            while true {
                let action = coin.nextUnitDouble() < 0.1 ? Int(coin.next() % 6) : record.policy[state]
                let step = try taxi.step(action)
                steps.append((state, action, step.observation))
                state = step.observation
                if step.terminated || step.truncated { break }
            }
            let changed = try #require(Self.fickleChange(steps, table) as Bool?, "our episode \(episode) took an impossible step")
            if changed { ours += 1 }
        }
        let theirRate = Double(theirs) / 3_000
        let ourRate = Double(ours) / 3_000
        // Each rate's standard error is about 0.0084; 0.04 is more than three of the difference's.
        #expect(abs(theirRate - 0.3) < 0.04 && abs(ourRate - theirRate) < 0.04, "Gymnasium \(theirRate), ours \(ourRate)")
    }
}
