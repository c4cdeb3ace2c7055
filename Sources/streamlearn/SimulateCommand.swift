public import ArgumentParser
import Foundation
import OnlineLearning
import Simulation
import StreamCore

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Train agents in Gymnasium-faithful environments, or run bandit policies on a testbed.",
        discussion: """
            Examples:
              streamlearn simulate frozenlake --map 4x4 --episodes 20000 --seed 1
              streamlearn simulate taxi --agent sarsa --json
              streamlearn simulate cliffwalking --dump-dynamics
              streamlearn simulate bandit --arms 10 --policy thompson --pulls 100000 --seed-count 20
            """,
        subcommands: [
            SimulateFrozenLake.self, SimulateCliffWalking.self, SimulateTaxi.self, SimulateMDP.self, SimulateBlackjack.self, SimulateMountainCar.self,
            SimulateCartPole.self, SimulateBandit.self,
        ]
    )
}

/// Options every environment takes; `nil` means the environment's default.
struct TrainingOptions: ParsableArguments {
    @Option(help: "The agent: qlearning, sarsa or expected-sarsa.")
    var agent: AgentName = .qlearning

    @Option(parsing: .unconditional, help: "Training episodes (default per environment).")
    var episodes: Int?

    @Option(parsing: .unconditional, help: "Seed of the environment and the agent (the first, with --seed-count).")
    var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: "Train this many independent runs, seeds --seed, --seed + 1, …, and summarise their evaluations.")
    var seedCount: Int = 1

    @OptionGroup var display: ProgressOptions

    @Option(parsing: .unconditional, help: "Learning rate α (default per environment).")
    var alpha: Double?

    @Option(parsing: .unconditional, help: "Discount γ (default per environment).")
    var gamma: Double?

    @Option(parsing: .unconditional, help: "ε at the first episode (default: 1; 0 on MountainCar and CartPole).")
    var epsilonStart: Double?

    @Option(parsing: .unconditional, help: "ε after the decay.")
    var epsilonEnd: Double?

    @Option(parsing: .unconditional, help: "Episodes over which ε decays linearly (default: half the episodes; three quarters on FrozenLake 8x8).")
    var epsilonDecayEpisodes: Int?

    @Option(help: "How ε changes: linear (from --epsilon-start to --epsilon-end), exponential (× --epsilon-rate per episode, down to --epsilon-end), constant (--epsilon-start) or inverse-visits (1/(1+n) in a state acted in n times).")
    var epsilonSchedule: ScheduleName = .linear

    @Option(parsing: .unconditional, help: "ε's factor per episode with --epsilon-schedule exponential.")
    var epsilonRate: Double?

    @Option(help: "How α changes: constant (--alpha), linear (from --alpha to --alpha-end over --alpha-decay-episodes), exponential (× --alpha-rate per episode, down to --alpha-end) or inverse-visits (1/n at a pair's n-th update). (default: constant)")
    var alphaSchedule: ScheduleName = .constant

    @Option(parsing: .unconditional, help: "α at the end of a linear or exponential schedule.")
    var alphaEnd: Double?

    @Option(parsing: .unconditional, help: "Episodes over which α decays linearly (default: as ε's).")
    var alphaDecayEpisodes: Int?

    @Option(parsing: .unconditional, help: "α's factor per episode with --alpha-schedule exponential.")
    var alphaRate: Double?

    @Option(parsing: .unconditional, help: "Greedy evaluation episodes after training.")
    var evalEpisodes: Int = 1_000

    @Option(parsing: .unconditional, help: "Print a learning-curve point every N episodes (default: 10 points).")
    var curveEvery: Int?

    @Option(help: "Write each seed's learning curve (a point every --curve-every episodes) and greedy evaluation to this file: .csv (agent,seed,series,x,value) or .json.")
    var curves: String?

    @Option(help: "Save the trained agent (its Q-table, as a snapshot) to this file, for `streamlearn evaluate FILE ENV`; one seed only.")
    var savePolicy: String?

    @Flag(help: "Print the transition table as JSON (Gymnasium's P) instead of training.")
    var dumpDynamics = false

    @Flag(help: "Print one JSON summary object.")
    var json = false

    func validate() throws {
        if let episodes, episodes < 1 { throw ValidationError("--episodes must be at least 1, got \(episodes)") }
        guard seedCount >= 1 else { throw ValidationError("--seed-count must be at least 1, got \(seedCount)") }
        guard evalEpisodes >= 1 else { throw ValidationError("--eval-episodes must be at least 1, got \(evalEpisodes)") }
        if let curveEvery, curveEvery < 1 { throw ValidationError("--curve-every must be at least 1, got \(curveEvery)") }
        // Each schedule's options, and none it would not use.
        switch epsilonSchedule {
        case .linear:
            if epsilonRate != nil { throw ValidationError("--epsilon-rate applies to --epsilon-schedule exponential") }
        case .exponential:
            guard epsilonRate != nil else { throw ValidationError("--epsilon-schedule exponential needs --epsilon-rate") }
            if epsilonDecayEpisodes != nil { throw ValidationError("--epsilon-decay-episodes applies to --epsilon-schedule linear") }
        case .constant, .inverseVisits:
            if epsilonRate != nil || epsilonDecayEpisodes != nil || epsilonEnd != nil {
                throw ValidationError("--epsilon-end, --epsilon-decay-episodes and --epsilon-rate do not apply to --epsilon-schedule \(epsilonSchedule.rawValue)")
            }
            if epsilonSchedule == .inverseVisits && epsilonStart != nil {
                throw ValidationError("--epsilon-start does not apply to --epsilon-schedule inverse-visits")
            }
        }
        switch alphaSchedule {
        case .constant, .inverseVisits:
            if alphaEnd != nil || alphaDecayEpisodes != nil || alphaRate != nil {
                throw ValidationError("--alpha-end, --alpha-decay-episodes and --alpha-rate do not apply to --alpha-schedule \(alphaSchedule.rawValue)")
            }
            if alphaSchedule == .inverseVisits && alpha != nil {
                throw ValidationError("--alpha does not apply to --alpha-schedule inverse-visits (α is 1/n)")
            }
        case .linear:
            guard alphaEnd != nil else { throw ValidationError("--alpha-schedule linear needs --alpha-end") }
            if alphaRate != nil { throw ValidationError("--alpha-rate applies to --alpha-schedule exponential") }
        case .exponential:
            guard alphaEnd != nil, alphaRate != nil else { throw ValidationError("--alpha-schedule exponential needs --alpha-end and --alpha-rate") }
            if alphaDecayEpisodes != nil { throw ValidationError("--alpha-decay-episodes applies to --alpha-schedule linear") }
        }
        try CurvesOption.validate(curves)
        if savePolicy != nil && seedCount > 1 {
            throw ValidationError("--save-policy saves one agent: drop --seed-count, or run each seed with its own --seed")
        }
        if seedCount > 1 && curveEvery != nil && curves == nil {
            throw ValidationError("--curve-every with --seed-count prints no curve (only each seed's evaluation): write the curves with --curves FILE")
        }
    }

    /// Defaults that reach Gymnasium's solved levels for each environment.
    struct Defaults {
        var episodes: Int
        var alpha: Double
        var gamma: Double
        var epsilonEnd: Double
        /// The share of the episodes over which ε decays (`--epsilon-decay-episodes` overrides it).
        var decayShare = 0.5
        /// ε at the first episode (`--epsilon-start` overrides it).
        var epsilonStart = 1.0
    }

    func run<Environment: DiscreteEnvironment>(
        name: String, environment: Environment, defaults: Defaults
    ) throws {
        if dumpDynamics {
            guard let table = environment as? TabularEnvironment else {
                throw ValidationError("--dump-dynamics: \(name)'s dynamics depend on more than the state, so they are no transition table")
            }
            var object = table.dynamics.jsonObject()
            // null for none (CliffWalking), so that `simulate mdp` loads back the same episodes.
            object["max_episode_steps"] = environment.maxEpisodeSteps ?? NSNull()
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Output.line(String(decoding: data, as: UTF8.self))
            return
        }
        let episodes = self.episodes ?? defaults.episodes
        try run(name: name, episodes: episodes) { seed, progress in
            var environment = environment
            var agent = try Self.agent { () throws(LearningError) in
                try TabularAgent(
                    algorithm: self.agent.algorithm, states: environment.stateCount, actions: environment.actionCount,
                    learningRate: alpha ?? defaults.alpha, discount: gamma ?? defaults.gamma,
                    exploration: exploration(defaults: defaults, episodes: episodes),
                    stepSizes: stepSizes(defaults: defaults, episodes: episodes), seed: seed)
            }
            return try timed(
                train: {
                    try Training.train(
                        &agent, in: &environment, episodes: episodes, seed: seed, curveEvery: curveEvery(episodes),
                        onEpisode: { progress.advance() })
                },
                evaluate: { try Training.evaluate(agent, in: &environment, episodes: evalEpisodes, seed: seed &+ 1_000_003) },
                snapshot: { try Snapshot.encode(agent) })
        }
    }

    /// An agent from the options, or the option at fault.
    static func agent<Agent>(_ make: () throws(LearningError) -> Agent) throws -> Agent {
        do throws(LearningError) {
            return try make()
        } catch {
            throw ValidationError(LearnCommand.optionMessage(error).replacingOccurrences(of: "_", with: "-"))
        }
    }

    /// Points on the learning curve: `--curve-every`, or 10.
    func curveEvery(_ episodes: Int) -> Int { curveEvery ?? max(episodes / 10, 1) }

    /// One seed's run: `train` timed, then `evaluate`, and the agent's snapshot when asked for.
    func timed(
        train: () throws -> (curve: [Training.CurvePoint], steps: Int), evaluate: () throws -> Training.Evaluation,
        snapshot: @escaping () throws -> Data
    ) throws -> TrainedRun {
        let start = ContinuousClock.now
        let (curve, steps) = try train()
        let seconds = max((ContinuousClock.now - start).seconds, 1e-9)
        return TrainedRun(curve: curve, steps: steps, seconds: seconds, evaluation: try evaluate(), snapshot: snapshot)
    }

    /// One seed's training: its curve, steps and time, greedy evaluation, and the agent as a snapshot.
    struct TrainedRun {
        var curve: [Training.CurvePoint]
        var steps: Int
        var seconds: Double
        var evaluation: Training.Evaluation
        var snapshot: () throws -> Data
    }

    /// Trains one seed (`--seed`) or `--seed-count` of them with `train`, and prints, exports and saves the results.
    func run(name: String, episodes: Int, train: (UInt64, Progress) throws -> TrainedRun) throws {
        if seedCount > 1 {
            try runSeeds(name: name, episodes: episodes, train: train)
            return
        }
        let progress = display.progress("simulate", total: episodes, unit: "episodes")
        let trained = try train(seed, progress)
        let (curve, steps, seconds, evaluation) = (trained.curve, trained.steps, trained.seconds, trained.evaluation)
        progress.finish()
        if let savePolicy {
            do {
                try SnapshotStore.writeFile(try trained.snapshot(), to: savePolicy, reason: .shutdown, at: Date())
            } catch {
                Output.error("error: \(error)")
                throw ExitCode(73)  // EX_CANTCREAT
            }
        }
        try CurvesOption.write(
            curves, CurveExport(source: "simulate \(name)", runs: [exportRun(seed: seed, curve: curve, evaluation: evaluation, episodes: episodes)]))
        if json {
            let object: [String: Any] = [
                "env": name, "agent": self.agent.rawValue, "episodes": episodes, "steps": steps,
                "steps_per_second": (Double(steps) / seconds).rounded(), "eval_episodes": evaluation.episodes,
                "eval_mean_return": evaluation.meanReturn, "eval_success_rate": evaluation.successRate,
                "curve": curve.map { ["episode": $0.episode, "mean_return": $0.meanReturn, "success_rate": $0.successRate] },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Output.line(String(decoding: data, as: UTF8.self))
        } else {
            Output.line("\(name), \(self.agent.rawValue): \(episodes) episodes, \(steps) steps, \(Int(Double(steps) / seconds)) steps/s")
            Output.line("episode    mean return    success rate   (training, ε-greedy)")
            for point in curve {
                Output.line(
                    String(
                        format: "%7d    %11.3f    %12.3f", point.episode, point.meanReturn, point.successRate))
            }
            Output.line(
                String(
                    format: "greedy evaluation over %d episodes: mean return %.3f, success rate %.3f",
                    evaluation.episodes, evaluation.meanReturn, evaluation.successRate))
        }
    }

    /// Independent runs over `seedCount` seeds: each one's greedy evaluation, then their mean, standard deviation
    /// and range.
    private func runSeeds(name: String, episodes: Int, train: (UInt64, Progress) throws -> TrainedRun) throws {
        var runs: [(seed: UInt64, meanReturn: Double, successRate: Double)] = []
        var exported: [CurveExport.Run] = []
        let progress = display.progress("simulate", total: episodes * seedCount, unit: "episodes")
        for seed in seed..<(seed + UInt64(seedCount)) {
            let trained = try train(seed, progress)
            let (curve, evaluation) = (trained.curve, trained.evaluation)
            runs.append((seed, evaluation.meanReturn, evaluation.successRate))
            exported.append(exportRun(seed: seed, curve: curve, evaluation: evaluation, episodes: episodes))
        }
        progress.finish()
        try CurvesOption.write(curves, CurveExport(source: "simulate \(name)", runs: exported))
        let returns = SeedSummary(runs.map(\.meanReturn))
        let success = SeedSummary(runs.map(\.successRate))
        if json {
            func object(_ s: SeedSummary) -> [String: Any] {
                [
                    "mean": s.mean, "std": s.standardDeviation, "min": s.min, "max": s.max,
                    "ci95": s.confidenceInterval95.map { [$0.lowerBound, $0.upperBound] } ?? NSNull(),
                ]
            }
            let document: [String: Any] = [
                "env": name, "agent": agent.rawValue, "episodes": episodes, "seed": seed, "seed_count": seedCount,
                "eval_episodes": evalEpisodes, "eval_mean_return": object(returns), "eval_success_rate": object(success),
                "runs": runs.map { ["seed": $0.seed, "eval_mean_return": $0.meanReturn, "eval_success_rate": $0.successRate] },
            ]
            let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
            Output.line(String(decoding: data, as: UTF8.self))
            return
        }
        Output.line("\(name), \(agent.rawValue): \(episodes) episodes per run, \(seedCount) seeds from \(seed)")
        Output.line("seed    greedy mean return    success rate   (over \(evalEpisodes) episodes)")
        for run in runs { Output.line(String(format: "%4d    %18.3f    %12.3f", run.seed, run.meanReturn, run.successRate)) }
        func interval(_ summary: SeedSummary) -> String {
            guard let interval = summary.confidenceInterval95 else { return "" }
            return String(format: ", 95%% CI %.3f to %.3f", interval.lowerBound, interval.upperBound)
        }
        Output.line(String(
            format: "mean return %.3f (sd %.3f%@, range %.3f to %.3f); success rate %.3f (sd %.3f%@)",
            returns.mean, returns.standardDeviation, interval(returns), returns.min, returns.max, success.mean,
            success.standardDeviation, interval(success)))
        if seedCount > 1 { Output.line("(95% confidence intervals of the mean over seeds: Student's t)") }
    }

    /// ε's schedule from the options.
    func exploration(defaults: Defaults, episodes: Int) -> ExplorationSchedule {
        let decay = epsilonDecayEpisodes ?? Int(Double(episodes) * defaults.decayShare)
        let start = epsilonStart ?? defaults.epsilonStart
        switch epsilonSchedule {
        case .linear: return .linear(start: start, end: epsilonEnd ?? defaults.epsilonEnd, episodes: decay)
        case .exponential: return .exponential(start: start, end: epsilonEnd ?? defaults.epsilonEnd, rate: epsilonRate ?? 1)
        case .constant: return .constant(start)
        case .inverseVisits: return .inverseVisits
        }
    }

    /// α's schedule from the options (`nil`: constant).
    func stepSizes(defaults: Defaults, episodes: Int) -> StepSizeSchedule? {
        let start = alpha ?? defaults.alpha
        switch alphaSchedule {
        case .constant: return nil
        case .linear:
            return .linear(
                start: start, end: alphaEnd ?? start,
                episodes: alphaDecayEpisodes ?? epsilonDecayEpisodes ?? Int(Double(episodes) * defaults.decayShare))
        case .exponential: return .exponential(start: start, end: alphaEnd ?? start, rate: alphaRate ?? 1)
        case .inverseVisits: return .inverseVisits
        }
    }

    /// One seed's curve and greedy evaluation, for `--curves`.
    private func exportRun(
        seed: UInt64, curve: [Training.CurvePoint], evaluation: Training.Evaluation, episodes: Int
    ) -> CurveExport.Run {
        CurveExport.Run(agent: agent.rawValue, seed: seed, series: [
            .init("training_mean_return", curve.map { (Double($0.episode), $0.meanReturn) }),
            .init("training_success_rate", curve.map { (Double($0.episode), $0.successRate) }),
            .init("greedy_mean_return", [(Double(episodes), evaluation.meanReturn)]),
            .init("greedy_success_rate", [(Double(episodes), evaluation.successRate)]),
        ])
    }

}

