import Foundation
import StreamCore

extension TransitionTable {
    /// A table read from Gymnasium's `P` as JSON — what `simulate ENV --dump-dynamics` writes, or
    /// `json.dumps({"P": env.unwrapped.P, "n_states": …, "n_actions": …})` in Python with the tuples as lists:
    /// `{"P": {"s": {"a": [[p, s', r, terminated], …]}}, "n_states", "n_actions"}`, with optional
    /// `"initial_states": {"s": p}` (default: state 0) and `"goal_states": [s, …]` (default: the states a
    /// terminating outcome with a positive reward enters). Numbers are read exactly as written. Errors name the
    /// entry (`P.3.1[2]`) and what is wrong.
    public init(gymnasiumJSON bytes: some Collection<UInt8>) throws(SimulationError) {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw .invalidDynamics("not JSON: \(error)")
        }
        func integer(_ value: JSONValue?, _ path: String, below limit: Int? = nil) throws(SimulationError) -> Int {
            guard case .number(let text)? = value, let number = Int(text), number >= 0 else {
                throw .invalidDynamics("\(path) must be a whole number of at least 0")
            }
            if let limit, number >= limit { throw .invalidDynamics("\(path) is \(number), outside 0..<\(limit)") }
            return number
        }
        func number(_ value: JSONValue, _ path: String) throws(SimulationError) -> Double {
            guard case .number(let text) = value, let number = Double(text), number.isFinite else {
                throw .invalidDynamics("\(path) must be a finite number")
            }
            return number
        }
        let states = try integer(document["n_states"], "n_states")
        let actions = try integer(document["n_actions"], "n_actions")
        guard states >= 1, actions >= 1, states <= 10_000_000, actions <= 10_000 else {
            throw .invalidDynamics("n_states must be 1 to 10,000,000 and n_actions 1 to 10,000, got \(states) and \(actions)")
        }
        guard case .object(let table)? = document["P"] else { throw .invalidDynamics("P must be an object of states") }
        var rows = [[[Outcome]]?](repeating: nil, count: states)
        for (stateKey, actionsValue) in table {
            let state = try integer(.number(stateKey), "P.\(stateKey) (a state)", below: states)
            guard case .object(let actionEntries) = actionsValue else {
                throw .invalidDynamics("P.\(stateKey) must be an object of actions")
            }
            var row = [[Outcome]?](repeating: nil, count: actions)
            for (actionKey, outcomesValue) in actionEntries {
                let action = try integer(.number(actionKey), "P.\(stateKey).\(actionKey) (an action)", below: actions)
                guard case .array(let list) = outcomesValue, !list.isEmpty else {
                    throw .invalidDynamics("P.\(stateKey).\(actionKey) must be a non-empty list of [p, next_state, reward, terminated]")
                }
                var outcomes: [Outcome] = []
                var total = 0.0
                for (index, entry) in list.enumerated() {
                    let path = "P.\(stateKey).\(actionKey)[\(index)]"
                    guard case .array(let fields) = entry, fields.count == 4, case .bool(let terminated) = fields[3] else {
                        throw .invalidDynamics("\(path) must be [probability, next_state, reward, terminated]")
                    }
                    let probability = try number(fields[0], "\(path) probability")
                    guard probability >= 0, probability <= 1 else { throw .invalidDynamics("\(path) probability must be in [0, 1]") }
                    let next = try integer(fields[1], "\(path) next_state", below: states)
                    outcomes.append(Outcome(probability: probability, nextState: next, reward: try number(fields[2], "\(path) reward"), terminated: terminated))
                    total += probability
                }
                guard abs(total - 1) <= 1e-9 else {
                    throw .invalidDynamics("P.\(stateKey).\(actionKey): probabilities sum to \(total), not 1")
                }
                row[action] = outcomes
            }
            guard row.allSatisfy({ $0 != nil }) else {
                throw .invalidDynamics("P.\(stateKey) lacks action \(row.firstIndex { $0 == nil }!)")
            }
            rows[state] = row.map { $0! }
        }
        if let missing = rows.firstIndex(where: { $0 == nil }) { throw .invalidDynamics("P lacks state \(missing)") }
        var initial = [Double](repeating: 0, count: states)
        if case .object(let entries)? = document["initial_states"] {
            for (key, value) in entries {
                initial[try integer(.number(key), "initial_states.\(key)", below: states)] = try number(value, "initial_states.\(key)")
            }
            guard abs(initial.reduce(0, +) - 1) <= 1e-9 else { throw .invalidDynamics("initial_states must sum to 1") }
        } else {
            initial[0] = 1
        }
        var goals = [Bool](repeating: false, count: states)
        if case .array(let list)? = document["goal_states"] {
            for (index, entry) in list.enumerated() { goals[try integer(entry, "goal_states[\(index)]", below: states)] = true }
        } else {
            for row in rows { for outcomes in row! { for outcome in outcomes where outcome.terminated && outcome.reward > 0 { goals[outcome.nextState] = true } } }
        }
        self.init(states: states, actions: actions, initialDistribution: initial, goalStates: goals) { state, action in
            rows[state]![action]
        }
    }
}

extension TabularEnvironment {
    /// The environment a dynamics file describes (``TransitionTable/init(gymnasiumJSON:)``), with its time limit:
    /// `maxEpisodeSteps` when given, else the file's `max_episode_steps` (null: none), else 1,000 steps — an
    /// exploring or greedy agent can loop for ever. Throws ``SimulationError/unreadable(_:)`` for a file that
    /// cannot be read, ``SimulationError/invalidDynamics(_:)`` for one that is not a table.
    public static func load(dynamicsFile path: String, maxEpisodeSteps: Int? = nil, seed: UInt64 = 0) throws(SimulationError) -> TabularEnvironment {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        let table = try TransitionTable(gymnasiumJSON: data)
        let limit: Int?
        if let maxEpisodeSteps {
            limit = maxEpisodeSteps
        } else {
            switch (try? JSONValue.parse(data))?["max_episode_steps"] {
            case .number(let text)?:
                guard let steps = Int(text), steps >= 1 else { throw .invalidDynamics("max_episode_steps must be a whole number of at least 1") }
                limit = steps
            case .null?: limit = nil
            case nil: limit = 1_000
            default: throw .invalidDynamics("max_episode_steps must be a whole number of at least 1, or null")
            }
        }
        return TabularEnvironment(dynamics: table, maxEpisodeSteps: limit, seed: seed)
    }
}
