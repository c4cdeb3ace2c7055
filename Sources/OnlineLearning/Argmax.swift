import StreamCore

/// Choosing among scored alternatives (arms, actions), shared by the bandits and the tabular agents.
enum Argmax {
    /// The first index of `0..<count` with the largest value (ties go to the lowest index; 0 if none compare).
    @inline(__always)
    static func first(_ count: Int, _ value: (Int) -> Double) -> Int {
        var best = 0
        var bestValue = -Double.infinity
        for index in 0..<count {
            let candidate = value(index)
            if candidate > bestValue {
                bestValue = candidate
                best = index
            }
        }
        return best
    }

    /// The largest value of `0..<count` and how many indices share it.
    @inline(__always)
    static func maximum(_ count: Int, _ value: (Int) -> Double) -> (best: Double, ties: Int) {
        var best = -Double.infinity
        var ties = 0
        for index in 0..<count {
            let candidate = value(index)
            if candidate > best {
                best = candidate
                ties = 1
            } else if candidate == best {
                ties += 1
            }
        }
        return (best, ties)
    }

    /// An index drawn uniformly among those whose value is `best` (`ties` of them); one draw only when they tie.
    @inline(__always)
    static func uniformTie(
        _ count: Int, best: Double, ties: Int, random: inout SeededRandom, _ value: (Int) -> Double
    ) -> Int {
        var pick = ties > 1 ? Int(random.next() % UInt64(ties)) : 0
        for index in 0..<count where value(index) == best {
            if pick == 0 { return index }
            pick -= 1
        }
        return first(count, value)
    }
}
