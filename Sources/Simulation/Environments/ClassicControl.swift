import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one step of a ``ContinuousEnvironment`` returns besides the observation (written in place).
public struct ContinuousStep: Sendable, Hashable {
    public var reward: Double
    public var terminated: Bool
    public var truncated: Bool

    public init(reward: Double, terminated: Bool, truncated: Bool) {
        self.reward = reward
        self.terminated = terminated
        self.truncated = truncated
    }
}

/// An environment with a continuous observation vector and discrete actions, run like Gymnasium's. The
/// observation is written into the caller's array (``observationSize`` values), so a step allocates nothing;
/// like Gymnasium's, it is the state rounded to `float32`, while the state itself evolves in `Double`.
public protocol ContinuousEnvironment: Sendable {
    /// Values in an observation.
    var observationSize: Int { get }
    var actionCount: Int { get }
    /// The time limit (Gymnasium's `TimeLimit`).
    var maxEpisodeSteps: Int? { get }
    /// The box a tile coder covers: Gymnasium's observation space, with finite bounds where it has none.
    var observationLow: [Double] { get }
    var observationHigh: [Double] { get }
    /// Starts an episode (a seed reseeds the generator; `nil` continues it) and writes the first observation.
    mutating func reset(seed: UInt64?, into observation: inout [Double])
    /// Takes `action` (outside `0..<actionCount`: ``SimulationError/invalidAction(_:actions:)``, nothing changes)
    /// and writes the next observation.
    mutating func step(_ action: Int, into observation: inout [Double]) throws(SimulationError) -> ContinuousStep
    /// Whether an episode that ended so reached the task's goal (MountainCar: the flag; CartPole: the time limit).
    func succeeded(_ last: ContinuousStep) -> Bool
}

extension ContinuousEnvironment {
    /// Writes `state` rounded to `float32`, as Gymnasium returns an observation.
    static func observe(_ state: [Double], into observation: inout [Double]) {
        if observation.count != state.count { observation = Array(repeating: 0, count: state.count) }
        for index in state.indices { observation[index] = Double(Float(state[index])) }
    }
}

/// CartPole-v1 (Barto, Sutton and Anderson 1983, as Gymnasium 1.x codes it): push the cart left (0) or right (1)
/// to keep the pole up. Observation (x, ẋ, θ, θ̇); reward 1 a step, including the step that ends it; terminated when
/// |x| > 2.4 or |θ| > 12°; time limit 500. Euler integration with τ = 0.02 s, operations in Gymnasium's order, so
/// a step equals Gymnasium's to the last bit from the same state (tested against recorded trajectories).
/// `suttonBartoReward`: 0 a step and −1 on failure (Gymnasium's `sutton_barto_reward`).
public struct CartPole: ContinuousEnvironment {
    public static let gravity = 9.8
    public static let massCart = 1.0
    public static let massPole = 0.1
    public static let totalMass = massPole + massCart
    public static let length = 0.5
    public static let poleMassLength = massPole * length
    public static let forceMagnitude = 10.0
    public static let tau = 0.02
    public static let thetaThreshold = 12 * 2 * Double.pi / 360
    public static let xThreshold = 2.4

    public let suttonBartoReward: Bool
    public let maxEpisodeSteps: Int?
    /// (x, ẋ, θ, θ̇) in `Double`.
    public private(set) var state: [Double] = [0, 0, 0, 0]
    public private(set) var elapsedSteps = 0
    private var stepsBeyondTerminated: Int?
    private var random: SeededRandom

    public init(suttonBartoReward: Bool = false, maxEpisodeSteps: Int? = 500, seed: UInt64 = 0) {
        self.suttonBartoReward = suttonBartoReward
        self.maxEpisodeSteps = maxEpisodeSteps
        random = SeededRandom(seed: seed)
    }

    public var observationSize: Int { 4 }
    public var actionCount: Int { 2 }
    /// Gymnasium's bounds on x and θ (twice the failure thresholds); ±3 m/s and ±3.5 rad/s for the velocities,
    /// which Gymnasium leaves unbounded.
    public var observationLow: [Double] { [-4.8, -3, -0.42, -3.5] }
    public var observationHigh: [Double] { [4.8, 3, 0.42, 3.5] }

    /// Starts from a uniform draw in [−0.05, 0.05) for each value.
    public mutating func reset(seed: UInt64?, into observation: inout [Double]) {
        if let seed { random = SeededRandom(seed: seed) }
        for index in 0..<4 { state[index] = -0.05 + 0.1 * random.nextUnitDouble() }
        elapsedSteps = 0
        stepsBeyondTerminated = nil
        Self.observe(state, into: &observation)
    }

    /// Sets the state directly (a recorded trajectory's start).
    public mutating func reset(state: [Double], into observation: inout [Double]) {
        precondition(state.count == 4, "CartPole's state has 4 values")
        self.state = state
        elapsedSteps = 0
        stepsBeyondTerminated = nil
        Self.observe(state, into: &observation)
    }

