public import StreamCore

/// Scores decoded events and learns from their labels with progressive validation (predict, then learn): a
/// ``FeatureVectorizer``, a ``LogisticRegression`` and ``ProgressiveMetrics``, snapshotted together so a restart
/// keeps the feature schema that the weights are indexed by.
///
/// - Complexity: O(fields) per event plus O(log n) for the exact ROC-AUC; no allocation once warm.
public struct ProgressiveClassifier: OnlineLearner {
    public static let snapshotKind = "progressive-classifier"
    /// 2: cumulative ROC-AUC in fixed memory by default (``BinnedROCAUC``); version 1 is refused by name.
    public static let snapshotVersion = 2

    public private(set) var vectorizer: FeatureVectorizer
    public private(set) var model: LogisticRegression
    public private(set) var metrics: ProgressiveMetrics
    /// Events scored, labelled or not.
    public private(set) var scored = 0
    /// Events refused by the model (non-finite or out of range), never learned.
    public private(set) var refused = 0
    /// Keyed aggregates (``FeatureSpaceConfiguration/aggregation``), filled into their dense slots before the
    /// model sees an event.
    public private(set) var aggregates: KeyedAggregates?
    /// Each aggregate's dense index (from the schema; not part of the state).
    @usableFromInline var aggregateSlots: [Int] = []
    /// Reused between events; not part of the state.
    @usableFromInline var vector = FeatureVector()

    /// Throws when the model's configuration is invalid or its `hashBits` differ from the feature space's.
    public init(
        features: FeatureSpaceConfiguration = .init(), model: LogisticRegressionConfiguration = .init(),
        threshold: Double = 0.5, window: Int? = 1_000, exactROCAUC: Bool = false
    ) throws(LearningError) {
        guard model.hashBits == features.hashBits else {
            throw .invalidConfiguration(
                key: "hash_bits", reason: "model has \(model.hashBits), feature space \(features.hashBits)")
        }
        guard (0...1).contains(threshold) else {
            throw .invalidConfiguration(key: "threshold", reason: "must be in [0, 1], got \(threshold)")
        }
        if let window, window < 1 {
            throw .invalidConfiguration(key: "window", reason: "must be at least 1, got \(window)")
        }
        vectorizer = FeatureVectorizer(configuration: features)
        self.model = try LogisticRegression(configuration: model)
        metrics = ProgressiveMetrics(threshold: threshold, window: window, exactROCAUC: exactROCAUC)
        if let aggregation = features.aggregation, !aggregation.aggregates.isEmpty {
            do {
                aggregates = try KeyedAggregates(configuration: aggregation)
            } catch {
                throw .invalidConfiguration(key: "aggregates.\(error.path)", reason: error.reason)
            }
            bindAggregates()
        }
    }

    enum CodingKeys: String, CodingKey {
        case vectorizer, model, metrics, scored, refused, aggregates
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        vectorizer = try container.decode(FeatureVectorizer.self, forKey: .vectorizer)
        model = try container.decode(LogisticRegression.self, forKey: .model)
        metrics = try container.decode(ProgressiveMetrics.self, forKey: .metrics)
        scored = try container.decode(Int.self, forKey: .scored)
        refused = try container.decode(Int.self, forKey: .refused)
        aggregates = try container.decodeIfPresent(KeyedAggregates.self, forKey: .aggregates)
        // An aggregation without aggregates has no state, as in `init`.
        let expected = vectorizer.configuration.aggregation.flatMap { $0.aggregates.isEmpty ? nil : $0 }
        if aggregates?.configuration != expected {
            throw DecodingError.dataCorruptedError(
                forKey: .aggregates, in: container,
                debugDescription: "the keyed aggregates differ from the feature space's configuration")
        }
        bindAggregates()
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(vectorizer, forKey: .vectorizer)
        try container.encode(model, forKey: .model)
        try container.encode(metrics, forKey: .metrics)
        try container.encode(scored, forKey: .scored)
        try container.encode(refused, forKey: .refused)
        try container.encodeIfPresent(aggregates, forKey: .aggregates)
    }

