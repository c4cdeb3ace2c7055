import ArgumentParser
import Foundation
import OnlineLearning
import Simulation

/// The tile coder of a continuous environment's agent.
struct TileOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Tilings (grids, each offset from the others).")
    var tilings = 8

    @Option(parsing: .unconditional, help: "Tiles across each observation value in one tiling.")
    var tiles = 8

    /// The coder over `environment`'s observation box.
    func coder(for environment: some ContinuousEnvironment) throws -> TileCoder {
        do throws(LearningError) {
            return try TileCoder(
                low: environment.observationLow, high: environment.observationHigh, tilings: tilings, tiles: tiles)
        } catch {
            throw ValidationError(LearnCommand.optionMessage(error))
        }
    }
}

extension TrainingOptions {
    /// Trains a tile-coded agent in a continuous environment, one seed or several, as ``run(name:environment:defaults:)``
    /// does a tabular one.
    func run<Environment: ContinuousEnvironment>(
        name: String, environment: Environment, tiles: TileOptions, defaults: Defaults
    ) throws {
        if dumpDynamics { throw ValidationError("--dump-dynamics: \(name) has continuous states, so no transition table") }
        if epsilonSchedule == .inverseVisits || alphaSchedule == .inverseVisits {
            throw ValidationError("inverse-visits schedules count visits to states, which tile coding has not")
        }
        let coder = try tiles.coder(for: environment)
        let episodes = self.episodes ?? defaults.episodes
        try run(name: name, episodes: episodes) { seed, progress in
            var environment = environment
            var agent = try Self.agent { () throws(LearningError) in
                try TileCodedAgent(
                    algorithm: self.agent.algorithm, coder: coder, actions: environment.actionCount,
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
}

struct SimulateMountainCar: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mountaincar",
        abstract: "MountainCar-v0: rock an under-powered car up to the flag; −1 a step, 200 steps at most.",
        discussion: """
            A linear agent over tile-coded (position, velocity). Defaults: 500 episodes, 8 tilings of 8 × 8 tiles, \
            α 0.5 (each tile α/8), γ 1, ε 0 (the zero start is optimistic against rewards of −1, which explores). \
            "success" is reaching the flag.

            Examples:
              streamlearn simulate mountaincar --seed-count 10
              streamlearn simulate mountaincar --agent sarsa --tilings 16 --json
            """
    )

    @OptionGroup var tiles: TileOptions

    @OptionGroup var options: TrainingOptions

    func run() async throws {
        try options.run(
            name: "mountaincar", environment: MountainCar(seed: options.seed), tiles: tiles,
            defaults: .init(episodes: 500, alpha: 0.5, gamma: 1, epsilonEnd: 0, epsilonStart: 0))
    }
}

struct SimulateCartPole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cartpole",
        abstract: "CartPole-v1: keep the pole up by pushing the cart left or right; +1 a step, 500 steps at most.",
        discussion: """
            A linear agent over tile-coded (x, ẋ, θ, θ̇), velocities clipped to ±3 and ±3.5 for the tiles. Defaults: \
            1,000 episodes, 8 tilings of 8⁴ tiles, α 0.1, γ 0.99, ε 1 → 0 over the first half. "success" is lasting \
            the 500 steps.

            Examples:
              streamlearn simulate cartpole --seed-count 5
              streamlearn simulate cartpole --sutton-barto-reward --json
            """
    )

    @Flag(help: "Gymnasium's sutton_barto_reward: 0 a step and −1 when the pole falls.")
    var suttonBartoReward = false

    @OptionGroup var tiles: TileOptions

    @OptionGroup var options: TrainingOptions

    func run() async throws {
        try options.run(
            name: "cartpole", environment: CartPole(suttonBartoReward: suttonBartoReward, seed: options.seed), tiles: tiles,
            defaults: .init(episodes: 1_000, alpha: 0.1, gamma: 0.99, epsilonEnd: 0))
    }
}

struct SimulateBlackjack: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blackjack",
        abstract: "Blackjack-v1: stick (0) or hit (1) against a dealer who draws to 17; +1 a win, −1 a loss.",
        discussion: """
            States are Gymnasium's observation (sum, dealer's card, usable ace) as one number, sum · 22 + card · 2 + \
            ace (704). Defaults: 2,000,000 hands, α 0.005, γ 1, ε 1 → 0.01 over the first half; greedy evaluation \
            over 100,000 hands. "success" is a won hand.

            Examples:
              streamlearn simulate blackjack --seed-count 5
              streamlearn simulate blackjack --no-sab --natural --json
            """
    )

    @Flag(help: "Gymnasium's natural: +1.5 for a win with a natural (an ace and a ten as the first two cards); with --no-sab.")
    var natural = false

    @Flag(inversion: .prefixedNo, help: "Gymnasium's sab, as gym.make(\"Blackjack-v1\") sets it: Sutton and Barto's rules (a natural against no natural wins).")
    var sab = true

    func validate() throws {
        if natural && sab { throw ValidationError("--natural applies with --no-sab (Sutton and Barto's rules pay a natural +1)") }
    }

    @OptionGroup var options: TrainingOptions

    func run() async throws {
        try options.run(
            name: "blackjack", environment: Blackjack(natural: natural, sab: sab, seed: options.seed),
            defaults: .init(episodes: 2_000_000, alpha: 0.005, gamma: 1, epsilonEnd: 0.01))
    }
}
