import OnlineLearning
import Simulation

/// An environment a scenario plays through a reinforcement job: a tabular one (states) or a continuous one
/// (observation vectors), its observations written as the JSON the job reads.
enum DrivenEnvironment {
    case tabular(any DiscreteEnvironment)
    case continuous(any ContinuousEnvironment)

    /// The request's key for what the agent sees (`state` or `observation`); a transition's next one is
    /// `next_` and this.
    var observationKey: String {
        if case .tabular = self { "state" } else { "observation" }
    }

    /// Starts an episode (a seed reseeds the environment) and returns the first observation as JSON.
    mutating func reset(seed: UInt64?) -> String {
        switch self {
        case .tabular(var environment):
            let state = environment.reset(seed: seed)
            self = .tabular(environment)
            return String(state)
        case .continuous(var environment):
            var observation: [Double] = []
            environment.reset(seed: seed, into: &observation)
            self = .continuous(environment)
            return Self.json(observation)
        }
    }

    /// Takes `action`; the reward, the flags and the next observation as JSON.
    mutating func step(_ action: Int) throws -> (reward: Double, terminated: Bool, truncated: Bool, observation: String) {
        switch self {
        case .tabular(var environment):
            let result = try environment.step(action)
            self = .tabular(environment)
            return (result.reward, result.terminated, result.truncated, String(result.observation))
        case .continuous(var environment):
            var observation: [Double] = []
            let result = try environment.step(action, into: &observation)
            self = .continuous(environment)
            return (result.reward, result.terminated, result.truncated, Self.json(observation))
        }
    }

    /// Values as a JSON list, each written so that it reads back to the same `Double`.
    static func json(_ values: [Double]) -> String {
        "[" + values.map { "\($0)" }.joined(separator: ",") + "]"
    }
}
