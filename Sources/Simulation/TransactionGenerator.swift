import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Generates card transactions as JSON Lines: an integer `id` and 20 numeric fields, about 180 bytes each.
///
/// This is the transport benchmark's workload and the demo's stream; the same seed gives the same bytes. Fields:
/// `amt` (log-normal, unscaled), `hr` (hour), `age` (account age in days), `v1h` and `v24h` (transaction
/// velocity), `dist` (km from home), `cp` (card present, 0/1) and `x1`…`x13` (quantised signals, 0…9).
/// The fraud stream with labels and drift is a separate generator.
public struct TransactionGenerator: Sendable {
    private var random: SeededRandom
    public private(set) var nextID: Int

    public init(seed: UInt64, firstID: Int = 1) {
        random = SeededRandom(seed: seed)
        nextID = firstID
    }

    /// The next transaction as one JSON object (no trailing newline).
    public mutating func next() -> (id: Int, json: String) {
        let id = nextID
        nextID += 1
        var json = "{\"id\":\(id)"
        let amount = exp(min(max(1.2 * random.nextGaussian() + 3.5, -2), 9))
        json += ",\"amt\":\(Self.fixed(amount, decimals: 2))"
        json += ",\"hr\":\(random.next() % 24)"
        json += ",\"age\":\(random.next() % 7300)"
        json += ",\"v1h\":\(random.next() % 6)"
        json += ",\"v24h\":\(random.next() % 30)"
        json += ",\"dist\":\(Self.fixed(abs(random.nextGaussian()) * 40, decimals: 1))"
        json += ",\"cp\":\(random.next() % 2)"
        for index in 1...13 {
            let signal = min(max(Int((2 * random.nextGaussian() + 4.5).rounded(.down)), 0), 9)
            json += ",\"x\(index)\":\(signal)"
        }
        json += "}"
        return (id, json)
    }

    /// `value` printed with exactly `decimals` decimals, without Foundation's formatters.
    static func fixed(_ value: Double, decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (value * scale).rounded()
        let negative = scaled < 0
        let magnitude = Int(abs(scaled))
        let whole = magnitude / Int(scale)
        var fraction = String(magnitude % Int(scale))
        while fraction.count < decimals { fraction = "0" + fraction }
        return (negative && magnitude != 0 ? "-" : "") + "\(whole)" + (decimals > 0 ? ".\(fraction)" : "")
    }

    /// `count` transactions back to back in one buffer, with each one's byte range: a benchmark's input, built
    /// before timing starts.
    public static func contiguous(count: Int, seed: UInt64) -> (bytes: [UInt8], ranges: [Range<Int>]) {
        var generator = TransactionGenerator(seed: seed)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * 190)
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(count)
        for _ in 0..<count {
            let start = bytes.count
            bytes.append(contentsOf: generator.next().json.utf8)
            ranges.append(start..<bytes.count)
        }
        return (bytes, ranges)
    }
}