    private mutating func bindAggregates() {
        aggregateSlots = (aggregates?.configuration.aggregates ?? []).map { vectorizer.schema.index(of: $0.name)! }
    }

    /// The event's features: the vectorizer's, then its aggregates from the keys' history (added to it with
    /// `update`).
    @inline(__always)
    mutating func features(_ event: DecodedEvent, update: Bool) {
        vectorizer.vectorize(event, into: &vector)
        if aggregates != nil { aggregates!.apply(event, slots: aggregateSlots, into: &vector, update: update) }
    }

    /// The probability that `event` is positive (the vectorizer may learn new feature names). Aggregates are read
    /// from the keys' history as it is; the event is not added to it.
    public mutating func predict(_ event: DecodedEvent) -> Double {
        features(event, update: false)
        return model.predict(vector)
    }

    /// Scores `event`; when it carries a label, records the score in the metrics and learns from it.
    public mutating func learn(_ event: DecodedEvent) throws(LearningError) {
        _ = try process(event)
    }

    /// Calls `body` with the dense values of the event last scored, in schema order, as they arrived (before
    /// standardisation; `NaN`: missing), in place: no copy. The buffer is valid only inside `body`. Mutating only
    /// so that a caller holding the classifier in a larger state reaches it in place (as a non-mutating call, the
    /// compiler copied the whole classifier per event there); nothing of the classifier changes.
    @inlinable
    public mutating func withLastDenseValues<Result>(
        _ body: (UnsafeBufferPointer<Double>) throws -> Result
    ) rethrows -> Result {
        try vector.dense.withUnsafeBufferPointer(body)
    }

    /// ``withLastDenseValues(_:)`` that also hands `body` a value to update in place, such as detectors kept beside
    /// the classifier in one state (a closure capturing them would need the whole state).
    @inlinable
    public mutating func withLastDenseValues<Value, Result>(
        updating value: inout Value, _ body: (UnsafeBufferPointer<Double>, inout Value) throws -> Result
    ) rethrows -> Result {
        try vector.dense.withUnsafeBufferPointer { try body($0, &value) }
    }

    /// Scores `event` without learning (its label, if any, is ignored), as when its label will come later; the
    /// vectorizer may learn new feature names. ``lastVector`` then holds its features, to learn from with
    /// ``learn(_:label:score:)`` when the label arrives.
    ///
    /// Throws (counting it as ``refused``, not scored) when a value is beyond what the model can learn: an event
    /// that could never be learned when its label comes is refused now, as an inline-labelled one is.
    public mutating func score(_ event: DecodedEvent) throws(LearningError) -> Double {
        features(event, update: true)
        let probability: Double
        do {
            probability = try model.predictLearnable(vector)
        } catch {
            refused += 1
            throw named(error)
        }
        scored += 1
        return probability
    }

    /// One feature's part in a score: `contribution` is what it added to the log-odds (weight × standardised
    /// value; a missing value's weight; a hashed feature's weight × value).
    public struct Contribution: Sendable, Hashable {
        public var feature: String
        public var value: FeatureValue
        public var contribution: Double
    }

    /// The `count` largest contributions to the score of `event`, the event last scored or predicted (its
    /// features are still in the classifier's buffer), largest first. Allocates: for explanations only.
    public func explainLast(_ event: DecodedEvent, count: Int) -> [Contribution] {
        guard count > 0 else { return [] }
        var all: [Contribution] = []
        let names = vectorizer.schema.names
        for (index, value) in vector.dense.enumerated() where index < names.count {
            let contribution = model.denseContribution(at: index, value: value)
            guard contribution != 0 else { continue }
            all.append(Contribution(feature: names[index], value: value.isNaN ? .missing : .number(value), contribution: contribution))
        }
        let hashedNames = vectorizer.hashedNames(event)
        for (position, bucket) in vector.hashedIndices.enumerated() where position < hashedNames.count {
            let contribution = model.hashedContribution(bucket: bucket, value: vector.hashedValues[position])
            guard contribution != 0 else { continue }
            all.append(Contribution(feature: hashedNames[position].feature, value: hashedNames[position].value, contribution: contribution))
        }
        all.sort { $0.contribution != $1.contribution ? $0.contribution > $1.contribution : $0.feature < $1.feature }
        return Array(all.prefix(count))
    }