/// `--epsilon-schedule` and `--alpha-schedule` values.
enum ScheduleName: String, ExpressibleByArgument, CaseIterable {
    case constant, linear, exponential, inverseVisits = "inverse-visits"
}

/// `--agent` values.
enum AgentName: String, ExpressibleByArgument, CaseIterable {
    case qlearning, sarsa, expectedSarsa = "expected-sarsa"

    var algorithm: TabularAgent.Algorithm { TabularAgent.Algorithm(rawValue: rawValue)! }
}

struct SimulateFrozenLake: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frozenlake",
        abstract: "FrozenLake-v1 (4x4, 8x8 or a custom map), slippery by default.",
        discussion: """
            Defaults: 4x4 — 20,000 episodes, α 0.05, γ 0.99, ε 1 → 0.01 over the first half (greedy success 0.70 \
            or more for each agent and every seed 1–10, tested); 8x8 (and larger maps) — 200,000 episodes, α 0.05, \
            ε 1 → 0.01 over the first three quarters (greedy success 0.78 or more for each agent and every seed \
            1–10; the optimum is about 0.91).

            Examples:
              streamlearn simulate frozenlake --json
              streamlearn simulate frozenlake --map 8x8 --no-slippery
              streamlearn simulate frozenlake --map SFFF,FHFH,FFFH,HFFG --dump-dynamics
            """
    )

    @Option(help: "4x4, 8x8, or rows separated by commas (S start, F frozen, H hole, G goal).")
    var map: String = "4x4"

    @Flag(inversion: .prefixedNo, help: "Slippery ice: the intended direction or either perpendicular one, 1/3 each.")
    var slippery = true

    @OptionGroup var options: TrainingOptions

    func run() async throws {
        let rows = Environments.frozenLakeMap(map)
        let environment: TabularEnvironment
        do {
            environment = try Environments.frozenLake(map: rows, slippery: slippery, seed: options.seed)
        } catch {
            throw ValidationError("--map: \(error)")
        }
        let big = rows.count * (rows.first?.count ?? 0) > 16
        try options.run(
            name: "frozenlake", environment: environment,
            defaults: .init(
                episodes: big ? 200_000 : 20_000, alpha: 0.05, gamma: 0.99, epsilonEnd: 0.01, decayShare: big ? 0.75 : 0.5))
    }
}

