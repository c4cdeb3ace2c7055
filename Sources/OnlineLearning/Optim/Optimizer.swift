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

/// One optimizer step on one coordinate: `p[0]` is its weight, `p[1]` and `p[2]` its optimizer state (AdaGrad
/// uses `p[1]`; FTRL uses `p[1]` as z and `p[2]` as n; SGD neither, and a rule never touches a slot its optimizer
/// does not keep), given the loss gradient `g` (without regularisation) and the block's L1 and L2.
protocol CoordinateRule {
    func step(_ p: UnsafeMutablePointer<Double>, gradient g: Double, l1: Double, l2: Double)
}

@inline(__always)
func softThreshold(_ w: Double, _ threshold: Double) -> Double {
    w > threshold ? w - threshold : (w < -threshold ? w + threshold : 0)
}

struct SGDRule: CoordinateRule {
    var rate: Double

    @inline(__always)
    func step(_ p: UnsafeMutablePointer<Double>, gradient g: Double, l1: Double, l2: Double) {
        var weight = p[0]
        weight -= rate * (g + l2 * weight)
        if l1 > 0 { weight = softThreshold(weight, rate * l1) }
        p[0] = weight
    }
}

struct AdaGradRule: CoordinateRule {
    var rate: Double
    var epsilon: Double

    @inline(__always)
    func step(_ p: UnsafeMutablePointer<Double>, gradient g: Double, l1: Double, l2: Double) {
        var weight = p[0]
        let gradient = g + l2 * weight
        let squares = p[1] + gradient * gradient
        p[1] = squares
        let coordinateRate = rate / (squares.squareRoot() + epsilon)
        weight -= coordinateRate * gradient
        if l1 > 0 { weight = softThreshold(weight, coordinateRate * l1) }
        p[0] = weight
    }
}

/// FTRL-Proximal per coordinate: `p[1]` is z, `p[2]` is n (the sum of squared gradients).
struct FTRLRule: CoordinateRule {
    var inverseAlpha: Double
    var betaOverAlpha: Double

    init(alpha: Double, beta: Double) {
        inverseAlpha = 1 / alpha
        betaOverAlpha = beta / alpha
    }

    @inline(__always)
    func step(_ p: UnsafeMutablePointer<Double>, gradient g: Double, l1: Double, l2: Double) {
        let n = p[2]
        let oldRoot = n.squareRoot()
        let newN = n + g * g
        let newRoot = newN.squareRoot()
        let z = p[1] + g - (newRoot - oldRoot) * inverseAlpha * p[0]
        p[1] = z
        p[2] = newN
        if abs(z) <= l1 {
            p[0] = 0
        } else {
            p[0] = -(z - (z < 0 ? -l1 : l1)) / (betaOverAlpha + newRoot * inverseAlpha + l2)
        }
    }
}
