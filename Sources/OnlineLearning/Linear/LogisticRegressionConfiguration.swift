public import StreamCore

/// How a ``LogisticRegression`` learns. The defaults work on unscaled data without tuning: features are
/// standardised online, missing values get their own weights, and AdaGrad runs at rate 0.1 (the best progressive
/// ROC-AUC of the three optimizers on our streams; SGD at 0.01 reproduces River's defaults exactly).
public struct LogisticRegressionConfiguration: Sendable, Hashable, Codable {
    /// Default ``Optimizer/defaultAdaGrad`` (rate 0.1, epsilon 1e-8).
    public var optimizer: Optimizer = .defaultAdaGrad
    /// L1 penalty on feature weights (not the intercept). Default 0.
    public var l1: Double = 0
    /// L2 penalty on feature weights (not the intercept). Default 0.
    public var l2: Double = 0
    /// Weight of a positive event's loss, for rare positives (fraud is ~2%: 5–50 is usual). Default 1.
    public var positiveClassWeight: Double = 1
    /// Each coordinate's loss gradient is clipped to ±this. Default 100.
    public var gradientClip: Double = 100
    /// Learn an intercept. Default `true`.
    public var fitIntercept: Bool = true
    /// Standardise dense features online (Welford mean and deviation, part of the snapshot). Default `true`.
    ///
    /// The prediction uses the scaling before the event; the standardiser then learns the event first and the
    /// gradient uses the updated scaling (River's `StandardScaler | LogisticRegression` order), which bounds an
    /// event's scaled value by √(n − 1) so early events cannot produce huge gradients.
    public var standardize: Bool = true
    /// A missing dense feature (`NaN`) contributes a learned per-feature "missing" weight instead of nothing.
    /// Default `true`; when `false` a missing feature contributes 0 (mean imputation after standardisation).
    public var missingIndicators: Bool = true
    /// Hashed features index 2^`hashBits` weights, allocated on the first hashed feature. Must match the
    /// vectorizer's ``FeatureSpaceConfiguration/hashBits``. Default 20.
    public var hashBits: Int = 20

    public init() {}

    /// Throws ``LearningError/invalidConfiguration(key:reason:)`` naming the first bad key.
    public func validate() throws(LearningError) {
        try optimizer.validate(key: "optimizer")
        for (key, value) in [("l1", l1), ("l2", l2)] where !(value >= 0 && value.isFinite) {
            throw .invalidConfiguration(key: key, reason: "must be a finite number at least 0, got \(value)")
        }
        guard positiveClassWeight > 0, positiveClassWeight.isFinite else {
            throw .invalidConfiguration(
                key: "positive_class_weight", reason: "must be positive, got \(positiveClassWeight)")
        }
        guard gradientClip > 0, !gradientClip.isNaN else {
            throw .invalidConfiguration(key: "gradient_clip", reason: "must be positive, got \(gradientClip)")
        }
        guard (1...30).contains(hashBits) else {
            throw .invalidConfiguration(key: "hash_bits", reason: "must be 1…30, got \(hashBits)")
        }
    }
}

/// One labelled event for ``LogisticRegression/learn(_:)``.
public struct LabeledExample: Sendable {
    public var features: FeatureVector
    public var label: Bool
    /// Importance weight of this event (multiplies the class weight). Default 1.
    public var weight: Double

    public init(features: FeatureVector, label: Bool, weight: Double = 1) {
        self.features = features
        self.label = label
        self.weight = weight
    }
}
