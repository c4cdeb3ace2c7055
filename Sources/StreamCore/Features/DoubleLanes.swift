/// Four doubles processed together: the unit of the dense per-feature loops (standardiser, linear models).
///
/// On x86-64's baseline (SSE2) it is two 128-bit registers, so every arithmetic step, square root and division
/// runs on two features at once; IEEE 754 makes each lane's result bit-identical to the scalar computation.
public typealias DoubleLanes = SIMD4<Double>

extension UnsafePointer where Pointee == Double {
    /// The four values at `index…index+3`, or fewer where `limit` cuts them off (the missing lanes are 0).
    /// - Complexity: O(1).
    @inlinable @inline(__always)
    public func lanes(at index: Int, limit: Int) -> DoubleLanes {
        if index + DoubleLanes.scalarCount <= limit {
            return UnsafeRawPointer(self + index).loadUnaligned(as: DoubleLanes.self)
        }
        var lanes = DoubleLanes(repeating: 0)
        for lane in 0..<(limit - index) { lanes[lane] = self[index + lane] }
        return lanes
    }
}

extension UnsafeMutablePointer where Pointee == Double {
    /// ``UnsafePointer/lanes(at:limit:)`` through a mutable pointer.
    @inlinable @inline(__always)
    public func lanes(at index: Int, limit: Int) -> DoubleLanes {
        UnsafePointer(self).lanes(at: index, limit: limit)
    }

    /// Stores `lanes` at `index…index+3`, only the lanes below `limit`.
    /// - Complexity: O(1).
    @inlinable @inline(__always)
    public func storeLanes(_ lanes: DoubleLanes, at index: Int, limit: Int) {
        if index + DoubleLanes.scalarCount <= limit {
            UnsafeMutableRawPointer(self + index).storeBytes(of: lanes, as: DoubleLanes.self)
            return
        }
        for lane in 0..<(limit - index) { self[index + lane] = lanes[lane] }
    }
}

extension SIMD4 where Scalar == Double {
    /// `√|x|` per lane: two `sqrtpd` on x86-64. For the non-negative values it is used on (sums of squares,
    /// counts over sums) it equals `squareRoot()` bit for bit, which on Linux compiles to a libm call per lane
    /// (kept for `errno` on negative input) and stops the compiler from keeping the loop in registers.
    @inlinable @inline(__always)
    public func squareRootOfMagnitude() -> Self {
        Self(
            self[0].magnitude.squareRoot(), self[1].magnitude.squareRoot(), self[2].magnitude.squareRoot(),
            self[3].magnitude.squareRoot())
    }
}

extension Double {
    /// `√|x|`: one `sqrtsd`, where `squareRoot()` keeps a libm fallback call for `errno` (see
    /// `SIMD4.squareRootOfMagnitude()`).
    @inlinable @inline(__always)
    public func squareRootOfMagnitude() -> Double { magnitude.squareRoot() }
}
