/// A sorted multiset of scores with rank queries, for exact ROC-AUC and KS: a treap in flat arrays (no allocation
/// per insert once its node pool has grown; removed nodes are reused).
///
/// Each distinct score is one node with a multiplicity; a node's priority is a hash of the score's bits, so the
/// tree's shape depends only on the set of scores, never on insertion order. Scores must not be `NaN`.
///
/// - Complexity: insert, remove and every count are O(log n) expected, n distinct scores.
public struct ScoreMultiset: Sendable {
    struct Node: Sendable {
        var key: Double
        var subtreeTotal: Int
        var priority: UInt64
        var multiplicity: Int32
        var left: Int32
        var right: Int32
    }

    private var nodes: [Node] = []
    private var free: [Int32] = []
    private var root: Int32 = -1
    /// All scores, with multiplicity.
    public private(set) var count: Int = 0

    public init() {}

    private static func priority(of key: Double) -> UInt64 {
        var z = key.bitPattern &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Adds one occurrence of `score`.
    public mutating func insert(_ score: Double) {
        precondition(!score.isNaN, "ScoreMultiset cannot hold NaN")
        let key = score == 0 ? 0 : score  // −0 and +0 are one score
        if free.isEmpty {
            // Grow outside the unsafe region; the new slot waits on the free list.
            nodes.append(Node(key: 0, subtreeTotal: 0, priority: 0, multiplicity: 0, left: -1, right: -1))
            free.append(Int32(nodes.count - 1))
        }
        let slot = free.removeLast()
        var used = false
        let newRoot = nodes.withUnsafeMutableBufferPointer { buffer in
            Self.insert(key, into: root, buffer.baseAddress!, slot: slot, used: &used)
        }
        if !used { free.append(slot) }
        root = newRoot
        count += 1
    }

    @inline(__always)
    private static func total(_ node: Int32, _ n: UnsafeMutablePointer<Node>) -> Int {
        node < 0 ? 0 : n[Int(node)].subtreeTotal
    }

    @inline(__always)
    private static func refresh(_ node: Int32, _ n: UnsafeMutablePointer<Node>) {
        let i = Int(node)
        n[i].subtreeTotal = total(n[i].left, n) + total(n[i].right, n) + Int(n[i].multiplicity)
    }

    @inline(__always)
    private static func rotateRight(_ node: Int32, _ n: UnsafeMutablePointer<Node>) -> Int32 {
        let pivot = n[Int(node)].left
        n[Int(node)].left = n[Int(pivot)].right
        n[Int(pivot)].right = node
        refresh(node, n)
        refresh(pivot, n)
        return pivot
    }

    @inline(__always)
    private static func rotateLeft(_ node: Int32, _ n: UnsafeMutablePointer<Node>) -> Int32 {
        let pivot = n[Int(node)].right
        n[Int(node)].right = n[Int(pivot)].left
        n[Int(pivot)].left = node
        refresh(node, n)
        refresh(pivot, n)
        return pivot
    }

    private static func insert(
        _ key: Double, into node: Int32, _ n: UnsafeMutablePointer<Node>, slot: Int32, used: inout Bool
    ) -> Int32 {
        guard node >= 0 else {
            used = true
            n[Int(slot)] = Node(
                key: key, subtreeTotal: 1, priority: priority(of: key), multiplicity: 1, left: -1, right: -1)
            return slot
        }
        let i = Int(node)
        n[i].subtreeTotal += 1
        let nodeKey = n[i].key
        if key == nodeKey {
            n[i].multiplicity += 1
            return node
        }
        if key < nodeKey {
            let child = insert(key, into: n[i].left, n, slot: slot, used: &used)
            n[i].left = child
            return n[Int(child)].priority > n[i].priority ? rotateRight(node, n) : node
        } else {
            let child = insert(key, into: n[i].right, n, slot: slot, used: &used)
            n[i].right = child
            return n[Int(child)].priority > n[i].priority ? rotateLeft(node, n) : node
        }
    }

    /// Removes one occurrence of `score`; returns `false` (changing nothing) if it is absent.
    @discardableResult
    public mutating func remove(_ score: Double) -> Bool {
        guard !score.isNaN, rank(of: score).equal > 0 else { return false }
        let key = score == 0 ? 0 : score
        var freed: Int32 = -1
        root = nodes.withUnsafeMutableBufferPointer { buffer in
            Self.remove(key, from: root, buffer.baseAddress!, freed: &freed)
        }
        if freed >= 0 { free.append(freed) }
        count -= 1
        return true
    }

    /// Removes `key`, known to be present.
    private static func remove(
        _ key: Double, from node: Int32, _ n: UnsafeMutablePointer<Node>, freed: inout Int32
    ) -> Int32 {
        let i = Int(node)
        let nodeKey = n[i].key
        if key < nodeKey {
            n[i].left = remove(key, from: n[i].left, n, freed: &freed)
        } else if key > nodeKey {
            n[i].right = remove(key, from: n[i].right, n, freed: &freed)
        } else if n[i].multiplicity > 1 {
            n[i].multiplicity -= 1
        } else {
            return deleteNode(node, n, freed: &freed)
        }
        n[i].subtreeTotal -= 1
        return node
    }

    /// Rotates `node` down until it is a leaf, then unlinks it.
    private static func deleteNode(_ node: Int32, _ n: UnsafeMutablePointer<Node>, freed: inout Int32) -> Int32 {
        let i = Int(node)
        let l = n[i].left
        let r = n[i].right
        if l < 0 && r < 0 {
            freed = node
            return -1
        }
        let top: Int32
        if r < 0 || (l >= 0 && n[Int(l)].priority > n[Int(r)].priority) {
            top = rotateRight(node, n)
            n[Int(top)].right = deleteNode(node, n, freed: &freed)
        } else {
            top = rotateLeft(node, n)
            n[Int(top)].left = deleteNode(node, n, freed: &freed)
        }
        refresh(top, n)
        return top
    }

    /// How many scores are below `score`, and how many equal it, in one descent.
    public func rank(of score: Double) -> (less: Int, equal: Int) {
        nodes.withUnsafeBufferPointer { n in
            var node = root
            var less = 0
            while node >= 0 {
                let current = n[Int(node)]
                if score == current.key {
                    let left = current.left < 0 ? 0 : n[Int(current.left)].subtreeTotal
                    return (less + left, Int(current.multiplicity))
                }
                if score < current.key {
                    node = current.left
                } else {
                    let left = current.left < 0 ? 0 : n[Int(current.left)].subtreeTotal
                    less += left + Int(current.multiplicity)
                    node = current.right
                }
            }
            return (less, 0)
        }
    }

    /// How many scores are below `score`.
    public func countLess(than score: Double) -> Int { rank(of: score).less }

    /// How many scores equal `score`.
    public func countEqual(to score: Double) -> Int { rank(of: score).equal }

    /// How many scores are above `score`.
    public func countGreater(than score: Double) -> Int {
        let (less, equal) = rank(of: score)
        return count - less - equal
    }

    /// Distinct scores in ascending order with their multiplicities. O(n).
    public func sortedCounts() -> [(score: Double, count: Int)] {
        var result: [(Double, Int)] = []
        result.reserveCapacity(nodes.count - free.count)
        var stack: [Int32] = []
        var node = root
        while node >= 0 || !stack.isEmpty {
            while node >= 0 {
                stack.append(node)
                node = nodes[Int(node)].left
            }
            let top = stack.removeLast()
            result.append((nodes[Int(top)].key, Int(nodes[Int(top)].multiplicity)))
            node = nodes[Int(top)].right
        }
        return result
    }
}

extension ScoreMultiset: Equatable {
    public static func == (lhs: ScoreMultiset, rhs: ScoreMultiset) -> Bool {
        lhs.count == rhs.count && lhs.sortedCounts().elementsEqual(rhs.sortedCounts()) { $0 == $1 }
    }
}

extension ScoreMultiset: Codable {
    enum CodingKeys: String, CodingKey {
        case scores, counts
    }

    /// Encodes as the sorted distinct scores and their counts (packed); decoding rebuilds the same tree.
    public func encode(to encoder: any Encoder) throws {
        let sorted = sortedCounts()
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(PackedDoubles(sorted.map(\.score)), forKey: .scores)
        try container.encode(PackedIndices(sorted.map { UInt32($0.count) }), forKey: .counts)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let scores = try container.decode(PackedDoubles.self, forKey: .scores).values
        let counts = try container.decode(PackedIndices.self, forKey: .counts).values
        guard scores.count == counts.count, !scores.contains(where: \.isNaN) else {
            throw DecodingError.dataCorruptedError(
                forKey: .scores, in: container, debugDescription: "scores and counts differ in length or hold NaN")
        }
        self.init()
        for (score, count) in zip(scores, counts) {
            for _ in 0..<count { insert(score) }
        }
    }
}
