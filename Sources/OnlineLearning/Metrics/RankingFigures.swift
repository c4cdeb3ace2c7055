/// Figures of how well scores rank positives above negatives that fraud teams read at low base rates: average
/// precision (the area under the precision-recall curve as scikit-learn's `average_precision_score` computes it:
/// Σ (Rₖ − Rₖ₋₁)·Pₖ over the distinct thresholds, tied scores as one threshold) and the recall reached while the
/// false-positive rate stays at or below 1%.
///
/// Fed one group of tied scores at a time, lowest score first, with the stream's class totals: the threshold at
/// a group flags it and every group above.
struct RankingFigures {
    /// The false-positive rate that ``recallAtFPR`` is read at.
    static let falsePositiveRate = 0.01

    let positives: Double
    let negatives: Double
    private var positivesBelow = 0.0
    private var negativesBelow = 0.0
    private(set) var averagePrecision = 0.0
    private(set) var recallAtFPR = 0.0

    init(positives: Int, negatives: Int) {
        self.positives = Double(positives)
        self.negatives = Double(negatives)
    }

    /// The next group of tied scores (ascending): `positivesHere` and `negativesHere` events share its score.
    @inline(__always)
    mutating func group(positives positivesHere: Double, negatives negativesHere: Double) {
        let truePositives = positives - positivesBelow
        let falsePositives = negatives - negativesBelow
        if positivesHere > 0 {
            averagePrecision += positivesHere / positives * truePositives / (truePositives + falsePositives)
        }
        if falsePositives <= Self.falsePositiveRate * negatives {
            recallAtFPR = max(recallAtFPR, truePositives / positives)
        }
        positivesBelow += positivesHere
        negativesBelow += negativesHere
    }
}
