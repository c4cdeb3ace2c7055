public import OnlineLearning

/// Trains and evaluates tabular agents in ``DiscreteEnvironment``s.
public enum Training: Sendable {
    /// One point of a learning curve: the mean return and success rate of the episodes since the previous point.
    public struct CurvePoint: Sendable, Hashable {
        public var episode: Int
        public var meanReturn: Double
        public var successRate: Double
    }

    /// Mean return and goal rate of the greedy policy.
    public struct Evaluation: Sendable, Hashable {
        public var episodes: Int
        public var meanReturn: Double
        public var successRate: Double
    }

    /// Runs `episodes` episodes of ε-greedy acting and learning (SARSA gets the next action it will take). The
    /// first reset uses `seed`; later ones continue the environment's generator. Returns the curve (a point every
    /// `curveEvery` episodes) and the steps taken. Throws ``SimulationError/sizeMismatch(_:)`` before any step when
    /// the agent's states or actions are not the environment's, and a ``LearningError`` as learning does.
    ///
    /// - Complexity: O(steps); no allocation per step.
    public static func train<Environment: DiscreteEnvironment>(
        _ agent: inout TabularAgent, in environment: inout Environment, episodes: Int, seed: UInt64,
        curveEvery: Int = 0, onEpisode: (() -> Void)? = nil
    ) throws -> (curve: [CurvePoint], steps: Int) {
        guard agent.stateCount == environment.stateCount && agent.actionCount == environment.actionCount else {
            throw SimulationError.sizeMismatch(
                "the agent has \(agent.stateCount) states and \(agent.actionCount) actions, the environment "
                    + "\(environment.stateCount) and \(environment.actionCount)")
        }
        var recorder = CurveRecorder(every: curveEvery)
        var steps = 0
        for episode in 0..<episodes {
            onEpisode?()
            var state = environment.reset(seed: episode == 0 ? seed : nil)
            var action = agent.predict(state)
            var total = 0.0
            while true {
                let result = try environment.step(action)
                let nextAction = agent.predict(result.observation)
                try agent.learn(
                    Transition(
                        state: state, action: action, reward: result.reward, nextState: result.observation,
                        terminated: result.terminated, truncated: result.truncated, nextAction: nextAction))
                total += result.reward
                steps += 1
                if result.terminated || result.truncated {
                    recorder.record(episode, return: total, succeeded: environment.succeeded(result))
                    break
                }
                state = result.observation
                action = nextAction
            }
        }
        return (recorder.curve, steps)
    }

    /// Collects a learning curve: the mean return and success rate of each `every` episodes (none with 0).
    struct CurveRecorder {
        let every: Int
        private(set) var curve: [CurvePoint] = []
        private var returns = 0.0
        private var successes = 0
        private var count = 0

        init(every: Int) { self.every = every }

        /// Episode `episode` (from 0) ended with `total` and, or not, at the goal.
        mutating func record(_ episode: Int, return total: Double, succeeded: Bool) {
            returns += total
            successes += succeeded ? 1 : 0
            count += 1
            guard every > 0 && (episode + 1) % every == 0 else { return }
            curve.append(
                CurvePoint(
                    episode: episode + 1, meanReturn: returns / Double(count), successRate: Double(successes) / Double(count)))
            returns = 0
            successes = 0
            count = 0
        }
    }

    /// Runs the greedy policy (first best action) for `episodes` episodes from `seed`. Episodes end at the
    /// environment's time limit, or after `stepCap` steps where it has none (a greedy policy can loop forever).
    public static func evaluate<Environment: DiscreteEnvironment>(
        _ agent: TabularAgent, in environment: inout Environment, episodes: Int, seed: UInt64, stepCap: Int = 1_000
    ) throws(SimulationError) -> Evaluation {
        try evaluate(policy: agent.greedyAction, in: &environment, episodes: episodes, seed: seed, stepCap: stepCap)
    }

    /// Runs a fixed policy (an action per state, as a runtime's published greedy policy) the same way; an action
    /// outside the environment's is refused (``SimulationError/invalidAction(_:actions:)``).
    public static func evaluate<Environment: DiscreteEnvironment>(
        policy: (Int) -> Int, in environment: inout Environment, episodes: Int, seed: UInt64, stepCap: Int = 1_000
    ) throws(SimulationError) -> Evaluation {
        var returns = 0.0
        var successes = 0
        for episode in 0..<episodes {
            var state = environment.reset(seed: episode == 0 ? seed : nil)
            var total = 0.0
            for step in 1...max(stepCap, 1) {
                let result = try environment.step(policy(state))
                total += result.reward
                if result.terminated || result.truncated || (environment.maxEpisodeSteps == nil && step == stepCap) {
                    if environment.succeeded(result) { successes += 1 }
                    break
                }
                state = result.observation
            }
            returns += total
        }
        return Evaluation(
            episodes: episodes, meanReturn: returns / Double(max(episodes, 1)),
            successRate: Double(successes) / Double(max(episodes, 1)))
    }
}