    /// The `count` weights largest in magnitude, by feature name: dense features by their schema name (the weight
    /// of a standardised value), hashed ones by the name the vectorizer first met in their bucket (buckets it
    /// has no name for are left out).
    public func largestWeights(count: Int) -> [(feature: String, weight: Double)] {
        var all: [(feature: String, weight: Double)] = []
        let weights = model.denseWeights
        for (index, name) in vectorizer.schema.names.enumerated() where index < weights.count && weights[index] != 0 {
            all.append((name, weights[index]))
        }
        for (bucket, name) in vectorizer.hashedNames.entries {
            let weight = model.hashedContribution(bucket: bucket, value: 1)
            if weight != 0 { all.append((name, weight)) }
        }
        all.sort { abs($0.weight) != abs($1.weight) ? abs($0.weight) > abs($1.weight) : $0.feature < $1.feature }
        return Array(all.prefix(count))
    }

    /// Takes back the count of the event last scored, which the caller did not answer (a duplicate id).
    public mutating func withdrawLastScore() { scored -= 1 }

    /// The features of the event last scored (a copy: for holding until its label arrives).
    public var lastVector: FeatureVector { vector }

    /// Learns from features held since they were scored (``score(_:)``), now that their label has come; the
    /// metrics record `score`, the probability given when the event arrived (progressive validation with
    /// delayed labels, as River's `simulate_qa`). Throws (learning nothing, metrics unchanged) when the model
    /// refuses the values.
    ///
    /// `labelTime` (epoch ms; the newest event's when `nil`) is when the label became known: the event's keys
    /// learn it into their target aggregates at that time.
    public mutating func learn(
        _ features: FeatureVector, label: Bool, score: Double, labelTime: Int64? = nil
    ) throws(LearningError) {
        do {
            try model.predictThenLearn(features, label: label)
            metrics.update(probability: score, label: label)
            if aggregates != nil { aggregates!.learnLabel(keys: features.targetKeys, positive: label, at: labelTime) }
        } catch {
            refused += 1
            throw named(error)
        }
    }

    /// The model's error with its dense feature index replaced by the feature's name.
    func named(_ error: LearningError) -> LearningError {
        func rename(_ text: String) -> String {
            let prefix = "dense feature "
            guard text.hasPrefix(prefix) else { return text }
            let rest = text.dropFirst(prefix.count)
            let digits = rest.prefix { $0.isNumber }
            guard let index = Int(digits), index < vectorizer.schema.names.count else { return text }
            return "feature '\(vectorizer.schema.names[index])'" + rest.dropFirst(digits.count)
        }
        switch error {
        case .nonFinite(let text): return .nonFinite(rename(text))
        case .outOfRange(let text): return .outOfRange(rename(text))
        default: return error
        }
    }

    /// Scores `event` before learning; when it has a label, updates the metrics, then learns. Returns the score.
    /// Throws (learning nothing, metrics unchanged) when the model refuses the event's values.
    @discardableResult
    public mutating func process(_ event: DecodedEvent) throws(LearningError) -> Double {
        features(event, update: true)
        scored += 1
        guard let label = event.label else { return model.predict(vector) }
        let positive = label != 0
        do {
            let probability = try model.predictThenLearn(vector, label: positive)
            metrics.update(probability: probability, label: positive)
            if aggregates != nil {
                aggregates!.learnLabel(keys: vector.targetKeys, positive: positive, at: event.timestampMilliseconds)
            }
            return probability
        } catch {
            refused += 1
            throw named(error)
        }
    }
}
