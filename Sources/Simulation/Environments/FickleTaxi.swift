import StreamCore

/// Taxi-v4 with Gymnasium's `fickle_passenger`: at each reset, with probability ``fickleProbability`` (0.3), the
/// passenger is fickle, and on the first step in which the taxi moves with the passenger aboard, the destination
/// changes to one of the other three locations, uniformly (the step's reward stands). Otherwise Taxi's dynamics
/// (dry or rainy), state encoding and time limit. The change depends on the episode, not only on the state, so
/// it is a wrapper around the transition table rather than part of it.
public struct FickleTaxi: DiscreteEnvironment {
    public private(set) var base: TabularEnvironment
    public let fickleProbability: Double
    /// Whether the passenger may still change their mind this episode.
    public private(set) var fickleStep = false
    private var random: SeededRandom

    public init(rainy: Bool = false, fickleProbability: Double = 0.3, maxEpisodeSteps: Int? = 200, seed: UInt64 = 0) {
        base = Environments.taxi(rainy: rainy, maxEpisodeSteps: maxEpisodeSteps, seed: seed)
        self.fickleProbability = fickleProbability
        random = SeededRandom(seed: Self.fickleSeed(seed))
    }

    public var stateCount: Int { 500 }
    public var actionCount: Int { 6 }
    public var maxEpisodeSteps: Int? { base.maxEpisodeSteps }
    public var state: Int { base.state }

    /// The passenger's draws come from their own generator, seeded apart from the dynamics'.
    private static func fickleSeed(_ seed: UInt64) -> UInt64 { seed ^ 0x9E37_79B9_7F4A_7C15 }

    public mutating func reset(seed: UInt64?) -> Int {
        if let seed { random = SeededRandom(seed: Self.fickleSeed(seed)) }
        let state = base.reset(seed: seed)
        fickleStep = random.nextUnitDouble() < fickleProbability
        return state
    }

    public mutating func step(_ action: Int) throws(SimulationError) -> StepResult {
        let before = base.state
        var result = try base.step(action)
        let (row, column, passenger, destination) = Environments.taxiDecode(before)
        let (newRow, newColumn, newPassenger, _) = Environments.taxiDecode(result.observation)
        if fickleStep && passenger == 4 && (newRow != row || newColumn != column) {
            fickleStep = false
            // One of the other three locations, uniformly (Gymnasium: np_random.choice of them).
            var choice = Int(random.next() % 3)
            if choice >= destination { choice += 1 }
            result.observation = Environments.taxiState(newRow, newColumn, newPassenger, choice)
            base.state = result.observation
        }
        return result
    }

    public func succeeded(_ last: StepResult) -> Bool { base.succeeded(last) }
}
