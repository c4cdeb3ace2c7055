import StreamCore

/// Defaults and limits of ``RollingPSI``.
public struct PSIConfiguration: Sendable, Hashable, Codable {
    /// Events in the reference (the first ones seen). Default 10,000.
    public var referenceSize = 10_000
    /// Events in the sliding current window. Default 10,000.
    public var windowSize = 10_000
    /// Events between evaluations once the window is full. Default 5,000.
    public var step = 5_000
    /// Bins of a numeric feature. Default 10.
    public var bins = 10
    /// Categories of a categorical feature kept from the reference (the most frequent), the rest share "other".
    /// Default 20.
    public var topCategories = 20
    /// Warning at PSI ≥ this. Default 0.1.
    public var warning = 0.1
    /// Critical at PSI ≥ this. Default 0.2.
    public var critical = 0.2

    public init() {}

    /// Throws ``DriftError/invalidConfiguration(key:reason:)`` naming the first bad key.
    public func validate() throws(DriftError) {
        for (key, value) in [("reference", referenceSize), ("window", windowSize), ("step", step), ("top_categories", topCategories)]
        where value < 1 {
            throw .invalidConfiguration(key: key, reason: "must be at least 1, got \(value)")
        }
        guard windowSize <= Int(Int32.max) else {
            throw .invalidConfiguration(key: "window", reason: "must be at most \(Int32.max), got \(windowSize)")
        }
        guard topCategories <= 65_534 else {
            throw .invalidConfiguration(key: "top_categories", reason: "must be at most 65534, got \(topCategories)")
        }
        guard (2...1_000).contains(bins) else {
            throw .invalidConfiguration(key: "bins", reason: "must be 2…1000, got \(bins)")
        }
        guard warning > 0, critical >= warning, critical.isFinite else {
            throw .invalidConfiguration(key: "critical", reason: "need 0 < warning ≤ critical, got \(warning), \(critical)")
        }
    }
}

/// One PSI evaluation: the current window `[start, end)` in 0-based event indices, and its PSI.
public struct PSIEvaluation: Sendable, Hashable {
    public var start: Int
    public var end: Int
    public var psi: Double

    public init(start: Int, end: Int, psi: Double) {
        self.start = start
        self.end = end
        self.psi = psi
    }
}

