#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ADWIN, adaptive windowing (Bifet and Gavaldà 2007), on a stream such as the model's error: keeps a window
/// whose two parts never have significantly different means, compressed in an exponential histogram (at most
/// `maxBuckets` buckets of each size 2^i). Every `clock` values it looks for a cut; when the older part's mean
/// differs from the newer part's by more than ε_cut (the same bound as River's ADWIN), it drops the older
/// buckets and reports a change.
///
/// - Complexity: O(1) amortised per value plus O(log W) every `clock` values; memory O(`maxBuckets` · log W).
public struct ADWIN: Sendable, Hashable, Codable {
    struct Bucket: Sendable, Hashable, Codable {
        var count: Int
        var total: Double
        /// Sum of squared deviations from the bucket's mean.
        var squares: Double
    }

    /// Confidence δ. Default 0.002.
    public let delta: Double
    /// Values between checks. Default 32.
    public let clock: Int
    /// Buckets of each size before two merge. Default 5.
    public let maxBuckets: Int
    /// The smallest part either side of a cut. Default 5.
    public let minimumWindow: Int
    /// Oldest first; sizes never grow from older to newer.
    private var buckets: [Bucket] = []
    public private(set) var width = 0
    public private(set) var total = 0.0
    private var squares = 0.0
    private var tick = 0
    /// Changes detected so far.
    public private(set) var detections = 0

    public init(delta: Double = 0.002, clock: Int = 32, maxBuckets: Int = 5, minimumWindow: Int = 5) {
        self.delta = delta
        self.clock = max(clock, 1)
        self.maxBuckets = max(maxBuckets, 2)
        self.minimumWindow = max(minimumWindow, 1)
    }

    /// The window's mean.
    public var mean: Double { width == 0 ? 0 : total / Double(width) }

    /// Adds one value; returns `true` when a change was detected (the window then holds only the newer part).
    public mutating func update(_ value: Double) -> Bool {
        guard value.isFinite else { return false }
        if width > 0 {
            let delta = value - mean
            squares += Double(width) * delta * delta / Double(width + 1)
        }
        width += 1
        total += value
        buckets.append(Bucket(count: 1, total: value, squares: 0))
        compress()
        tick += 1
        guard tick % clock == 0, width > 2 * minimumWindow else { return false }
        var changed = false
        while cutExists() {
            dropOldest()
            changed = true
        }
        if changed { detections += 1 }
        return changed
    }

    /// Merges the two oldest buckets of any size that has more than `maxBuckets`.
    private mutating func compress() {
        var end = buckets.count  // buckets of the current size are in [start, end)
        var size = 1
        while end > 0 {
            var start = end
            while start > 0 && buckets[start - 1].count == size { start -= 1 }
            guard end - start > maxBuckets else { break }
            let older = buckets[start]
            let newer = buckets[start + 1]
            let difference = older.total / Double(older.count) - newer.total / Double(newer.count)
            let merged = Bucket(
                count: older.count + newer.count, total: older.total + newer.total,
                squares: older.squares + newer.squares
                    + Double(older.count * newer.count) / Double(older.count + newer.count) * difference * difference)
            buckets.replaceSubrange(start...(start + 1), with: [merged])
            end = start + 1
            size *= 2
        }
    }

    /// Whether some split into an older and a newer part has means further apart than ε_cut.
    private func cutExists() -> Bool {
        let variance = squares / Double(width)
        let deltaPrime = log(2 * log(Double(width)) / delta)
        var olderCount = 0
        var olderTotal = 0.0
        for bucket in buckets.dropLast() {
            olderCount += bucket.count
            olderTotal += bucket.total
            let newerCount = width - olderCount
            guard olderCount >= minimumWindow, newerCount >= minimumWindow else { continue }
            let difference = olderTotal / Double(olderCount) - (total - olderTotal) / Double(newerCount)
            let reciprocal =
                1 / Double(olderCount - minimumWindow + 1) + 1 / Double(newerCount - minimumWindow + 1)
            let epsilon = (2 * reciprocal * variance * deltaPrime).squareRoot() + 2.0 / 3.0 * deltaPrime * reciprocal
            if abs(difference) >= epsilon { return true }
        }
        return false
    }

    private mutating func dropOldest() {
        let oldest = buckets.removeFirst()
        let remaining = width - oldest.count
        guard remaining > 0 else {
            self = ADWIN(delta: delta, clock: clock, maxBuckets: maxBuckets, minimumWindow: minimumWindow)
            return
        }
        let remainingMean = (total - oldest.total) / Double(remaining)
        let difference = oldest.total / Double(oldest.count) - remainingMean
        squares -= oldest.squares + Double(oldest.count * remaining) / Double(width) * difference * difference
        squares = max(squares, 0)
        width = remaining
        total -= oldest.total
    }
}
