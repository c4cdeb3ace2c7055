import StreamCore

/// One outcome of taking an action: Gymnasium's `(probability, next_state, reward, terminated)`.
public struct Outcome: Sendable, Hashable, Codable {
    public var probability: Double
    public var nextState: Int
    public var reward: Double
    public var terminated: Bool

    public init(probability: Double, nextState: Int, reward: Double, terminated: Bool) {
        self.probability = probability
        self.nextState = nextState
        self.reward = reward
        self.terminated = terminated
    }
}

/// What one step returns, as Gymnasium's `step`: the observation (state), reward, `terminated` (the MDP ended:
/// a goal or a hole) and `truncated` (the time limit ended it).
public struct StepResult: Sendable, Hashable {
    public var observation: Int
    public var reward: Double
    public var terminated: Bool
    public var truncated: Bool

    public init(observation: Int, reward: Double, terminated: Bool, truncated: Bool) {
        self.observation = observation
        self.reward = reward
        self.terminated = terminated
        self.truncated = truncated
    }
}

/// An environment with discrete states and actions, run like Gymnasium's: ``reset(seed:)`` then ``step(_:)``
/// until terminated or truncated. Randomness comes from ``SeededRandom`` (xoshiro256** seeded through
/// SplitMix64), so a seed reproduces a run on every platform (not numpy's stream: Gymnasium's own sequences are
/// not reproduced, its dynamics are).
public protocol DiscreteEnvironment: Sendable {
    var stateCount: Int { get }
    var actionCount: Int { get }
    /// The time limit (Gymnasium's `TimeLimit`), or `nil` for none.
    var maxEpisodeSteps: Int? { get }
    /// Starts an episode and returns the initial state. A seed reseeds the generator; `nil` continues it.
    mutating func reset(seed: UInt64?) -> Int
    /// Takes `action` in the current state; an action outside `0..<actionCount` is refused
    /// (``SimulationError/invalidAction(_:actions:)``) and changes nothing.
    mutating func step(_ action: Int) throws(SimulationError) -> StepResult
    /// Whether the episode that `last` ended reached the task's goal (a goal state; a won hand).
    func succeeded(_ last: StepResult) -> Bool
}

/// Gymnasium's transition table `P[s][a] = [(probability, next_state, reward, terminated)]`, flattened, with the
/// initial-state distribution and the goal states (reaching one counts as success).
public struct TransitionTable: Sendable, Hashable {
    public let stateCount: Int
    public let actionCount: Int
    /// Outcomes of (s, a) are `outcomes[starts[s·A + a] ..< starts[s·A + a + 1]]`, in Gymnasium's order.
    public let outcomes: [Outcome]
    let starts: [Int32]
    /// Probability of each state at reset.
    public let initialDistribution: [Double]
    /// States whose arrival counts as reaching the goal.
    public let goalStates: [Bool]

    /// Builds a table from `outcomes(s, a)` for every state and action.
    public init(
        states: Int, actions: Int, initialDistribution: [Double], goalStates: [Bool],
        outcomes build: (Int, Int) -> [Outcome]
    ) {
        stateCount = states
        actionCount = actions
        var outcomes: [Outcome] = []
        var starts: [Int32] = [0]
        starts.reserveCapacity(states * actions + 1)
        for state in 0..<states {
            for action in 0..<actions {
                outcomes.append(contentsOf: build(state, action))
                starts.append(Int32(outcomes.count))
            }
        }
        self.outcomes = outcomes
        self.starts = starts
        self.initialDistribution = initialDistribution
        self.goalStates = goalStates
    }

    /// `P[state][action]`.
    public func outcomes(state: Int, action: Int) -> ArraySlice<Outcome> {
        let index = state * actionCount + action
        return outcomes[Int(starts[index])..<Int(starts[index + 1])]
    }

    /// Gymnasium's dynamics as JSON: `{"P": {"s": {"a": [[p, s', r, terminated], …]}}, "n_states", "n_actions",
    /// "initial_states": {"s": probability}}` (states with non-zero initial probability only).
    public func jsonObject() -> [String: Any] {
        var table: [String: Any] = [:]
        for state in 0..<stateCount {
            var actions: [String: Any] = [:]
            for action in 0..<actionCount {
                actions[String(action)] = outcomes(state: state, action: action).map {
                    [$0.probability, $0.nextState, $0.reward, $0.terminated] as [Any]
                }
            }
            table[String(state)] = actions
        }
        var initial: [String: Double] = [:]
        for (state, probability) in initialDistribution.enumerated() where probability > 0 {
            initial[String(state)] = probability
        }
        return [
            "P": table, "n_states": stateCount, "n_actions": actionCount, "initial_states": initial,
            "goal_states": goalStates.indices.filter { goalStates[$0] },
        ]
    }
}

/// The shared engine of every tabular environment: samples outcomes from a ``TransitionTable``.
///
/// - Complexity: ``step(_:)`` O(outcomes of the pair), one random draw when there is more than one; no allocation.
public struct TabularEnvironment: DiscreteEnvironment {
    public let dynamics: TransitionTable
    public let maxEpisodeSteps: Int?
    /// The current state.
    public internal(set) var state: Int = 0
    /// Steps taken in this episode.
    public private(set) var elapsedSteps = 0
    private var random: SeededRandom
    private let cumulativeInitial: [Double]

    public init(dynamics: TransitionTable, maxEpisodeSteps: Int?, seed: UInt64 = 0) {
        self.dynamics = dynamics
        self.maxEpisodeSteps = maxEpisodeSteps
        random = SeededRandom(seed: seed)
        var total = 0.0
        cumulativeInitial = dynamics.initialDistribution.map {
            total += $0
            return total
        }
    }

    public var stateCount: Int { dynamics.stateCount }
    public var actionCount: Int { dynamics.actionCount }

    /// Terminated in a goal state.
    public func succeeded(_ last: StepResult) -> Bool { last.terminated && dynamics.goalStates[last.observation] }

    public mutating func reset(seed: UInt64? = nil) -> Int {
        if let seed { random = SeededRandom(seed: seed) }
        elapsedSteps = 0
        let total = cumulativeInitial.last ?? 1
        let u = random.nextUnitDouble() * total
        state = cumulativeInitial.firstIndex { $0 > u } ?? (cumulativeInitial.count - 1)
        return state
    }

    @inline(__always)
    public mutating func step(_ action: Int) throws(SimulationError) -> StepResult {
        guard action >= 0 && action < dynamics.actionCount else {
            throw .invalidAction(action, actions: dynamics.actionCount)
        }
        let index = state * dynamics.actionCount + action
        let start = Int(dynamics.starts[index])
        let end = Int(dynamics.starts[index + 1])
        var chosen = start
        if end - start > 1 {
            // Gymnasium's categorical_sample: the first outcome whose cumulative probability exceeds u.
            let u = random.nextUnitDouble()
            var cumulative = 0.0
            chosen = end - 1
            for candidate in start..<end {
                cumulative += dynamics.outcomes[candidate].probability
                if cumulative > u {
                    chosen = candidate
                    break
                }
            }
        }
        let outcome = dynamics.outcomes[chosen]
        state = outcome.nextState
        elapsedSteps += 1
        let truncated = !outcome.terminated && maxEpisodeSteps.map { elapsedSteps >= $0 } ?? false
        return StepResult(
            observation: outcome.nextState, reward: outcome.reward, terminated: outcome.terminated,
            truncated: truncated)
    }
}
