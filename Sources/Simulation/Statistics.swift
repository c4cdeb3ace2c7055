import Foundation

/// Student's t distribution, for confidence intervals of means over seeds and Welch's test of a difference.
///
/// The distribution function comes from the regularized incomplete beta function (continued fraction, as in
/// Numerical Recipes' `betai`), to about 1e-12; quantiles by bisection on it. Degrees of freedom need not be
/// whole (Welch–Satterthwaite's are not).
public enum StudentT: Sendable {
    /// P(T ≤ t) for `degreesOfFreedom` > 0.
    public static func cdf(_ t: Double, degreesOfFreedom nu: Double) -> Double {
        guard t.isFinite else { return t > 0 ? 1 : 0 }
        let tail = 0.5 * regularizedIncompleteBeta(x: nu / (nu + t * t), a: nu / 2, b: 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    /// The `probability`-quantile (0 < probability < 1).
    public static func quantile(_ probability: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(probability > 0 && probability < 1 && nu > 0, "a quantile in (0, 1) with positive degrees of freedom")
        var low = -1.0
        var high = 1.0
        while cdf(low, degreesOfFreedom: nu) > probability { low *= 2 }
        while cdf(high, degreesOfFreedom: nu) < probability { high *= 2 }
        for _ in 0..<200 {
            let middle = (low + high) / 2
            if cdf(middle, degreesOfFreedom: nu) < probability { low = middle } else { high = middle }
            if high - low <= 1e-13 * Swift.max(1, abs(middle)) { break }
        }
        return (low + high) / 2
    }

    /// I_x(a, b).
    static func regularizedIncompleteBeta(x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logGammas: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let front = exp(logGammas + logPowers)
        // The continued fraction converges quickly for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
        if x < (a + 1) / (a + b + 2) { return front * continuedFraction(x: x, a: a, b: b) / a }
        return 1 - front * continuedFraction(x: 1 - x, a: b, b: a) / b
    }

    /// Lentz's evaluation of the incomplete beta function's continued fraction.
    private static func continuedFraction(x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var result = d
        for m in 1...300 {
            let m = Double(m)
            let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + even * d
            if abs(d) < tiny { d = tiny }
            c = 1 + even / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            result *= d * c
            let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + odd * d
            if abs(d) < tiny { d = tiny }
            c = 1 + odd / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            result *= step
            if abs(step - 1) < 1e-15 { break }
        }
        return result
    }
}

extension SeedSummary {
    /// The 95% confidence interval of the mean (Student's t with `count − 1` degrees of freedom), or `nil` with
    /// fewer than two values.
    public var confidenceInterval95: ClosedRange<Double>? {
        guard count >= 2 else { return nil }
        let half = StudentT.quantile(0.975, degreesOfFreedom: Double(count - 1)) * standardDeviation
            / Double(count).squareRoot()
        return (mean - half)...(mean + half)
    }
}

/// Welch's two-sample t test of the difference of two means (unequal variances, Welch–Satterthwaite degrees of
/// freedom): the difference `mean(a) − mean(b)`, its 95% confidence interval and the two-sided p-value of "no
/// difference".
public struct WelchComparison: Sendable, Hashable {
    public var difference: Double
    public var confidenceInterval95: ClosedRange<Double>
    public var t: Double
    public var degreesOfFreedom: Double
    public var pValue: Double

    /// `nil` unless both samples have two values or more.
    public init?(_ a: [Double], _ b: [Double]) {
        guard a.count >= 2, b.count >= 2 else { return nil }
        let (sa, sb) = (SeedSummary(a), SeedSummary(b))
        let (va, vb) = (sa.standardDeviation * sa.standardDeviation / Double(a.count), sb.standardDeviation * sb.standardDeviation / Double(b.count))
        difference = sa.mean - sb.mean
        let standardError = (va + vb).squareRoot()
        guard standardError > 0 else {
            // No spread on either side: the difference is exact.
            degreesOfFreedom = Double(a.count + b.count - 2)
            confidenceInterval95 = difference...difference
            t = difference == 0 ? 0 : (difference > 0 ? .infinity : -.infinity)
            pValue = difference == 0 ? 1 : 0
            return
        }
        let df = (va + vb) * (va + vb)
            / (va * va / Double(a.count - 1) + vb * vb / Double(b.count - 1))
        degreesOfFreedom = df
        t = difference / standardError
        let half = StudentT.quantile(0.975, degreesOfFreedom: df) * standardError
        confidenceInterval95 = (difference - half)...(difference + half)
        pValue = 2 * StudentT.cdf(-abs(t), degreesOfFreedom: df)
    }
}
