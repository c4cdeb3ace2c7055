import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a linear model turns gradients into weight changes. Every optimizer works per coordinate, touching only
/// the coordinates an event has (sparse, lazy regularisation as in Vowpal Wabbit and FTRL).
public enum Optimizer: Sendable, Hashable, Codable {
    /// Plain stochastic gradient descent with a learning-rate schedule; L1 by proximal soft-thresholding.
    case sgd(LearningRateSchedule)
    /// AdaGrad (Duchi, Hazan, Singer 2011): step `learningRate / (√Σg² + epsilon)` per coordinate.
    case adaGrad(learningRate: Double, epsilon: Double)
    /// FTRL-Proximal (McMahan et al. 2013, algorithm 1): per-coordinate rate `alpha / (beta + √Σg²)`, with the
    /// model's L1 and L2 applied in closed form, so L1 leaves exact zeros.
    case ftrl(alpha: Double, beta: Double)

    /// SGD, constant rate 0.01.
    public static let defaultSGD = Optimizer.sgd(.constant(0.01))
    /// AdaGrad, rate 0.1, epsilon 1e-8.
    public static let defaultAdaGrad = Optimizer.adaGrad(learningRate: 0.1, epsilon: 1e-8)
    /// FTRL-Proximal, alpha 0.1, beta 1 (the paper's recommended beta).
    public static let defaultFTRL = Optimizer.ftrl(alpha: 0.1, beta: 1)

    /// The command-line name: `sgd`, `adagrad` or `ftrl`.
    public var name: String {
        switch self {
        case .sgd: "sgd"
        case .adaGrad: "adagrad"
        case .ftrl: "ftrl"
        }
    }

    /// How many per-coordinate state arrays the optimizer keeps besides the weights.
    var stateArrays: Int {
        switch self {
        case .sgd: 0
        case .adaGrad: 1
        case .ftrl: 2
        }
    }

    func validate(key: String) throws(LearningError) {
        switch self {
        case .sgd(let schedule):
            try schedule.validate(key: key)
        case .adaGrad(let rate, let epsilon):
            guard rate > 0, rate.isFinite else {
                throw .invalidConfiguration(key: "\(key).learning_rate", reason: "must be positive, got \(rate)")
            }
            guard epsilon > 0, epsilon.isFinite else {
                throw .invalidConfiguration(key: "\(key).epsilon", reason: "must be positive, got \(epsilon)")
            }
        case .ftrl(let alpha, let beta):
            guard alpha > 0, alpha.isFinite else {
                throw .invalidConfiguration(key: "\(key).alpha", reason: "must be positive, got \(alpha)")
            }
            guard beta > 0, beta.isFinite else {
                throw .invalidConfiguration(key: "\(key).beta", reason: "must be positive, got \(beta)")
            }
        }
    }
}

/// SGD's learning rate over time.
public enum LearningRateSchedule: Sendable, Hashable, Codable {
    /// The same rate at every step.
    case constant(Double)
    /// `initial / t^power` at step `t` (1-based), scikit-learn's `invscaling`; `power` 0.5 is the usual choice.
    case inverseScaling(initial: Double, power: Double)

    /// The rate at step `t` (1-based).
    public func rate(atStep t: Int) -> Double {
        switch self {
        case .constant(let rate): rate
        case .inverseScaling(let initial, let power): initial / pow(Double(max(t, 1)), power)
        }
    }

    func validate(key: String) throws(LearningError) {
        switch self {
        case .constant(let rate):
            guard rate > 0, rate.isFinite else {
                throw .invalidConfiguration(key: "\(key).learning_rate", reason: "must be positive, got \(rate)")
            }
        case .inverseScaling(let initial, let power):
            guard initial > 0, initial.isFinite else {
                throw .invalidConfiguration(key: "\(key).learning_rate", reason: "must be positive, got \(initial)")
            }
            guard power >= 0, power.isFinite else {
                throw .invalidConfiguration(key: "\(key).power", reason: "must be at least 0, got \(power)")
            }
        }
    }
}

/// What an optimizer step computes on: one coordinate (`Double`) or four at once (``DoubleLanes``), so each
/// rule's arithmetic is written once and gives bit-identical results either way.
protocol CoordinateLanes {
    associatedtype Mask
    init(repeating value: Double)
    static func + (lhs: Self, rhs: Self) -> Self
    static func - (lhs: Self, rhs: Self) -> Self
    static func * (lhs: Self, rhs: Self) -> Self
    static func / (lhs: Self, rhs: Self) -> Self
    static prefix func - (operand: Self) -> Self
    /// `√|x|`, the square root of the sums of squares the rules keep (without `squareRoot()`'s libm call).
    func squareRootOfMagnitude() -> Self
    static func .< (lhs: Self, rhs: Self) -> Mask
    static func .> (lhs: Self, rhs: Self) -> Mask
    static func .<= (lhs: Self, rhs: Self) -> Mask
    func replacing(with other: Self, where mask: Mask) -> Self
}

extension DoubleLanes: CoordinateLanes {}

extension Double: CoordinateLanes {
    @inline(__always)
    init(repeating value: Double) { self = value }
    @inline(__always)
    static func .< (lhs: Double, rhs: Double) -> Bool { lhs < rhs }
    @inline(__always)
    static func .> (lhs: Double, rhs: Double) -> Bool { lhs > rhs }
    @inline(__always)
    static func .<= (lhs: Double, rhs: Double) -> Bool { lhs <= rhs }
    @inline(__always)
    func replacing(with other: Double, where mask: Bool) -> Double { mask ? other : self }
}

