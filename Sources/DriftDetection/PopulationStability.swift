#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The population stability index and the pieces of its exact definition.
public enum PopulationStability: Sendable {
    /// A proportion that is exactly 0 is replaced by this (no renormalisation).
    public static let epsilon = 1e-4

    /// PSI = Σ (current − reference) · ln(current / reference) over bins, each proportion 0 replaced by ``epsilon``.
    public static func index(reference: [Double], current: [Double]) -> Double {
        precondition(reference.count == current.count, "reference and current need the same bins")
        var total = 0.0
        for bin in reference.indices {
            let r = reference[bin] == 0 ? epsilon : reference[bin]
            let c = current[bin] == 0 ? epsilon : current[bin]
            total += (c - r) * log(c / r)
        }
        return total
    }

    /// ``index(reference:current:)`` of a window given as bin counts over `length` events (a proportion is
    /// count / length): the form the rolling detectors keep.
    @inline(__always)
    static func index<Count: BinaryInteger>(reference: ArraySlice<Double>, counts: ArraySlice<Count>, length: Double) -> Double {
        var total = 0.0
        for (proportion, count) in zip(reference, counts) {
            let r = proportion == 0 ? epsilon : proportion
            let c = count == 0 ? epsilon : Double(count) / length
            total += (c - r) * log(c / r)
        }
        return total
    }

    /// The quantile `p` of ascending `sorted` values, numpy's default `linear` method: h = (n − 1)·p;
    /// x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋ + 1] − x[⌊h⌋]) — evaluated as numpy's `_lerp` does, from the upper value when
    /// h − ⌊h⌋ ≥ 0.5 (x[⌊h⌋ + 1] − (1 − t)·(x[⌊h⌋ + 1] − x[⌊h⌋])), so edges agree with numpy to the bit.
    public static func quantile(sorted: [Double], _ p: Double) -> Double {
        precondition(!sorted.isEmpty, "quantile of no values")
        let h = Double(sorted.count - 1) * p
        let low = Int(h.rounded(.down))
        let t = h - Double(low)
        guard low + 1 < sorted.count else { return sorted[low] }
        let a = sorted[low]
        let b = sorted[low + 1]
        let difference = b - a
        return t >= 0.5 ? b - difference * (1 - t) : a + difference * t
    }

    /// The B − 1 inner bin edges at the reference's quantiles k/B, k = 1…B−1.
    public static func edges(sorted: [Double], bins: Int) -> [Double] {
        guard !sorted.isEmpty, bins > 1 else { return [] }
        return (1..<bins).map { quantile(sorted: sorted, Double($0) / Double(bins)) }
    }

    /// The bin of `value` for left-closed bins (−∞, e1), [e1, e2), …, [e_{B−1}, +∞): the number of edges ≤ value,
    /// so a value equal to an edge goes to the upper bin. O(log B).
    @inline(__always)
    public static func bin(of value: Double, edges: [Double]) -> Int {
        edges.withUnsafeBufferPointer { bin(of: value, in: $0) }
    }

    /// ``bin(of:edges:)`` over borrowed edges. A branch-free binary search: the loop runs a fixed ⌈log₂ B⌉ times
    /// whatever the value, so random values cost no mispredictions.
    @inline(__always)
    public static func bin(of value: Double, in edges: UnsafeBufferPointer<Double>) -> Int {
        var remaining = edges.count
        guard remaining > 0 else { return 0 }
        var base = 0
        while remaining > 1 {
            let half = remaining / 2
            base = edges[base + half] <= value ? base + half : base
            remaining -= half
        }
        return base + (edges[base] <= value ? 1 : 0)
    }
}