/// Rolling PSI of one feature (numeric, categorical, or the model's score) against a reference, by the exact
/// definition in ``PopulationStability``.
///
/// The first `referenceSize` events form the reference; from then on a sliding window of the last `windowSize`
/// events is compared with it every `step` events once full. Numeric bins have their inner edges at the
/// reference's quantiles; categorical bins are the reference's top categories plus "other". A missing value
/// (`NaN`, `null` or an absent field) counts in one more bin, "missing", in both — so a feature that starts or
/// stops being missing moves the PSI, and one that never is adds nothing.
///
/// - Complexity: per event O(log B) (numeric) or O(1) expected (categorical); memory O(B) for the reference and at
///   most O(window) for the window (``SlidingBinCounts``: O(B) with the default window and step); no allocation per
///   event after the reference.
public struct RollingPSI: Sendable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case numeric
        case categorical
    }

    public let kind: Kind
    public let configuration: PSIConfiguration
    /// Events seen (the next event's index).
    public private(set) var index = 0
    /// Numeric inner edges (after the reference).
    public private(set) var edges: [Double] = []
    /// Categorical bins (after the reference), in bin order.
    public private(set) var categories: [String] = []
    private var categoryTable = FeatureSchema()
    /// Reference proportions per bin (the last bin is "missing").
    public private(set) var referenceProportions: [Double] = []
    private var referenceNumbers: [Double] = []
    private var referenceCategories: [String: Int] = [:]
    private var referenceOrder: [String] = []
    private var referenceMissing = 0
    /// The current window's bin counts (after the reference; until then, one bin).
    private var window: SlidingBinCounts

    public init(kind: Kind, configuration: PSIConfiguration = .init()) throws(DriftError) {
        try configuration.validate()
        self.kind = kind
        self.configuration = configuration
        window = SlidingBinCounts(features: 1, bins: 1, window: configuration.windowSize, step: configuration.step)
    }

    enum CodingKeys: String, CodingKey {
        case kind, configuration, index, edges, categories, referenceProportions, referenceNumbers, referenceCategories
        case referenceOrder, referenceMissing, window
    }

    /// Refuses a state whose parts do not fit together (bins, window, reference), naming the key.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func corrupt(_ key: CodingKeys, _ reason: String) -> DecodingError {
            .dataCorruptedError(forKey: key, in: container, debugDescription: reason)
        }
        do {
            try self.init(
                kind: try container.decode(Kind.self, forKey: .kind),
                configuration: try container.decode(PSIConfiguration.self, forKey: .configuration))
        } catch let error as DriftError {
            throw corrupt(.configuration, error.description)
        }
        index = try container.decode(Int.self, forKey: .index)
        edges = try container.decode(ExtendedDoubles.self, forKey: .edges).values
        categories = try container.decode([String].self, forKey: .categories)
        referenceProportions = try container.decode([Double].self, forKey: .referenceProportions)
        referenceNumbers = try container.decode(ExtendedDoubles.self, forKey: .referenceNumbers).values
        referenceCategories = try container.decode([String: Int].self, forKey: .referenceCategories)
        referenceOrder = try container.decode([String].self, forKey: .referenceOrder)
        referenceMissing = try container.decode(Int.self, forKey: .referenceMissing)
        window = try container.decode(SlidingBinCounts.self, forKey: .window)
        guard window.features == 1, window.window == configuration.windowSize, window.step == configuration.step else {
            throw corrupt(.window, "the window does not fit one feature and the configuration")
        }
        if hasReference {
            let bins = (kind == .numeric ? edges.count : categories.count) + 2
            guard window.bins == bins, referenceProportions.count == bins else {
                throw corrupt(.window, "the window does not have the reference's \(bins) bins")
            }
            guard index == configuration.referenceSize + window.added else {
                throw corrupt(.index, "index \(index) does not follow from the reference and the window's events")
            }
            categoryTable = FeatureSchema(names: categories)
        } else {
            guard (0..<configuration.referenceSize).contains(index), window.added == 0 else {
                throw corrupt(.index, "index \(index) is past a reference that is not complete")
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(configuration, forKey: .configuration)
        try container.encode(index, forKey: .index)
        try container.encode(ExtendedDoubles(edges), forKey: .edges)
        try container.encode(categories, forKey: .categories)
        try container.encode(referenceProportions, forKey: .referenceProportions)
        try container.encode(ExtendedDoubles(referenceNumbers), forKey: .referenceNumbers)
        try container.encode(referenceCategories, forKey: .referenceCategories)
        try container.encode(referenceOrder, forKey: .referenceOrder)
        try container.encode(referenceMissing, forKey: .referenceMissing)
        try container.encode(window, forKey: .window)
    }

    /// Whether the reference is complete.
    public var hasReference: Bool { !referenceProportions.isEmpty }

    /// Observes a numeric value (`NaN`: missing); returns an evaluation when one is due.
    public mutating func observe(_ value: Double) -> PSIEvaluation? {
        precondition(kind == .numeric, "observe(_:) is for numeric features")
        if !hasReference {
            if value.isNaN { referenceMissing += 1 } else { referenceNumbers.append(value) }
            return advanceReference()
        }
        let bin = value.isNaN ? edges.count + 1 : edges.withUnsafeBufferPointer { PopulationStability.bin(of: value, in: $0) }
        return track(bin)
    }

    /// Observes a category given by its bytes (`nil`: missing); returns an evaluation when one is due.
    public mutating func observe(category: UnsafeRawBufferPointer?) -> PSIEvaluation? {
        precondition(kind == .categorical, "observe(category:) is for categorical features")
        if !hasReference {
            if let category {
                let name = String(decoding: category, as: UTF8.self)  // reference phase only
                if referenceCategories[name] == nil { referenceOrder.append(name) }
                referenceCategories[name, default: 0] += 1
            } else {
                referenceMissing += 1
            }
            return advanceReference()
        }
        let bins = categories.count + 2  // categories, other, missing
        guard let category else { return track(bins - 1) }
        let found = categoryTable.index(of: category, hash: fnv1a64(category), learn: false)
        return track(found ?? categories.count)
    }

    private mutating func advanceReference() -> PSIEvaluation? {
        index += 1
        guard index == configuration.referenceSize else { return nil }
        let total = Double(configuration.referenceSize)
        var referenceCounts: [Int]
        switch kind {
        case .numeric:
            referenceNumbers.sort()
            edges = PopulationStability.edges(sorted: referenceNumbers, bins: configuration.bins)
            referenceCounts = Array(repeating: 0, count: edges.count + 2)
            for value in referenceNumbers { referenceCounts[PopulationStability.bin(of: value, edges: edges)] += 1 }
            referenceCounts[edges.count + 1] = referenceMissing
        case .categorical:
            // The most frequent categories; ties by first appearance.
            let order = Dictionary(uniqueKeysWithValues: referenceOrder.enumerated().map { ($1, $0) })
            categories = Array(
                referenceCategories.sorted { ($0.value, order[$1.key]!) > ($1.value, order[$0.key]!) }
                    .prefix(configuration.topCategories).map(\.key))
            categoryTable = FeatureSchema(names: categories)
            referenceCounts = categories.map { referenceCategories[$0]! }
            referenceCounts.append(referenceCategories.values.reduce(0, +) - referenceCounts.reduce(0, +))
            referenceCounts.append(referenceMissing)
        }
        referenceProportions = referenceCounts.map { Double($0) / total }
        window = SlidingBinCounts(
            features: 1, bins: referenceCounts.count, window: configuration.windowSize, step: configuration.step)
        referenceNumbers = []
        referenceCategories = [:]
        referenceOrder = []
        return nil
    }

    @inline(__always)
    private mutating func track(_ bin: Int) -> PSIEvaluation? {
        index += 1
        guard window.add(SingleBin(bin: bin)) else { return nil }
        return PSIEvaluation(
            start: index - configuration.windowSize, end: index,
            psi: window.psi(feature: 0, against: referenceProportions[...]))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rolling PSI of several numeric features observed together, one row of values per event (the way a model's
/// dense features arrive): one call per event instead of one per feature, and the same evaluations as one
/// ``RollingPSI`` per feature, to the bit.
///
/// Built for the hot path: every feature's edges and the window's counts sit in flat arrays; bins are found by
/// counting edges ≤ value, one edge rank at a time across the whole row, so the comparisons vectorise over features
/// with no branches (a binary search per feature above 16 bins); one index and one window (``SlidingBinCounts``)
/// serve all features.
///
/// - Complexity: per event O(F · B) comparisons for B ≤ 16 bins, O(F · log B) above; memory O(F · R) during the
///   reference, then O(F · B) for edges and counts, and for the window O(F · B) with the default window and step
///   (at most O(F · window)); no allocation per event after the reference.
public struct RollingPSIGroup: Sendable, Codable {
    /// Features per row.
    public let features: Int
    public let configuration: PSIConfiguration
    /// Events seen (the next event's index).
    public private(set) var index = 0
    /// The reference's rows, one after another (`NaN`: missing); emptied once the edges are known.
    private var reference: [Double] = []
    /// Inner edges by groups of four features (``DoubleLanes``), each group's ranks one after another: edge k of
    /// feature f at `((f / 4) · (bins − 1) + k) · 4 + f % 4`, so a group's comparisons load consecutive lanes at
    /// fixed offsets. `NaN` edges where a feature was missing throughout the reference and in the lanes past the
    /// last feature (they compare false with everything).
    private var edges: [Double] = []

    /// The size of ``edges`` for `features` features of `bins` bins.
    static func edgeStorage(features: Int, bins: Int) -> Int {
        (features + DoubleLanes.scalarCount - 1) / DoubleLanes.scalarCount * (bins - 1) * DoubleLanes.scalarCount
    }
    /// Reference proportions, `bins + 1` per feature (the last is "missing").
    private var referenceProportions: [Double] = []
    /// The current window's counts, `bins + 1` per feature (filled after the reference).
    private var window: SlidingBinCounts

    enum CodingKeys: String, CodingKey {
        case features, configuration, index, reference, edges, referenceProportions, window
    }

    public init(features: Int, configuration: PSIConfiguration = .init()) throws(DriftError) {
        try configuration.validate()
        guard features >= 1 else { throw .invalidConfiguration(key: "features", reason: "must be at least 1, got \(features)") }
        self.features = features
        self.configuration = configuration
        window = SlidingBinCounts(
            features: features, bins: configuration.bins + 1, window: configuration.windowSize, step: configuration.step)
    }

    /// Refuses a state whose parts do not fit together (sizes, window, reference), naming the key.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func corrupt(_ key: CodingKeys, _ reason: String) -> DecodingError {
            .dataCorruptedError(forKey: key, in: container, debugDescription: reason)
        }
        let configuration = try container.decode(PSIConfiguration.self, forKey: .configuration)
        do {
            try self.init(features: try container.decode(Int.self, forKey: .features), configuration: configuration)
        } catch let error as DriftError {
            throw corrupt(.configuration, error.description)
        }
        index = try container.decode(Int.self, forKey: .index)
        reference = try container.decode(ExtendedDoubles.self, forKey: .reference).values
        let featureEdges = try container.decode([ExtendedDoubles].self, forKey: .edges).map(\.values)
        referenceProportions = try container.decode([Double].self, forKey: .referenceProportions)
        window = try container.decode(SlidingBinCounts.self, forKey: .window)
        let stride = configuration.bins + 1
        guard window.features == features, window.bins == stride, window.window == configuration.windowSize,
            window.step == configuration.step
        else { throw corrupt(.window, "the window does not fit \(features) features and the configuration") }
        if !referenceProportions.isEmpty {
            guard featureEdges.count == features, featureEdges.allSatisfy({ $0.count == configuration.bins - 1 }) else {
                throw corrupt(.edges, "edges for \(featureEdges.count) features, expected \(configuration.bins - 1) for each of \(features)")
            }
            placeEdges(featureEdges)
            guard referenceProportions.count == features * stride else {
                throw corrupt(.referenceProportions, "\(referenceProportions.count) proportions for \(features * stride) bins")
            }
            guard index == configuration.referenceSize + window.added, reference.isEmpty else {
                throw corrupt(.index, "index \(index) does not follow from the reference and the window's events")
            }
        } else {
            guard (0..<configuration.referenceSize).contains(index), reference.count == index * features,
                featureEdges.isEmpty, window.added == 0
            else { throw corrupt(.reference, "a reference of \(reference.count) values at index \(index) is inconsistent") }
        }
    }

    /// Edges are written per feature in rank order (not in the lanes' layout), values that JSON has no number
    /// for as strings (``ExtendedDoubles``).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(features, forKey: .features)
        try container.encode(configuration, forKey: .configuration)
        try container.encode(index, forKey: .index)
        try container.encode(ExtendedDoubles(reference), forKey: .reference)
        let ranks = configuration.bins - 1
        let featureEdges = hasReference ? (0..<features).map { feature in
            ExtendedDoubles((0..<ranks).map { edges[Self.edgeOffset(feature: feature, rank: $0, ranks: ranks)] })
        } : []
        try container.encode(featureEdges, forKey: .edges)
        try container.encode(referenceProportions, forKey: .referenceProportions)
        try container.encode(window, forKey: .window)
    }

    /// Where edge `rank` of `feature` sits in ``edges``.
    static func edgeOffset(feature: Int, rank: Int, ranks: Int) -> Int {
        let lanes = DoubleLanes.scalarCount
        return (feature / lanes * ranks + rank) * lanes + feature % lanes
    }

    /// Lays out each feature's edges (rank order) in ``edges``; `NaN` in the lanes past the last feature.
    private mutating func placeEdges(_ featureEdges: [[Double]]) {
        let ranks = configuration.bins - 1
        edges = Array(repeating: .nan, count: Self.edgeStorage(features: features, bins: configuration.bins))
        for (feature, values) in featureEdges.enumerated() {
            for (rank, edge) in values.enumerated() { edges[Self.edgeOffset(feature: feature, rank: rank, ranks: ranks)] = edge }
        }
    }

    /// Whether the reference is complete.
    public var hasReference: Bool { !referenceProportions.isEmpty }

    /// Observes one event's values (`NaN`: missing; a row shorter than the group counts the rest as missing) and
    /// calls `report` with the feature index and evaluation of every evaluation now due.
    public mutating func observe(_ row: UnsafeBufferPointer<Double>, report: (Int, PSIEvaluation) -> Void) {
        guard hasReference else {
            for feature in 0..<features { reference.append(feature < row.count ? row[feature] : .nan) }
            index += 1
            if index == configuration.referenceSize { completeReference() }
            return
        }
        let due = edges.withUnsafeBufferPointer { edges in
            window.add(RowPlacer(row: row, edges: edges.baseAddress!, features: features, edgeCount: configuration.bins - 1))
        }
        index += 1
        guard due else { return }
        let stride = configuration.bins + 1
        for feature in 0..<features {
            let psi = window.psi(feature: feature, against: referenceProportions[(feature * stride)..<((feature + 1) * stride)])
            report(feature, PSIEvaluation(start: index - configuration.windowSize, end: index, psi: psi))
        }
    }

    /// Bins one row: each feature's bin is the number of its edges ≤ its value, or "missing" (one past the last).
    struct RowPlacer: BinPlacer {
        let row: UnsafeBufferPointer<Double>
        /// By groups of four features (see ``RollingPSIGroup/edges``).
        let edges: UnsafePointer<Double>
        let features: Int
        let edgeCount: Int

        @inline(__always)
        func place<Sink: BinSink>(into sink: inout Sink) {
            let missing = edgeCount + 1
            let known = min(row.count, features)
            let lanes = DoubleLanes.scalarCount
            if edgeCount <= 15, let values = row.baseAddress {
                // The number of edges ≤ value, four features at a time; the counts stay in registers across the
                // ranks, and the default 10 bins get a loop of constant length, which the compiler unrolls.
                let one = SIMD4<Int64>(repeating: 1)
                var feature = 0
                while feature < known {
                    let value = values.lanes(at: feature, limit: known)
                    let group = edges + feature &* edgeCount
                    var below = SIMD4<Int64>(repeating: 0)
                    @inline(__always) func countBelow(ranks: Int) {
                        for rank in 0..<ranks {
                            let edge = UnsafeRawPointer(group + rank &* lanes).loadUnaligned(as: DoubleLanes.self)
                            below = below.replacing(with: below &+ one, where: edge .<= value)
                        }
                    }
                    if edgeCount == 9 { countBelow(ranks: 9) } else { countBelow(ranks: edgeCount) }
                    below.replace(with: Int64(missing), where: value .!= value)
                    for lane in 0..<min(lanes, known - feature) {
                        sink.add(feature: feature + lane, bin: Int(below[lane]))
                    }
                    feature += lanes
                }
            } else {
                // A branch-free binary search per feature over its edges, `lanes` apart.
                for feature in 0..<known {
                    let value = row[feature]
                    let first = edges + RollingPSIGroup.edgeOffset(feature: feature, rank: 0, ranks: edgeCount)
                    var base = 0
                    var remaining = edgeCount
                    while remaining > 1 {
                        let half = remaining / 2
                        base = first[(base + half) &* lanes] <= value ? base + half : base
                        remaining -= half
                    }
                    let bin = base + (first[base &* lanes] <= value ? 1 : 0)
                    sink.add(feature: feature, bin: value.isNaN ? missing : bin)
                }
            }
            for feature in known..<features { sink.add(feature: feature, bin: missing) }
        }
    }

    /// Edges at the reference's quantiles and its proportions, per feature; then the reference rows go.
    private mutating func completeReference() {
        let rows = configuration.referenceSize
        let stride = configuration.bins + 1
        let total = Double(rows)
        var allEdges: [[Double]] = []
        referenceProportions = []
        referenceProportions.reserveCapacity(features * stride)
        for feature in 0..<features {
            var values = (0..<rows).map { reference[$0 * features + feature] }.filter { !$0.isNaN }
            values.sort()
            let missing = rows - values.count
            // A feature missing throughout has no edges: every value then lands in bin 0, as with one detector.
            var featureEdges = PopulationStability.edges(sorted: values, bins: configuration.bins)
            // (NaN edges compare false with everything; the bins they leave empty add exactly 0 to the PSI.)
            if featureEdges.isEmpty { featureEdges = Array(repeating: .nan, count: configuration.bins - 1) }
            var referenceCounts = Array(repeating: 0, count: stride)
            for value in values { referenceCounts[PopulationStability.bin(of: value, edges: featureEdges)] += 1 }
            referenceCounts[stride - 1] = missing
            allEdges.append(featureEdges)
            referenceProportions.append(contentsOf: referenceCounts.map { Double($0) / total })
        }
        placeEdges(allEdges)
        reference = []
    }
}
