public import OnlineLearning

extension Training {
    /// Runs `episodes` episodes of ε-greedy acting and learning in a continuous environment, as
    /// ``train(_:in:episodes:seed:curveEvery:onEpisode:)`` does in a tabular one. Throws
    /// ``SimulationError/sizeMismatch(_:)`` before any step when the agent's observation size or actions are not
    /// the environment's.
    ///
    /// - Complexity: O(steps); no allocation per step.
    public static func train<Environment: ContinuousEnvironment>(
        _ agent: inout TileCodedAgent, in environment: inout Environment, episodes: Int, seed: UInt64,
        curveEvery: Int = 0, onEpisode: (() -> Void)? = nil
    ) throws -> (curve: [CurvePoint], steps: Int) {
        try checkSizes(agent, environment)
        var recorder = CurveRecorder(every: curveEvery)
        var steps = 0
        var observation = [Double](repeating: 0, count: environment.observationSize)
        // Each observation is encoded once: its features serve this step's choice and the next step's update.
        var features = [Int32](repeating: 0, count: agent.coder.tilings)
        var nextFeatures = features
        let coder = agent.coder
        for episode in 0..<episodes {
            onEpisode?()
            environment.reset(seed: episode == 0 ? seed : nil, into: &observation)
            observation.withUnsafeBufferPointer { o in features.withUnsafeMutableBufferPointer { coder.encode(o, into: $0) } }
            var action = features.withUnsafeBufferPointer { agent.predict(features: $0) }
            var total = 0.0
            while true {
                let result = try environment.step(action, into: &observation)
                observation.withUnsafeBufferPointer { o in nextFeatures.withUnsafeMutableBufferPointer { coder.encode(o, into: $0) } }
                let nextAction = nextFeatures.withUnsafeBufferPointer { agent.predict(features: $0) }
                try features.withUnsafeBufferPointer { current throws(LearningError) in
                    try nextFeatures.withUnsafeBufferPointer { next throws(LearningError) in
                        try agent.learn(
                            features: current, action: action, reward: result.reward, nextFeatures: next,
                            terminated: result.terminated, truncated: result.truncated, nextAction: nextAction)
                    }
                }
                total += result.reward
                steps += 1
                if result.terminated || result.truncated {
                    recorder.record(episode, return: total, succeeded: environment.succeeded(result))
                    break
                }
                swap(&features, &nextFeatures)
                action = nextAction
            }
        }
        return (recorder.curve, steps)
    }

    /// Runs the greedy policy (first best action) for `episodes` episodes from `seed`; episodes end at the
    /// environment's time limit, or after `stepCap` steps where it has none.
    public static func evaluate<Environment: ContinuousEnvironment>(
        _ agent: TileCodedAgent, in environment: inout Environment, episodes: Int, seed: UInt64, stepCap: Int = 10_000
    ) throws -> Evaluation {
        try checkSizes(agent, environment)
        var returns = 0.0
        var successes = 0
        var observation = [Double](repeating: 0, count: environment.observationSize)
        for episode in 0..<episodes {
            environment.reset(seed: episode == 0 ? seed : nil, into: &observation)
            var total = 0.0
            for step in 1...max(stepCap, 1) {
                let result = try environment.step(agent.greedyAction(observation), into: &observation)
                total += result.reward
                if result.terminated || result.truncated || step == stepCap {
                    if environment.succeeded(result) { successes += 1 }
                    break
                }
            }
            returns += total
        }
        return Evaluation(
            episodes: episodes, meanReturn: returns / Double(max(episodes, 1)),
            successRate: Double(successes) / Double(max(episodes, 1)))
    }

    private static func checkSizes<Environment: ContinuousEnvironment>(
        _ agent: TileCodedAgent, _ environment: Environment
    ) throws(SimulationError) {
        guard agent.coder.dimensions == environment.observationSize && agent.actionCount == environment.actionCount else {
            throw .sizeMismatch(
                "the agent has \(agent.coder.dimensions) observation values and \(agent.actionCount) actions, the "
                    + "environment \(environment.observationSize) and \(environment.actionCount)")
        }
    }
}
