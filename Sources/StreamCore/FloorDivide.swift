/// `dividend / divisor` rounded toward negative infinity (Swift's `/` truncates toward zero), for a positive
/// `divisor`: a time's bucket before the epoch too, milliseconds from microseconds.
@inlinable
package func floorDivide(_ dividend: Int64, _ divisor: Int64) -> Int64 {
    let (quotient, remainder) = dividend.quotientAndRemainder(dividingBy: divisor)
    return remainder < 0 ? quotient - 1 : quotient
}
