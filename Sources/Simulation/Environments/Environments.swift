/// The Gymnasium 1.x toy-text environments, with Gymnasium's maps, state encodings, action numbering, dynamics,
/// rewards and time limits.
public enum Environments: Sendable {
    /// FrozenLake-v1's 4×4 map.
    public static let frozenLake4x4 = ["SFFF", "FHFH", "FFFH", "HFFG"]
    /// FrozenLake's 8×8 map (FrozenLake8x8-v1).
    public static let frozenLake8x8 = [
        "SFFFFFFF", "FFFFFFFF", "FFFHFFFF", "FFFFFHFF", "FFFHFFFF", "FHHFFFHF", "FHFFHFHF", "FFFHFFFG",
    ]

    /// A FrozenLake map by name as the command line and scenarios give it: `4x4`, `8x8`, or rows separated by
    /// commas (`SFFF,FHFH,FFFH,HFFG`).
    public static func frozenLakeMap(_ name: String) -> [String] {
        switch name {
        case "4x4": frozenLake4x4
        case "8x8": frozenLake8x8
        default: name.split(separator: ",").map(String.init)
        }
    }

    /// FrozenLake-v1. State = row · columns + column; actions 0 left, 1 down, 2 right, 3 up. Slippery: the
    /// intended direction and the two perpendicular ones, 1/3 each (three outcomes even when they coincide, as
    /// Gymnasium lists them). Reward 1 on reaching G; G and H terminate (and are absorbing in `P`). Starts
    /// uniformly on the S cells. Time limit 100 steps, 200 for the 8×8 map (FrozenLake8x8-v1).
    ///
    /// Throws ``SimulationError/invalidMap(_:)`` unless the rows are equally long and hold only S, F, H and G
    /// with at least one S.
    public static func frozenLake(
        map: [String] = frozenLake4x4, slippery: Bool = true, maxEpisodeSteps: Int? = nil, seed: UInt64 = 0
    ) throws(SimulationError) -> TabularEnvironment {
        let rows = map.map { Array($0.utf8) }
        guard let columns = rows.first?.count, columns > 0, rows.allSatisfy({ $0.count == columns }) else {
            throw .invalidMap("rows must be non-empty and equally long")
        }
        guard rows.joined().allSatisfy({ "SFHG".utf8.contains($0) }) else {
            throw .invalidMap("cells must be S, F, H or G")
        }
        let cells = Array(rows.joined())
        let starts = cells.filter { $0 == UInt8(ascii: "S") }.count
        guard starts > 0 else { throw .invalidMap("the map needs a start cell S") }
        guard cells.contains(UInt8(ascii: "G")) else { throw .invalidMap("the map needs a goal cell G") }
        let rowCount = rows.count
        func move(_ state: Int, _ action: Int) -> Int {
            var row = state / columns
            var column = state % columns
            switch action {
            case 0: column = max(column - 1, 0)
            case 1: row = min(row + 1, rowCount - 1)
            case 2: column = min(column + 1, columns - 1)
            default: row = max(row - 1, 0)
            }
            return row * columns + column
        }
        let stateCount = rowCount * columns
        let table = TransitionTable(
            states: stateCount, actions: 4,
            initialDistribution: cells.map { $0 == UInt8(ascii: "S") ? 1 / Double(starts) : 0 },
            goalStates: cells.map { $0 == UInt8(ascii: "G") }
        ) { state, action in
            let letter = cells[state]
            if letter == UInt8(ascii: "G") || letter == UInt8(ascii: "H") {
                return [Outcome(probability: 1, nextState: state, reward: 0, terminated: true)]
            }
            let directions = slippery ? [(action + 3) % 4, action, (action + 1) % 4] : [action]
            // Gymnasium 1.x: the intended direction with success_rate 1/3, each other with (1 − 1/3) / 2, which is
            // 0.33333333333333337, one unit in the last place above 1/3.
            return directions.map { direction in
                let next = move(state, direction)
                let nextLetter = cells[next]
                return Outcome(
                    probability: slippery ? (direction == action ? 1.0 / 3.0 : (1 - 1.0 / 3.0) / 2) : 1, nextState: next,
                    reward: nextLetter == UInt8(ascii: "G") ? 1 : 0,
                    terminated: nextLetter == UInt8(ascii: "G") || nextLetter == UInt8(ascii: "H"))
            }
        }
        let limit = maxEpisodeSteps ?? (map == frozenLake8x8 ? 200 : 100)
        return TabularEnvironment(dynamics: table, maxEpisodeSteps: limit, seed: seed)
    }