struct SimulateMDP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mdp",
        abstract: "Your own tabular MDP, from a file in Gymnasium's P-table shape (what --dump-dynamics writes).",
        discussion: """
            The file: {"P": {"s": {"a": [[p, next_state, reward, terminated], …]}}, "n_states", "n_actions"}, with \
            optional "initial_states" ({"s": p}; default state 0), "goal_states" (default: the states a terminating \
            outcome with a positive reward enters) and "max_episode_steps" (null: none; absent: 1,000). In Python: \
            json.dump({"P": env.unwrapped.P, "n_states": n, "n_actions": m}, f). Defaults: 10,000 episodes, α 0.1, \
            γ 0.99, ε 1 → 0.01 over the first half.

            Examples:
              streamlearn simulate taxi --dump-dynamics > taxi.json
              streamlearn simulate mdp taxi.json --agent sarsa --seed-count 5
            """
    )

    @Argument(help: "The dynamics file (JSON).")
    var file: String

    @Option(parsing: .unconditional, help: "The time limit of an episode (default: the file's max_episode_steps, else 1,000).")
    var maxEpisodeSteps: Int?

    @OptionGroup var options: TrainingOptions

    func validate() throws {
        if let maxEpisodeSteps, maxEpisodeSteps < 1 {
            throw ValidationError("--max-episode-steps must be at least 1, got \(maxEpisodeSteps)")
        }
    }

    func run() async throws {
        let environment = try Self.load(file, maxEpisodeSteps: maxEpisodeSteps, seed: options.seed)
        try options.run(
            name: "mdp", environment: environment, defaults: .init(episodes: 10_000, alpha: 0.1, gamma: 0.99, epsilonEnd: 0.01))
    }

    /// The environment a dynamics file describes (exit 66 when unreadable, 65 when not a valid table).
    static func load(_ file: String, maxEpisodeSteps: Int?, seed: UInt64) throws -> TabularEnvironment {
        do {
            return try TabularEnvironment.load(dynamicsFile: file, maxEpisodeSteps: maxEpisodeSteps, seed: seed)
        } catch .unreadable {
            Output.error("error: \(file): cannot be read")
            throw ExitCode(66)
        } catch {
            Output.error("error: \(file): \(error)")
            throw ExitCode(65)
        }
    }
}

