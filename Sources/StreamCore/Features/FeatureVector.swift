/// An event's features as numbers, ready for a learner; a reusable buffer like ``DecodedEvent``.
///
/// - ``dense``: one slot per numeric feature of the schema, by index. A feature the event lacks, or gives as
///   `null`, is `NaN`: *missing*, never zero. Learners must treat `NaN` as missing (the decoder rejects non-finite
///   input, so `NaN` means nothing else).
/// - ``hashedIndices``/``hashedValues``: sparse hashed features (categorical `name=value`, crosses, numeric
///   features beyond the schema), bucket indices in `0..<2^hashBits`.
public struct FeatureVector: Sendable, Hashable, Codable {
    public var dense: [Double] = []
    public var hashedIndices: [UInt32] = []
    public var hashedValues: [Double] = []
    /// The event's key per key group with target aggregates (``AggregationConfiguration``), so that its label can
    /// be learned into them when it comes; empty without target aggregates.
    public var targetKeys: [UInt64] = []

    public init() {}

    /// How many dense slots are missing.
    public var missingCount: Int { dense.reduce(0) { $0 + ($1.isNaN ? 1 : 0) } }
}

/// How ``FeatureVectorizer`` turns decoded events into ``FeatureVector``s.
public struct FeatureSpaceConfiguration: Sendable, Hashable, Codable {
    /// Hashed features go into 2^`hashBits` buckets. Default 20 (1,048,576 buckets); at most 30.
    public var hashBits: Int = 20
    /// MurmurHash3 seed for feature hashing. Default 0 (`mmh3.hash(b"country=FR", 0)` gives the same bucket).
    public var hashSeed: UInt32 = 0
    /// Signed hashing (Weinberger et al. 2009): bit 31 of the hash gives each hashed value a ±1 sign, so
    /// collisions cancel out in expectation. Default `false`.
    public var signedHashing: Bool = false
    /// A fixed dense schema (numeric feature names, in index order). `nil` (default): learned on the fly, each
    /// new numeric name taking the next index, up to ``maxDenseFeatures``.
    public var numericFeatures: [String]? = nil
    /// Numeric features beyond a full or fixed schema are hashed by name instead. Default 1,024.
    public var maxDenseFeatures: Int = 1_024
    /// Feature crosses `[a, b]` or `[a, b, c]` (Vowpal Wabbit's `-q`/`--cubic`): numeric sides multiply the
    /// value, categorical sides join the hashed name (`a=x×b=y` with 1; `a=x×b` with b's value; `a×b` with the
    /// product). A cross is skipped for an event that lacks one of its fields.
    public var interactions: [[String]] = []
    /// Keyed aggregates, each a dense feature named by its aggregate (kept by the classifier). Default none.
    public var aggregation: AggregationConfiguration? = nil

    public init() {}
}