    public mutating func step(_ action: Int, into observation: inout [Double]) throws(SimulationError) -> ContinuousStep {
        guard action == 0 || action == 1 else { throw .invalidAction(action, actions: 2) }
        var x = state[0]
        var xDot = state[1]
        var theta = state[2]
        var thetaDot = state[3]
        let force = action == 1 ? Self.forceMagnitude : -Self.forceMagnitude
        let cosTheta = cos(theta)
        let sinTheta = sin(theta)
        let temp = (force + Self.poleMassLength * (thetaDot * thetaDot) * sinTheta) / Self.totalMass
        let thetaAcc = (Self.gravity * sinTheta - cosTheta * temp)
            / (Self.length * (4.0 / 3.0 - Self.massPole * (cosTheta * cosTheta) / Self.totalMass))
        let xAcc = temp - Self.poleMassLength * thetaAcc * cosTheta / Self.totalMass
        x = x + Self.tau * xDot
        xDot = xDot + Self.tau * xAcc
        theta = theta + Self.tau * thetaDot
        thetaDot = thetaDot + Self.tau * thetaAcc
        state[0] = x
        state[1] = xDot
        state[2] = theta
        state[3] = thetaDot
        let terminated = x < -Self.xThreshold || x > Self.xThreshold || theta < -Self.thetaThreshold
            || theta > Self.thetaThreshold
        let reward: Double
        if !terminated {
            reward = suttonBartoReward ? 0 : 1
        } else if stepsBeyondTerminated == nil {
            stepsBeyondTerminated = 0
            reward = suttonBartoReward ? -1 : 1
        } else {
            stepsBeyondTerminated! += 1
            reward = suttonBartoReward ? -1 : 0
        }
        elapsedSteps += 1
        Self.observe(state, into: &observation)
        return ContinuousStep(
            reward: reward, terminated: terminated, truncated: maxEpisodeSteps.map { elapsedSteps >= $0 } ?? false)
    }

    public func succeeded(_ last: ContinuousStep) -> Bool { last.truncated && !last.terminated }

}

/// MountainCar-v0 (Moore 1990, as Gymnasium 1.x codes it): an under-powered car in a valley must rock back and
/// forth to reach the flag at x ≥ 0.5. Actions: 0 push left, 1 none, 2 push right; observation (x, v); reward −1 a
/// step; time limit 200. A step equals Gymnasium's to the last bit from the same state (tested against recorded
/// trajectories).
public struct MountainCar: ContinuousEnvironment {
    public static let minPosition = -1.2
    public static let maxPosition = 0.6
    public static let maxSpeed = 0.07
    public static let goalPosition = 0.5
    public static let force = 0.001
    public static let gravity = 0.0025

    public let goalVelocity: Double
    public let maxEpisodeSteps: Int?
    /// (x, v) in `Double`.
    public private(set) var state: [Double] = [0, 0]
    public private(set) var elapsedSteps = 0
    private var random: SeededRandom

    public init(goalVelocity: Double = 0, maxEpisodeSteps: Int? = 200, seed: UInt64 = 0) {
        self.goalVelocity = goalVelocity
        self.maxEpisodeSteps = maxEpisodeSteps
        random = SeededRandom(seed: seed)
    }

    public var observationSize: Int { 2 }
    public var actionCount: Int { 3 }
    public var observationLow: [Double] { [Self.minPosition, -Self.maxSpeed] }
    public var observationHigh: [Double] { [Self.maxPosition, Self.maxSpeed] }

    /// Starts at rest at a uniform position in [−0.6, −0.4).
    public mutating func reset(seed: UInt64?, into observation: inout [Double]) {
        if let seed { random = SeededRandom(seed: seed) }
        state[0] = -0.6 + 0.2 * random.nextUnitDouble()
        state[1] = 0
        elapsedSteps = 0
        Self.observe(state, into: &observation)
    }

    /// Sets the state directly (a recorded trajectory's start).
    public mutating func reset(state: [Double], into observation: inout [Double]) {
        precondition(state.count == 2, "MountainCar's state has 2 values")
        self.state = state
        elapsedSteps = 0
        Self.observe(state, into: &observation)
    }

    public mutating func step(_ action: Int, into observation: inout [Double]) throws(SimulationError) -> ContinuousStep {
        guard (0...2).contains(action) else { throw .invalidAction(action, actions: 3) }
        var position = state[0]
        var velocity = state[1]
        velocity += Double(action - 1) * Self.force + cos(3 * position) * -Self.gravity
        velocity = min(max(velocity, -Self.maxSpeed), Self.maxSpeed)
        position += velocity
        position = min(max(position, Self.minPosition), Self.maxPosition)
        if position == Self.minPosition && velocity < 0 { velocity = 0 }
        let terminated = position >= Self.goalPosition && velocity >= goalVelocity
        state[0] = position
        state[1] = velocity
        elapsedSteps += 1
        Self.observe(state, into: &observation)
        return ContinuousStep(
            reward: -1, terminated: terminated, truncated: maxEpisodeSteps.map { elapsedSteps >= $0 } ?? false)
    }

    public func succeeded(_ last: ContinuousStep) -> Bool { last.terminated }
}