struct SimulateCliffWalking: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cliffwalking",
        abstract: "CliffWalking-v1: 4x12, −1 a step, −100 and back to the start for the cliff.",
        discussion: """
            Defaults: 2,000 episodes, α 0.5, γ 1, ε 1 → 0.01 (each agent reaches the goal every time for every seed \
            1–10, tested; with 500 or 1,000 episodes SARSA can still loop for a seed). Evaluation caps a greedy episode at 1,000 steps.

            Example:
              streamlearn simulate cliffwalking --agent sarsa --json
            """
    )

    @Flag(help: "Gymnasium's is_slippery: the intended move or either perpendicular one, 1/3 each.")
    var slippery = false

    @OptionGroup var options: TrainingOptions

    func run() async throws {
        try options.run(
            name: "cliffwalking", environment: Environments.cliffWalking(slippery: slippery, seed: options.seed),
            defaults: .init(episodes: 2_000, alpha: 0.5, gamma: 1, epsilonEnd: 0.01))
    }
}

struct SimulateTaxi: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "taxi",
        abstract: "Taxi-v3: 500 states, 6 actions, +20 for a correct drop-off, −10 for an illegal one.",
        discussion: """
            Defaults: 10,000 episodes, α 0.2, γ 0.99, ε 1 → 0.01 (each agent reaches a greedy policy that delivers \
            every passenger for every seed 1–10, tested).

            Example:
              streamlearn simulate taxi --eval-episodes 100 --json
            """
    )

    @Flag(help: "Gymnasium's is_rainy (Taxi-v4): a move goes the intended way with probability 0.8, to either side with 0.1.")
    var rainy = false

    @Flag(help: "Gymnasium's fickle_passenger (Taxi-v4): in 30% of the episodes the passenger picks another destination once the taxi first moves with them aboard.")
    var ficklePassenger = false

    @OptionGroup var options: TrainingOptions

    func run() async throws {
        let defaults = TrainingOptions.Defaults(episodes: 10_000, alpha: 0.2, gamma: 0.99, epsilonEnd: 0.01)
        if ficklePassenger {
            try options.run(name: "taxi", environment: FickleTaxi(rainy: rainy, seed: options.seed), defaults: defaults)
        } else {
            try options.run(name: "taxi", environment: Environments.taxi(rainy: rainy, seed: options.seed), defaults: defaults)
        }
    }
}