    /// CliffWalking-v1: a 4×12 grid, start 36 (bottom left), goal 47 (bottom right), the cliff between them.
    /// Actions 0 up, 1 right, 2 down, 3 left. −1 per step; stepping into the cliff costs −100 and returns to the
    /// start without terminating; reaching the goal terminates. No time limit by default.
    /// `slippery`: Gymnasium 1.x's `is_slippery` — the intended move or either perpendicular one, 1/3 each, in the
    /// order (a − 1) mod 4, a, (a + 1) mod 4.
    public static func cliffWalking(slippery: Bool = false, maxEpisodeSteps: Int? = nil, seed: UInt64 = 0) -> TabularEnvironment {
        let rows = 4
        let columns = 12
        let start = 36
        let goal = 47
        func isCliff(_ row: Int, _ column: Int) -> Bool { row == 3 && (1...10).contains(column) }
        let table = TransitionTable(
            states: rows * columns, actions: 4,
            initialDistribution: (0..<rows * columns).map { $0 == start ? 1 : 0 },
            goalStates: (0..<rows * columns).map { $0 == goal }
        ) { state, action in
            let moves = slippery ? [(action + 3) % 4, action, (action + 1) % 4] : [action]
            let probability = 1 / Double(moves.count)
            return moves.map { move in
                let (dRow, dColumn) = [(-1, 0), (0, 1), (1, 0), (0, -1)][move]
                let row = min(max(state / columns + dRow, 0), rows - 1)
                let column = min(max(state % columns + dColumn, 0), columns - 1)
                if isCliff(row, column) {
                    return Outcome(probability: probability, nextState: start, reward: -100, terminated: false)
                }
                let next = row * columns + column
                return Outcome(probability: probability, nextState: next, reward: -1, terminated: next == goal)
            }
        }
        return TabularEnvironment(dynamics: table, maxEpisodeSteps: maxEpisodeSteps, seed: seed)
    }

    /// Taxi's state of (row, column, passenger location 0–4 with 4 aboard, destination 0–3), as Gymnasium encodes it.
    public static func taxiState(_ row: Int, _ column: Int, _ passenger: Int, _ destination: Int) -> Int {
        ((row * 5 + column) * 5 + passenger) * 4 + destination
    }

    /// (row, column, passenger location, destination) of a Taxi state.
    public static func taxiDecode(_ state: Int) -> (row: Int, column: Int, passenger: Int, destination: Int) {
        (state / 100, state / 20 % 5, state / 4 % 5, state % 4)
    }

