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
/// - Complexity: per event O(log B) (numeric) or O(1) expected (categorical); memory O(B) for the reference and
///   O(window) for the window's bin indices; no allocation per event after the reference.
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
    private var window: [UInt16] = []
    private var head = 0
    private var counts: [Int] = []
    private var sinceEvaluation = 0
    private var evaluated = false

    public init(kind: Kind, configuration: PSIConfiguration = .init()) throws(DriftError) {
        try configuration.validate()
        self.kind = kind
        self.configuration = configuration
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
        counts = Array(repeating: 0, count: referenceCounts.count)
        window.reserveCapacity(configuration.windowSize)
        referenceNumbers = []
        referenceCategories = [:]
        referenceOrder = []
        return nil
    }

    @inline(__always)
    private mutating func track(_ bin: Int) -> PSIEvaluation? {
        index += 1
        let size = configuration.windowSize
        if window.count < size {
            counts[bin] += 1
            window.append(UInt16(truncatingIfNeeded: bin))
            guard window.count == size else { return nil }
        } else {
            let position = head
            counts.withUnsafeMutableBufferPointer { counts in
                window.withUnsafeMutableBufferPointer { window in
                    counts[Int(window[position])] -= 1
                    counts[bin] += 1
                    window[position] = UInt16(truncatingIfNeeded: bin)
                }
            }
            head = position + 1 == size ? 0 : position + 1
        }
        sinceEvaluation += 1
        guard !evaluated || sinceEvaluation >= configuration.step else { return nil }
        evaluated = true
        sinceEvaluation = 0
        return PSIEvaluation(start: index - configuration.windowSize, end: index, psi: currentPSI())
    }

    /// The PSI of the current window against the reference (window proportions are count / window length).
    public func currentPSI() -> Double {
        PopulationStability.index(
            reference: referenceProportions[...], counts: counts[...], length: Double(configuration.windowSize))
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
/// Built for the hot path: every feature's edges, bin counts and window sit in flat arrays (the window is a ring of
/// rows of bin indices); bins are found by counting edges ≤ value, one edge rank at a time across the whole row, so
/// the comparisons vectorise over features with no branches (a binary search per feature above 16 bins); one index,
/// ring position and step counter serve all features.
///
/// - Complexity: per event O(F · B) comparisons for B ≤ 16 bins, O(F · log B) above; memory O(F · R) during the
///   reference, then O(F · B) for edges and counts and O(F · window) for the ring; no allocation per event after
///   the reference.
public struct RollingPSIGroup: Sendable, Codable {
    /// Features per row.
    public let features: Int
    public let configuration: PSIConfiguration
    /// Events seen (the next event's index).
    public private(set) var index = 0
    /// The reference's rows, one after another (`NaN`: missing); emptied once the edges are known.
    private var reference: [Double] = []
    /// Inner edges, rank-major: edge k of feature f at `k · features + f`, so one pass per rank compares a whole row
    /// at once (`NaN` edges when a feature was missing throughout the reference).
    private var edges: [Double] = []
    /// Reference proportions, `bins + 1` per feature (the last is "missing").
    private var referenceProportions: [Double] = []
    /// Window counts, `bins + 1` per feature (32-bit: half the cache lines per event).
    private var counts: [Int32] = []
    /// The window's bin indices: a ring of `windowSize` rows of `features` entries, in bytes when the bins (with
    /// "missing") fit in one, else in `wideWindow`.
    private var window: [UInt8] = []
    private var wideWindow: [UInt16] = []
    private var head = 0
    private var sinceEvaluation = 0
    private var evaluated = false

    enum CodingKeys: String, CodingKey {
        case features, configuration, index, reference, edges, referenceProportions, counts, window, wideWindow, head
        case sinceEvaluation
        case evaluated
    }

    public init(features: Int, configuration: PSIConfiguration = .init()) throws(DriftError) {
        try configuration.validate()
        guard features >= 1 else { throw .invalidConfiguration(key: "features", reason: "must be at least 1, got \(features)") }
        guard configuration.windowSize <= Int(Int32.max) else {
            throw .invalidConfiguration(key: "window", reason: "must be at most \(Int32.max), got \(configuration.windowSize)")
        }
        self.features = features
        self.configuration = configuration
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
        let full = index - configuration.referenceSize >= configuration.windowSize
        if wideWindow.isEmpty {
            Self.place(
                row, edges: edges, features: features, bins: configuration.bins, ring: &window, at: head * features,
                counts: &counts, full: full)
        } else {
            Self.place(
                row, edges: edges, features: features, bins: configuration.bins, ring: &wideWindow, at: head * features,
                counts: &counts, full: full)
        }
        index += 1
        head = head + 1 == configuration.windowSize ? 0 : head + 1
        guard full || index - configuration.referenceSize == configuration.windowSize else { return }
        sinceEvaluation += 1
        guard !evaluated || sinceEvaluation >= configuration.step else { return }
        evaluated = true
        sinceEvaluation = 0
        for feature in 0..<features {
            report(feature, PSIEvaluation(start: index - configuration.windowSize, end: index, psi: currentPSI(feature: feature)))
        }
    }

    /// Bins one row and slides it into the window: each feature's bin goes into the counts and the ring's row at
    /// `start`, whose previous bins (once the window is full) leave the counts.
    @inline(__always)
    private static func place<Bin: FixedWidthInteger>(
        _ row: UnsafeBufferPointer<Double>, edges: [Double], features: Int, bins: Int, ring: inout [Bin], at start: Int,
        counts: inout [Int32], full: Bool
    ) {
        let stride = bins + 1
        let edgeCount = bins - 1
        let missing = bins
        edges.withUnsafeBufferPointer { edges in
            counts.withUnsafeMutableBufferPointer { counts in
                ring.withUnsafeMutableBufferPointer { ring in
                    let edges = edges.baseAddress!
                    let counts = counts.baseAddress!
                    let ring = ring.baseAddress! + start
                    @inline(__always) func slide(_ feature: Int, _ bin: Int) {
                        let featureCounts = counts + feature &* stride
                        if full { featureCounts[Int(ring[feature])] &-= 1 }
                        featureCounts[bin] &+= 1
                        ring[feature] = Bin(truncatingIfNeeded: bin)
                    }
                    let known = min(row.count, features)
                    if edgeCount <= 15, let values = row.baseAddress {
                        // The number of edges ≤ value, four features at a time, each rank's edges side by side in
                        // `edges`; the counts stay in registers across the ranks and go straight into the window.
                        let one = SIMD4<Int64>(repeating: 1)
                        var feature = 0
                        while feature < known {
                            let value = values.lanes(at: feature, limit: known)
                            var below = SIMD4<Int64>(repeating: 0)
                            for rank in 0..<edgeCount {
                                let edge = (edges + rank &* features).lanes(at: feature, limit: known)
                                below = below.replacing(with: below &+ one, where: edge .<= value)
                            }
                            below.replace(with: Int64(missing), where: value .!= value)
                            for lane in 0..<min(DoubleLanes.scalarCount, known - feature) {
                                slide(feature + lane, Int(below[lane]))
                            }
                            feature += DoubleLanes.scalarCount
                        }
                    } else {
                        // A branch-free binary search per feature over its strided edges.
                        for feature in 0..<known {
                            let value = row[feature]
                            var base = 0
                            var remaining = edgeCount
                            while remaining > 1 {
                                let half = remaining / 2
                                base = edges[(base + half) &* features &+ feature] <= value ? base + half : base
                                remaining -= half
                            }
                            let bin = base + (edges[base &* features &+ feature] <= value ? 1 : 0)
                            slide(feature, value.isNaN ? missing : bin)
                        }
                    }
                    for feature in known..<features { slide(feature, missing) }
                }
            }
        }
    }

    /// The PSI of `feature`'s current window against its reference (window proportions are count / window length).
    public func currentPSI(feature: Int) -> Double {
        let bins = (feature * (configuration.bins + 1))..<((feature + 1) * (configuration.bins + 1))
        return PopulationStability.index(
            reference: referenceProportions[bins], counts: counts[bins], length: Double(configuration.windowSize))
    }

    /// Edges at the reference's quantiles and its proportions, per feature; then the reference rows go.
    private mutating func completeReference() {
        let rows = configuration.referenceSize
        let stride = configuration.bins + 1
        let total = Double(rows)
        edges = Array(repeating: 0, count: features * (configuration.bins - 1))
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
            for (rank, edge) in featureEdges.enumerated() { edges[rank * features + feature] = edge }
            referenceProportions.append(contentsOf: referenceCounts.map { Double($0) / total })
        }
        counts = Array(repeating: 0, count: features * stride)  // windowSize ≤ Int32.max, checked at init
        if stride <= Int(UInt8.max) {
            window = Array(repeating: 0, count: features * configuration.windowSize)
        } else {
            wideWindow = Array(repeating: 0, count: features * configuration.windowSize)
        }
        reference = []
    }
}