struct SimulateBandit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bandit",
        abstract: "A bandit policy on a k-armed testbed: mean pseudo-regret over seeds, and pulls/s.",
        discussion: """
            Each seed draws new arm means (Bernoulli: uniform in [0, 1); Gaussian: N(0, 1) means, unit noise). \
            linucb runs on a linear contextual bandit (8 context features). Regret is pseudo-regret: the best \
            arm's mean minus the chosen arm's, summed over pulls.

            Examples:
              streamlearn simulate bandit --arms 10 --policy thompson --pulls 100000 --seed-count 20
              streamlearn simulate bandit --arms 5 --policy linucb --pulls 10000 --json
            """
    )

    enum Testbed: String, ExpressibleByArgument, CaseIterable {
        case bernoulli, gaussian
    }

    @Option(parsing: .unconditional, help: "Number of arms. (default: 10, or as many as --arm-means gives)")
    var arms: Int?

    @Option(help: "The arms' means, comma-separated (the same for every seed; Bernoulli means in [0, 1]); drawn per seed when absent.")
    var armMeans: String?

    @Option(help: "Write each seed's regret curve (a point every --curve-every pulls) and the arm means it played to this file: .csv (agent,seed,series,x,value) or .json.")
    var curves: String?

    @Option(parsing: .unconditional, help: "Pulls between the points of --curves. (default: 1% of the pulls)")
    var curveEvery: Int?

    @Option(help: "epsilon-greedy, ucb1, thompson, exp3 or linucb.")
    var policy: BanditSettings.Policy = .thompson

    @Option(parsing: .unconditional, help: "Pulls per seed.")
    var pulls: Int = 10_000

    @Option(parsing: .unconditional, help: "The first seed: runs use --seed, --seed + 1, ….")
    var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: "How many seeds (independent runs) to average over.")
    var seedCount: Int = 10

    @OptionGroup var display: ProgressOptions

    @Option(help: "Reward distribution of the arms: bernoulli (default) or gaussian; not for linucb.")
    var bandit: Testbed?

    @Option(parsing: .unconditional, help: "ε of epsilon-greedy, in [0, 1]. (default: 0.1)")
    var epsilon: Double?

    @Option(name: .customLong("shift-at"), help: "Re-draw the Bernoulli arm means at this pull (repeatable, at most --pulls): a non-stationary bandit.")
    var shifts: [Int] = []

    @Option(parsing: .unconditional, help: "Discount of epsilon-greedy, UCB1 and Thompson statistics, in (0, 1] (1: none; below 1 forgets, for --shift-at). (default: 1)")
    var discount: Double?

    @Flag(help: "Print one JSON object.")
    var json = false

    var testbed: Testbed { bandit ?? .bernoulli }

    /// `--arm-means` as numbers.
    var means: [Double]? {
        armMeans.map { $0.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }
    }

    var armCount: Int { arms ?? means?.count ?? 10 }

    func validate() throws {
        if let armMeans, let means {
            guard means.count == armMeans.split(separator: ",", omittingEmptySubsequences: false).count,
                means.allSatisfy(\.isFinite)
            else {
                throw ValidationError("--arm-means must be numbers separated by commas, got '\(armMeans)'")
            }
            if let arms, arms != means.count {
                throw ValidationError("--arm-means gives \(means.count) means, --arms is \(arms)")
            }
            if testbed == .bernoulli, let bad = means.first(where: { $0 < 0 || $0 > 1 }) {
                throw ValidationError("--arm-means: a Bernoulli mean is in [0, 1], got \(bad)")
            }
            if policy == .linucb { throw ValidationError("--arm-means does not apply to linucb: its rewards depend on each context") }
            if !shifts.isEmpty { throw ValidationError("--arm-means and --shift-at: a shift re-draws the means, give one or the other") }
        }
        let arms = armCount
        guard arms >= 2 else { throw ValidationError("--arms must be at least 2, got \(arms)") }
        guard pulls >= 1 else { throw ValidationError("--pulls must be at least 1, got \(pulls)") }
        guard seedCount >= 1 else { throw ValidationError("--seed-count must be at least 1, got \(seedCount)") }
        // An option the policy or testbed would not use is refused, not ignored.
        if let epsilon {
            guard policy == .epsilonGreedy else {
                throw ValidationError("--epsilon applies to --policy epsilon-greedy, not \(policy.rawValue)")
            }
            guard epsilon >= 0, epsilon <= 1 else { throw ValidationError("--epsilon must be in [0, 1], got \(epsilon)") }
        }
        if let discount {
            guard [.epsilonGreedy, .ucb1, .thompson].contains(policy) else {
                throw ValidationError("--discount applies to epsilon-greedy, ucb1 and thompson, not \(policy.rawValue)")
            }
            guard discount > 0, discount <= 1 else { throw ValidationError("--discount must be in (0, 1], got \(discount)") }
        }
        if policy == .linucb {
            // linucb plays its own linear contextual testbed.
            if bandit != nil { throw ValidationError("--bandit does not apply to linucb: it runs on a linear contextual bandit") }
            if !shifts.isEmpty { throw ValidationError("--shift-at does not apply to linucb: it runs on a linear contextual bandit") }
        }
        guard Set(shifts).count == shifts.count, shifts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--shift-at values must be distinct pulls of at least 1, got \(shifts)")
        }
        if let late = shifts.first(where: { $0 > pulls }) {
            throw ValidationError("--shift-at \(late) is past the last pull (--pulls \(pulls)): it would never happen")
        }
        if !shifts.isEmpty && testbed == .gaussian { throw ValidationError("--shift-at needs --bandit bernoulli") }
        if testbed == .gaussian && policy == .exp3 {
            throw ValidationError("--policy exp3 needs rewards in [0, 1]: use --bandit bernoulli")
        }
        try CurvesOption.validate(curves)
        if let curveEvery {
            guard curves != nil else { throw ValidationError("--curve-every sets the points of --curves FILE, which is missing") }
            guard curveEvery >= 1, curveEvery <= pulls else {
                throw ValidationError("--curve-every must be between 1 and --pulls (\(pulls)), got \(curveEvery)")
            }
        }
    }

    var experiment: BanditExperiment {
        var experiment = BanditExperiment(policy: policy, arms: armCount, pulls: pulls)
        experiment.armMeans = means
        experiment.testbed = BanditExperiment.Testbed(rawValue: testbed.rawValue)!
        experiment.epsilon = epsilon ?? 0.1
        experiment.discount = discount ?? 1
        experiment.shifts = shifts
        return experiment
    }

    func run() async throws {
        let experiment = experiment
        let checkpoints = experiment.defaultCheckpoints
        let every = curveEvery ?? max(pulls / 100, 1)
        // The printed checkpoints and, with --curves, a point every `every` pulls.
        let marks = curves == nil ? checkpoints : Array(Set(checkpoints + Array(stride(from: every, through: pulls, by: every)))).sorted()
        let start = ContinuousClock.now
        let progress = display.progress("simulate", total: pulls * seedCount, unit: "pulls")
        var perSeed: [[Double]] = []
        for seed in seed..<(seed + UInt64(seedCount)) {
            perSeed.append(try experiment.regret(seed: seed, checkpoints: marks))
            progress.advance(pulls)
        }
        progress.finish()
        let rate = Double(pulls * seedCount) / max((ContinuousClock.now - start).seconds, 1e-9)
        let seeds = Array(seed..<(seed + UInt64(seedCount)))
        let at = checkpoints.map { marks.firstIndex(of: $0)! }
        let summaries = at.map { index in SeedSummary(perSeed.map { $0[index] }) }
        let regimes = seeds.map { experiment.armMeans(seed: $0) }
        if curves != nil {
            try CurvesOption.write(curves, CurveExport(source: "simulate bandit", runs: seeds.indices.map { index in
                var series = [CurveExport.Series("regret", zip(marks, perSeed[index]).map { (Double($0), $1) })]
                let played = regimes[index] ?? []
                for arm in (played.first?.means ?? []).indices {
                    series.append(.init("arm_mean[\(arm)]", played.map { (Double($0.from), $0.means[arm]) }))
                }
                return CurveExport.Run(agent: policy.rawValue, seed: seeds[index], series: series)
            }))
        }
        if json {
            var regret: [String: Double] = [:]
            var intervals: [String: Any] = [:]
            for (index, checkpoint) in checkpoints.enumerated() {
                regret[String(checkpoint)] = summaries[index].mean
                intervals[String(checkpoint)] = summaries[index].confidenceInterval95.map { [$0.lowerBound, $0.upperBound] } ?? NSNull()
            }
            let runs = seeds.indices.map { index -> [String: Any] in
                var run: [String: Any] = [
                    "seed": Int(seeds[index]),
                    "regret": Dictionary(uniqueKeysWithValues: checkpoints.indices.map { (String(checkpoints[$0]), perSeed[index][at[$0]]) }),
                ]
                if let played = regimes[index] {
                    run["arm_means"] = played.map { ["from_pull": $0.from, "means": $0.means] as [String: Any] }
                }
                return run
            }
            let object: [String: Any] = [
                "policy": policy.rawValue, "pulls": pulls, "seed": seed, "seed_count": seedCount, "arms": armCount,
                "bandit": policy == .linucb ? "linear-contextual" : testbed.rawValue, "regret": regret,
                "regret_ci95": intervals, "pulls_per_second": rate.rounded(), "runs": runs,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Output.line(String(decoding: data, as: UTF8.self))
        } else {
            Output.line("\(policy.rawValue) on a \(armCount)-armed \(policy == .linucb ? "linear contextual" : testbed.rawValue) bandit, \(seedCount) seeds from \(seed)")
            for (index, checkpoint) in checkpoints.enumerated() {
                var line = String(format: "regret after %7d pulls   %10.2f", checkpoint, summaries[index].mean)
                if let interval = summaries[index].confidenceInterval95 {
                    line += String(format: "   (95%% CI %.2f to %.2f)", interval.lowerBound, interval.upperBound)
                }
                Output.line(line)
            }
            Output.line("\(Int(rate)) pulls/s")
        }
    }
}

/// `--curves FILE`: checked at validation, written atomically at the end (exit 73 when it cannot be).
enum CurvesOption {
    static func validate(_ path: String?) throws {
        guard let path else { return }
        guard CurveExport.Format(path: path) != nil else {
            throw ValidationError("--curves must name a .csv or .json file, got '\(path)'")
        }
    }

    static func write(_ path: String?, _ export: CurveExport) throws {
        guard let path, let format = CurveExport.Format(path: path) else { return }
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try DurableFile.write(export.encoded(format), to: path, directory: directory.isEmpty ? "." : directory)
        } catch {
            Output.error("error: \(error)")
            throw ExitCode(73)  // EX_CANTCREAT
        }
    }
}

extension BanditSettings.Policy: ExpressibleByArgument {}
extension EventFormat: ExpressibleByArgument {}