    /// Taxi-v3 (v3/v4 default dynamics): a 5×5 grid with walls, pick-up/drop-off locations R (0,0), G (0,4),
    /// Y (4,0), B (4,3). State = ((row · 5 + column) · 5 + passenger) · 4 + destination, passenger 0–3 at a
    /// location or 4 in the taxi. Actions 0 south, 1 north, 2 east, 3 west, 4 pickup, 5 drop-off. −1 per step,
    /// +20 for dropping the passenger at the destination (terminates), −10 for an illegal pickup or drop-off.
    /// Starts uniformly over the 300 states with the passenger waiting away from the destination. Time limit 200.
    ///
    /// `rainy`: Gymnasium 1.4's `is_rainy` (Taxi-v4): a move goes the intended way with probability 0.8 and to
    /// either side (left and right of the heading) with 0.1 each, a side blocked by a wall leaving the taxi in
    /// place; a move the wall or the grid's edge blocks stays put without drifting; pickup and drop-off stay
    /// deterministic. (`fickle_passenger` changes the destination during an episode, which no transition table
    /// can express: ``FickleTaxi`` wraps this table for it.)
    public static func taxi(rainy: Bool = false, maxEpisodeSteps: Int? = 200, seed: UInt64 = 0) -> TabularEnvironment {
        let map = [
            "+---------+", "|R: | : :G|", "| : | : : |", "| : : : : |", "| | : | : |", "|Y| : |B: |", "+---------+",
        ].map { Array($0.utf8) }
        let locations = [(0, 0), (0, 4), (4, 0), (4, 3)]
        let encode = taxiState
        var initial = Array(repeating: 0.0, count: 500)
        var goals = Array(repeating: false, count: 500)
        for row in 0..<5 {
            for column in 0..<5 {
                for passenger in 0..<5 {
                    for destination in 0..<4 {
                        let state = encode(row, column, passenger, destination)
                        if passenger < 4 && passenger != destination { initial[state] = 1.0 / 300 }
                        if passenger == destination { goals[state] = true }
                    }
                }
            }
        }
        let table = TransitionTable(states: 500, actions: 6, initialDistribution: initial, goalStates: goals) {
            state, action in
            let (row, column, passenger, destination) = taxiDecode(state)
            var newRow = row
            var newColumn = column
            var newPassenger = passenger
            var reward = -1.0
            var terminated = false
            let taxi = (row, column)
            if rainy && action <= 3 {
                return rainyMove(row: row, column: column, passenger: passenger, destination: destination, action: action)
            }
            if action == 0 {
                newRow = min(row + 1, 4)
            } else if action == 1 {
                newRow = max(row - 1, 0)
            }
            if action == 2 && map[1 + row][2 * column + 2] == UInt8(ascii: ":") {
                newColumn = min(column + 1, 4)
            } else if action == 3 && map[1 + row][2 * column] == UInt8(ascii: ":") {
                newColumn = max(column - 1, 0)
            } else if action == 4 {
                if passenger < 4 && taxi == locations[passenger] {
                    newPassenger = 4
                } else {
                    reward = -10
                }
            } else if action == 5 {
                if taxi == locations[destination] && passenger == 4 {
                    newPassenger = destination
                    terminated = true
                    reward = 20
                } else if let here = locations.firstIndex(where: { $0 == taxi }), passenger == 4 {
                    newPassenger = here
                } else {
                    reward = -10
                }
            }
            return [
                Outcome(
                    probability: 1, nextState: encode(newRow, newColumn, newPassenger, destination), reward: reward,
                    terminated: terminated)
            ]
        }
        return TabularEnvironment(dynamics: table, maxEpisodeSteps: maxEpisodeSteps, seed: seed)

        /// A move in the rain, as Gymnasium's `_build_rainy_transitions`: (intended, left, right) with
        /// (0.8, 0.1, 0.1), the lateral ones blocked by walls (staying put), all of them only when the intended
        /// move is possible.
        func rainyMove(row: Int, column: Int, passenger: Int, destination: Int, action: Int) -> [Outcome] {
            let open = UInt8(ascii: ":")
            // (forward, left, right) for south, north, east, west.
            let moves = [
                [(1, 0), (0, 1), (0, -1)], [(-1, 0), (0, -1), (0, 1)], [(0, 1), (-1, 0), (1, 0)], [(0, -1), (1, 0), (-1, 0)],
            ][action]
            func lateral(_ move: (Int, Int)) -> (Int, Int) {
                let newRow = max(0, min(row + move.0, 4))
                let newColumn = max(0, min(column + move.1, 4))
                if move.1 == 1 && map[1 + newRow][2 * newColumn] != open { return (row, column) }
                if move.1 == -1 && map[1 + newRow][2 * newColumn + 2] != open { return (row, column) }
                return (newRow, newColumn)
            }
            let possible =
                (action == 0 && row < 4) || (action == 1 && row > 0)
                || (action == 2 && map[1 + row][2 * column + 2] == open) || (action == 3 && map[1 + row][2 * column] == open)
            var intended = (row, column)
            var left = (row, column)
            var right = (row, column)
            if possible {
                intended = (max(0, min(row + moves[0].0, 4)), max(0, min(column + moves[0].1, 4)))
                left = lateral(moves[1])
                right = lateral(moves[2])
            }
            let side = (1.0 - 0.8) / 2.0
            return [
                Outcome(probability: 0.8, nextState: encode(intended.0, intended.1, passenger, destination), reward: -1, terminated: false),
                Outcome(probability: side, nextState: encode(left.0, left.1, passenger, destination), reward: -1, terminated: false),
                Outcome(probability: side, nextState: encode(right.0, right.1, passenger, destination), reward: -1, terminated: false),
            ]
        }
    }
}

/// What went wrong in ``Simulation``.
public enum SimulationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A FrozenLake map is malformed; says how.
    case invalidMap(String)
    /// An action outside the environment's `actions` (`0..<actions`).
    case invalidAction(Int, actions: Int)
    /// An agent, job or policy sized for another environment; says how.
    case sizeMismatch(String)
    /// A dynamics file that is not a valid transition table; says where.
    case invalidDynamics(String)
    /// A file that cannot be read.
    case unreadable(String)

    public var description: String {
        switch self {
        case .invalidMap(let reason): "invalid map: \(reason)"
        case .invalidAction(let action, let actions):
            "action \(action) is not one of the environment's \(actions) actions (0 to \(actions - 1))"
        case .sizeMismatch(let reason): reason
        case .invalidDynamics(let reason): "invalid dynamics: \(reason)"
        case .unreadable(let path): "\(path): cannot be read"
        }
    }
}
