import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A labelled stream from a known logistic model, to check learners against the truth.
///
/// Each event has an integer `id`, numeric features `f0`…`f{n−1}` and a 0/1 `label`. Feature j is
/// `mean_j + scale_j · z` with z standard normal, scale 1, 10, 100, 1000 cycling (unscaled, as real data is) and
/// mean `scale_j · (j mod 3)`, printed with 3 decimals. The label is drawn from
/// `sigmoid(bias + Σ weight_j · (x_j − mean_j) / scale_j)`, computed from the printed values; features at index
/// ≥ `relevant` have weight 0 (irrelevant, for L1 tests). The same seed gives byte-identical output.
public struct LogisticStreamGenerator: Sendable {
    public let featureCount: Int
    /// The hidden model's weights on standardised features.
    public let weights: [Double]
    /// The hidden model's intercept. Default −1.5 (about 25% positives).
    public let bias: Double
    public let means: [Double]
    public let scales: [Double]
    private var random: SeededRandom
    public private(set) var nextID: Int

    public init(seed: UInt64, features: Int = 20, relevant: Int = 10, bias: Double = -1.5) {
        precondition(features >= 1 && relevant >= 0 && relevant <= features, "need 0 ≤ relevant ≤ features ≥ 1")
        featureCount = features
        self.bias = bias
        scales = (0..<features).map { [1.0, 10, 100, 1000][$0 % 4] }
        means = (0..<features).map { [1.0, 10, 100, 1000][$0 % 4] * Double($0 % 3) }
        weights = (0..<features).map { j in
            guard j < relevant else { return 0 }
            let magnitude = 0.4 + 0.2 * Double(j % 5)
            return j % 2 == 0 ? magnitude : -magnitude
        }
        random = SeededRandom(seed: seed)
        nextID = 1
    }

    /// The next event as JSON (no newline) and the true probability of its label.
    public mutating func next() -> (json: String, probability: Double, label: Bool) {
        var json = "{\"id\":\(nextID)"
        nextID += 1
        var logit = bias
        for j in 0..<featureCount {
            let text = TransactionGenerator.fixed(means[j] + scales[j] * random.nextGaussian(), decimals: 3)
            let value = Double(text) ?? 0
            logit += weights[j] * (value - means[j]) / scales[j]
            json += ",\"f\(j)\":\(text)"
        }
        let probability = 1 / (1 + exp(-logit))
        let label = random.nextUnitDouble() < probability
        json += ",\"label\":\(label ? 1 : 0)}"
        return (json, probability, label)
    }
}
