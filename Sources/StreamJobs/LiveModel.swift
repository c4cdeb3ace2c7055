package import OnlineLearning

/// A frozen copy of the scoring model: what `POST /score` reads, never torn (a value, replaced whole).
public final class LiveModel: Sendable {
    package let classifier: ProgressiveClassifier
    /// Labelled events learned: the `model_version` of the stream's scores.
    package let version: Int
    package let threshold: Double

    package init(classifier: ProgressiveClassifier, version: Int, threshold: Double) {
        self.classifier = classifier
        self.version = version
        self.threshold = threshold
    }
}
