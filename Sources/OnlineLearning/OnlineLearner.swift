/// The one shape of every StreamLearn learner: predict for one input, learn from one piece of feedback
/// (River's `predict_one` / `learn_one`, with Swift names).
///
/// Learners are value types with no global state: copying one forks it, and the same seed and the same inputs
/// give the same predictions everywhere. Every learner encodes to a versioned snapshot (``Snapshot``) from which
/// it continues bit for bit. Learning rejects non-finite input with ``LearningError/nonFinite(_:)`` and leaves the
/// learner unchanged, so `NaN` or `Inf` never reaches a weight. Once warm, neither call allocates.
///
/// | Learner | `Query` | `Prediction` | `Feedback` |
/// |---|---|---|---|
/// | ``LogisticRegression`` | ``FeatureVector`` | probability of the positive class | ``LabeledExample`` |
/// | bandit policies (``BanditPolicy``) | ``BanditContext`` | ``ArmChoice`` (arm and propensity) | ``BanditFeedback`` |
/// | ``TabularAgent`` (Q-learning, SARSA, Expected SARSA) | state | action | ``Transition`` |
public protocol OnlineLearner: Snapshotable {
    associatedtype Query
    associatedtype Prediction
    associatedtype Feedback

    /// The prediction for one query. Mutating because some learners draw randomness (a bandit's exploration);
    /// deterministic learners implement it without mutation.
    mutating func predict(_ query: Query) -> Prediction

    /// Learns from one piece of feedback; throws (and changes nothing) on non-finite or out-of-range input.
    mutating func learn(_ feedback: Feedback) throws(LearningError)
}

/// State that ``Snapshot`` can write and read: every learner, and anything that bundles learners with other
/// versioned state (a runtime's detectors, say).
public protocol Snapshotable: Sendable, Codable {
    /// The state's name in snapshots, e.g. `"logistic-regression"`.
    static var snapshotKind: String { get }
    /// The version of this state's layout; bumped whenever the encoded state changes meaning.
    static var snapshotVersion: Int { get }
}

/// What went wrong in ``OnlineLearning``: bad input to a learner, a bad configuration, or a snapshot that cannot
/// be loaded. Every case's message names the field, key or version at fault.
public enum LearningError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An input value is `NaN` or infinite where a finite number is required; names the field.
    case nonFinite(String)
    /// An input is outside the learner's range (an arm or state index, a reward scale); says which and why.
    case outOfRange(String)
    /// A configuration value is invalid; names the key.
    case invalidConfiguration(key: String, reason: String)
    /// A snapshot cannot be loaded; says why (format, kind, version, or the decoding error's path).
    case invalidSnapshot(String)

    public var description: String {
        switch self {
        case .nonFinite(let field): "non-finite input: \(field)"
        case .outOfRange(let reason): "input out of range: \(reason)"
        case .invalidConfiguration(let key, let reason): "invalid configuration '\(key)': \(reason)"
        case .invalidSnapshot(let reason): "invalid snapshot: \(reason)"
        }
    }
}

extension LearningError {
    static func requireFinite(_ value: Double, _ field: @autoclosure () -> String) throws(LearningError) {
        guard value.isFinite else { throw .nonFinite("\(field()) = \(value)") }
    }
}

/// The one range check for every number a learner learns: feature values, bandit contexts and rewards, and
/// transitions' rewards. Values beyond ±``maxMagnitude`` are refused (naming the field) rather than clipped: a
/// value that large is a unit or encoding error in practice, and squares and products of it (a standardiser's sum
/// of squares, LinUCB's `x·xᵀ`, a Q-value's discounted sum) overflow to infinity, which no snapshot can hold.
public enum LearnableValue: Sendable {
    /// 1e100: its square is still finite (about 1e200 of the 1.8e308 a `Double` holds).
    public static let maxMagnitude = 1e100

    /// Throws ``LearningError/nonFinite(_:)`` for `NaN` or an infinity and ``LearningError/outOfRange(_:)``
    /// beyond ±``maxMagnitude``, naming `field`.
    @inlinable
    public static func check(_ value: Double, _ field: @autoclosure () -> String) throws(LearningError) {
        guard abs(value) <= maxMagnitude else { throw refusal(value, field()) }
    }

    @usableFromInline
    static func refusal(_ value: Double, _ field: String) -> LearningError {
        value.isFinite
            ? .outOfRange("\(field) = \(value): beyond ±1e100, too large to learn safely")
            : .nonFinite("\(field) = \(value)")
    }

    /// ``check(_:_:)`` for every value, naming the first refused as `field[index]`.
    public static func check(_ values: [Double], _ field: String) throws(LearningError) {
        for (index, value) in values.enumerated() where !(abs(value) <= maxMagnitude) {
            throw refusal(value, "\(field)[\(index)]")
        }
    }
}