/// One optimizer step on one coordinate, or on four at once: its weight and its optimizer state (AdaGrad keeps
/// the squared-gradient sum in `first`; FTRL z in `first`, n in `second` and √n in `third`; a rule never reads or
/// writes a slot beyond its ``stateSlots``), given the loss gradient `g` (without regularisation) and the block's
/// L1 and L2.
protocol CoordinateRule {
    /// How many state values the rule keeps per coordinate in memory (0, 1 or 3; see ``ParameterBlock``).
    static var stateSlots: Int { get }
    func step<Lanes: CoordinateLanes>(
        weight: inout Lanes, first: inout Lanes, second: inout Lanes, third: inout Lanes, gradient g: Lanes,
        l1: Double, l2: Double)
}

/// `w` moved towards 0 by `threshold`, and 0 within it (NaN gives 0).
@inline(__always)
func softThreshold<Lanes: CoordinateLanes>(_ w: Lanes, _ threshold: Lanes) -> Lanes {
    Lanes(repeating: 0).replacing(with: w + threshold, where: w .< -threshold)
        .replacing(with: w - threshold, where: w .> threshold)
}

struct SGDRule: CoordinateRule {
    static var stateSlots: Int { 0 }
    var rate: Double

    @inline(__always)
    func step<Lanes: CoordinateLanes>(
        weight: inout Lanes, first: inout Lanes, second: inout Lanes, third: inout Lanes, gradient g: Lanes,
        l1: Double, l2: Double
    ) {
        weight = weight - Lanes(repeating: rate) * (g + Lanes(repeating: l2) * weight)
        if l1 > 0 { weight = softThreshold(weight, Lanes(repeating: rate * l1)) }
    }
}

struct AdaGradRule: CoordinateRule {
    static var stateSlots: Int { 1 }
    var rate: Double
    var epsilon: Double

    @inline(__always)
    func step<Lanes: CoordinateLanes>(
        weight: inout Lanes, first squares: inout Lanes, second: inout Lanes, third: inout Lanes, gradient g: Lanes,
        l1: Double, l2: Double
    ) {
        let gradient = g + Lanes(repeating: l2) * weight
        squares = squares + gradient * gradient
        let coordinateRate = Lanes(repeating: rate) / (squares.squareRootOfMagnitude() + Lanes(repeating: epsilon))
        weight = weight - coordinateRate * gradient
        if l1 > 0 { weight = softThreshold(weight, coordinateRate * Lanes(repeating: l1)) }
    }
}

/// FTRL-Proximal per coordinate: `first` is z, `second` is n (the sum of squared gradients), `third` is √n (kept
/// so that a step takes one square root; always exactly `second.squareRoot()`).
struct FTRLRule: CoordinateRule {
    static var stateSlots: Int { 3 }
    var inverseAlpha: Double
    var betaOverAlpha: Double

    init(alpha: Double, beta: Double) {
        inverseAlpha = 1 / alpha
        betaOverAlpha = beta / alpha
    }

    @inline(__always)
    func step<Lanes: CoordinateLanes>(
        weight: inout Lanes, first z: inout Lanes, second n: inout Lanes, third root: inout Lanes, gradient g: Lanes,
        l1: Double, l2: Double
    ) {
        let oldRoot = root
        n = n + g * g
        let newRoot = n.squareRootOfMagnitude()
        root = newRoot
        z = z + g - (newRoot - oldRoot) * Lanes(repeating: inverseAlpha) * weight
        let l1 = Lanes(repeating: l1)
        let zero = Lanes(repeating: 0)
        let shrunk = (z - l1).replacing(with: z + l1, where: z .< zero)
        let magnitude = z.replacing(with: -z, where: z .< zero)
        weight = (-shrunk / (Lanes(repeating: betaOverAlpha) + newRoot * Lanes(repeating: inverseAlpha) + Lanes(repeating: l2)))
            .replacing(with: zero, where: magnitude .<= l1)
    }
}

// MARK: - By name

extension Optimizer {
    /// The optimizers by the names the YAML key `model.optimizer.kind` and the `--optimizer` flag take.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case sgd
        case adagrad
        case ftrl
    }

    /// The optimizer `kind` names, with its parameters (`nil`: that optimizer's default: SGD rate 0.01, AdaGrad
    /// rate 0.1, FTRL alpha 0.1 and beta 1). One mapping for configuration files and command-line flags.
    public static func named(
        _ kind: Kind, learningRate: Double? = nil, power: Double? = nil, alpha: Double? = nil, beta: Double? = nil
    ) -> Optimizer {
        switch kind {
        case .sgd:
            let rate = learningRate ?? 0.01
            let power = power ?? 0
            return .sgd(power == 0 ? .constant(rate) : .inverseScaling(initial: rate, power: power))
        case .adagrad:
            return .adaGrad(learningRate: learningRate ?? 0.1, epsilon: 1e-8)
        case .ftrl:
            return .ftrl(alpha: alpha ?? 0.1, beta: beta ?? 1)
        }
    }

    /// The parameters that shape a model's learned state, by their key paths under `prefix` (`kind`,
    /// `learning_rate`, …): what a snapshot records.
    public func settings(prefix: String) -> [String: String] {
        var settings = ["\(prefix)kind": name]
        switch self {
        case .sgd(let schedule):
            switch schedule {
            case .constant(let rate): settings["\(prefix)learning_rate"] = "\(rate)"
            case .inverseScaling(let rate, let power):
                settings["\(prefix)learning_rate"] = "\(rate)"
                settings["\(prefix)power"] = "\(power)"
            }
        case .adaGrad(let rate, _): settings["\(prefix)learning_rate"] = "\(rate)"
        case .ftrl(let alpha, let beta):
            settings["\(prefix)alpha"] = "\(alpha)"
            settings["\(prefix)beta"] = "\(beta)"
        }
        return settings
    }
}
