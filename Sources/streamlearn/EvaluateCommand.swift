import ArgumentParser
import Foundation
import OnlineLearning
import Simulation
import StreamJobs

/// `streamlearn evaluate POLICY ENV`: a kept policy, tabular or tile-coded, played greedily.
struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Play a kept policy greedily in an environment: its mean return and success rate.",
        discussion: """
            POLICY is a file `simulate --save-policy` wrote, a reinforcement job's snapshot (a file of its \
            snapshots.directory), or a policy a tabular job published ({"greedy_actions": […]}, as `streamlearn \
            consume` prints it; with several lines, the last). A tabular policy's states must be the environment's \
            and its actions within the environment's; a tile-coded one (mountaincar, cartpole) must have the \
            environment's observation size and actions (exit 65 otherwise, both named).

            Examples:
              streamlearn simulate frozenlake --seed 3 --save-policy lake.policy
              streamlearn evaluate lake.policy frozenlake --episodes 10000
              streamlearn evaluate .streamlearn/snapshots/lake/snapshot-00000004.json frozenlake --json
              streamlearn simulate mountaincar --save-policy car.policy && streamlearn evaluate car.policy mountaincar
            """
    )

    enum Environment: String, ExpressibleByArgument, CaseIterable {
        case frozenlake, taxi, cliffwalking, blackjack, mountaincar, cartpole
    }

    @Argument(help: "The policy file.")
    var policy: String

    @Argument(help: "frozenlake, taxi, cliffwalking, blackjack, mountaincar or cartpole.")
    var environment: Environment

    @Option(help: "FrozenLake's map: 4x4, 8x8, or rows separated by commas. (default: 4x4)")
    var map: String?

    @Flag(inversion: .prefixedNo, help: "Slippery ice: FrozenLake's (default: --slippery) or CliffWalking's is_slippery (default: --no-slippery).")
    var slippery: Bool?

    @Flag(help: "Taxi's is_rainy (Taxi-v4).")
    var rainy = false

    @Flag(help: "Taxi's fickle_passenger (Taxi-v4).")
    var ficklePassenger = false

    @Flag(inversion: .prefixedNo, help: "Blackjack's sab (default: --sab, as gym.make sets it).")
    var sab: Bool?

    @Flag(help: "Blackjack's natural (with --no-sab).")
    var natural = false

    @Option(parsing: .unconditional, help: "Greedy episodes to play.")
    var episodes: Int = 1_000

    @Option(parsing: .unconditional, help: "Seed of the environment.")
    var seed: UInt64 = 1

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard episodes >= 1 else { throw ValidationError("--episodes must be at least 1, got \(episodes)") }
        if environment != .frozenlake && map != nil { throw ValidationError("--map applies to frozenlake only") }
        if slippery != nil && ![.frozenlake, .cliffwalking].contains(environment) {
            throw ValidationError("--slippery applies to frozenlake and cliffwalking")
        }
        if environment != .taxi && (rainy || ficklePassenger) { throw ValidationError("--rainy and --fickle-passenger apply to taxi only") }
        if environment != .blackjack && (sab != nil || natural) { throw ValidationError("--sab and --natural apply to blackjack only") }
        if natural && sab != false { throw ValidationError("--natural applies with --no-sab") }
    }

    func run() async throws {
        let (kept, kind) = try Self.load(policy)
        let evaluation: Training.Evaluation
        let holds: String
        switch (environment, kept) {
        case (.mountaincar, .linear(let agent)), (.cartpole, .linear(let agent)):
            do {
                if environment == .mountaincar {
                    var car = MountainCar()
                    evaluation = try Training.evaluate(agent, in: &car, episodes: episodes, seed: seed)
                } else {
                    var pole = CartPole()
                    evaluation = try Training.evaluate(agent, in: &pole, episodes: episodes, seed: seed)
                }
            } catch {
                Output.error("error: \(self.policy): \(error)")
                throw ExitCode(65)
            }
            holds = "\(kind), \(agent.coder.tilings) tilings of \(agent.coder.tiles) tiles"
        case (.mountaincar, .table), (.cartpole, .table):
            Output.error("error: \(self.policy): a tabular policy, \(environment.rawValue) has continuous observations")
            throw ExitCode(65)
        case (_, .linear):
            Output.error("error: \(self.policy): a tile-coded policy, \(environment.rawValue) has discrete states")
            throw ExitCode(65)
        case (_, .table(let actions)):
            var game: any DiscreteEnvironment
            switch environment {
            case .frozenlake:
                do {
                    game = try Environments.frozenLake(map: Environments.frozenLakeMap(map ?? "4x4"), slippery: slippery ?? true)
                } catch {
                    throw ValidationError("--map: \(error)")
                }
            case .taxi: game = ficklePassenger ? FickleTaxi(rainy: rainy) : Environments.taxi(rainy: rainy)
            case .blackjack: game = Blackjack(natural: natural, sab: sab ?? true)
            default: game = Environments.cliffWalking(slippery: slippery ?? false)
            }
            guard actions.count == game.stateCount else {
                Output.error("error: \(policy): the policy has \(actions.count) states, \(environment.rawValue) has \(game.stateCount)")
                throw ExitCode(65)
            }
            if let state = actions.firstIndex(where: { $0 < 0 || $0 >= game.actionCount }) {
                Output.error("error: \(policy): state \(state)'s action is \(actions[state]), \(environment.rawValue) has \(game.actionCount) actions")
                throw ExitCode(65)
            }
            evaluation = try Training.evaluate(policy: { actions[$0] }, in: &game, episodes: episodes, seed: seed)
            holds = "\(kind), \(actions.count) states"
        }
        if json {
            let object: [String: Any] = [
                "policy": policy, "holds": kind, "env": environment.rawValue, "episodes": evaluation.episodes, "seed": seed,
                "mean_return": evaluation.meanReturn, "success_rate": evaluation.successRate,
            ]
            Output.line(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            Output.line("\(policy): \(holds)")
            Output.line(String(
                format: "greedy evaluation over %d episodes: mean return %.3f, success rate %.3f",
                evaluation.episodes, evaluation.meanReturn, evaluation.successRate))
        }
    }

    /// A kept policy: a greedy action per state, or a tile-coded agent.
    enum Policy {
        case table([Int])
        case linear(TileCodedAgent)
    }

    /// The policy a file holds, and what it was.
    static func load(_ path: String) throws -> (policy: Policy, kind: String) {
        guard let data = FileManager.default.contents(atPath: path) else {
            Output.error("error: \(path): cannot be read")
            throw ExitCode(66)
        }
        // A snapshot file (simulate --save-policy, or a job's snapshot directory).
        if let entry = try? SnapshotStore.read(path) {
            let payload = (try? JSONSerialization.jsonObject(with: entry.payload)) as? [String: Any] ?? [:]
            do {
                switch payload["kind"] as? String {
                case TabularAgent.snapshotKind:
                    let agent = try Snapshot.decode(TabularAgent.self, from: entry.payload)
                    return (.table((0..<agent.stateCount).map(agent.greedyAction)), "a \(agent.algorithm.rawValue) agent")
                case TileCodedAgent.snapshotKind:
                    let agent = try Snapshot.decode(TileCodedAgent.self, from: entry.payload)
                    return (.linear(agent), "a tile-coded \(agent.algorithm.rawValue) agent")
                case ReinforcementJobState.snapshotKind:
                    let state = try Snapshot.decode(ReinforcementJobState.self, from: entry.payload)
                    let after = "after \(state.updates) updates"
                    if let agent = state.agent {
                        return (.table((0..<agent.stateCount).map(agent.greedyAction)), "a reinforcement job's \(agent.algorithm.rawValue) agent \(after)")
                    }
                    let agent = state.linearAgent!
                    return (.linear(agent), "a reinforcement job's tile-coded \(agent.algorithm.rawValue) agent \(after)")
                case let other:
                    Output.error("error: \(path): a snapshot of a '\(other ?? "unknown")', not of an agent or a reinforcement job")
                    throw ExitCode(65)
                }
            } catch let error as LearningError {
                Output.error("error: \(path): \(error)")
                throw ExitCode(65)
            }
        }
        // A published policy: the last line holding greedy_actions.
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").reversed()
        for line in lines {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let actions = object["greedy_actions"] as? [Int]
            {
                return (.table(actions), "a published policy (model_version \(object["model_version"] as? Int ?? 0))")
            }
        }
        Output.error("error: \(path): not a policy (neither a snapshot of a tabular agent or a reinforcement job, nor a line with greedy_actions)")
        throw ExitCode(65)
    }
}
