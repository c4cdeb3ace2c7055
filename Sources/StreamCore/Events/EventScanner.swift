#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The byte-level JSON scanner behind ``EventDecoder``: the one place that reads raw pointers.
struct Scanner {
    let base: UnsafeRawPointer
    let count: Int
    var position = 0
    let maxStringBytes: Int
    let maxDepth: Int

    init(_ bytes: UnsafeRawBufferPointer, maxStringBytes: Int, maxDepth: Int) {
        // An empty buffer may have no base address; any valid pointer works with count 0.
        base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        count = bytes.count
        self.maxStringBytes = maxStringBytes
        self.maxDepth = maxDepth
    }

    @inline(__always) var atEnd: Bool { position >= count }

    /// The byte at the current position, or 0 at the end (0 is never valid there in JSON).
    @inline(__always) func peek() -> UInt8 {
        position < count ? base.load(fromByteOffset: position, as: UInt8.self) : 0
    }

    @inline(__always) func byte(_ offset: Int) -> UInt8 {
        base.load(fromByteOffset: offset, as: UInt8.self)
    }

    func error(_ reason: EventDecodingError.Reason, _ field: String? = nil) -> EventDecodingError {
        EventDecodingError(reason, offset: position, field: field)
    }

    func slice(from start: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + start, count: position - start)
    }

    @inline(__always) mutating func skipWhitespace() throws(EventDecodingError) {
        while position < count {
            switch byte(position) {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    // MARK: - Literals

    mutating func scanBoolean() throws(EventDecodingError) -> Bool {
        if matches("true") { return true }
        if matches("false") { return false }
        throw error(position + 4 > count ? .unexpectedEnd : .invalidJSON)
    }

    mutating func scanNull() throws(EventDecodingError) {
        guard matches("null") else { throw error(position + 4 > count ? .unexpectedEnd : .invalidJSON) }
    }

    @inline(__always) private mutating func matches(_ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard position + length <= count, memcmp(base + position, literal.utf8Start, length) == 0 else { return false }
        position += length
        return true
    }

    // MARK: - Strings

    /// Scans a string whose opening quote was consumed, appending its unescaped bytes to `event.text`.
    /// `hadEscapes` tells whether the input spelled it with escapes (if not, the input bytes equal the text).
    mutating func scanString(into event: DecodedEvent) throws(EventDecodingError) -> TextRange {
        var hadEscapes = false
        return try scanString(into: event, hadEscapes: &hadEscapes)
    }

    mutating func scanString(
        into event: DecodedEvent, hadEscapes: inout Bool
    ) throws(EventDecodingError) -> TextRange {
        let openingQuote = position - 1
        let start = event.textBuffer.count
        var runStart = position
        while true {
            // Eight bytes at a time while none needs attention (quote, backslash, control, non-ASCII).
            while position + 8 <= count {
                let word = base.loadUnaligned(fromByteOffset: position, as: UInt64.self)
                let special = specialBytes(word)
                if special == 0 {
                    position += 8
                    continue
                }
                position += special.trailingZeroBitCount >> 3
                break
            }
            guard position < count else { throw error(.unexpectedEnd) }
            let b = byte(position)
            if b == 0x22 {  // "
                appendRun(from: runStart, to: event)
                position += 1
                break
            }
            if b == 0x5C {  // backslash
                appendRun(from: runStart, to: event)
                hadEscapes = true
                try scanEscape(into: event)
                runStart = position
                continue
            }
            if b < 0x20 { throw error(.controlCharacterInString) }
            if b < 0x80 {
                position += 1
                continue
            }
            try skipUTF8Sequence(lead: b)
        }
        let length = event.textBuffer.count - start
        guard length <= maxStringBytes else {
            throw EventDecodingError(.stringTooLong, offset: openingQuote)
        }
        return TextRange(start: Int32(start), end: Int32(event.textBuffer.count))
    }

    @inline(__always) private func appendRun(from start: Int, to event: DecodedEvent) {
        if position > start {
            event.textBuffer.append(base + start, count: position - start)
        }
    }

    /// Validates one multi-byte UTF-8 sequence (``utf8SequenceLength(_:count:)``).
    @inline(__always) private mutating func skipUTF8Sequence(lead: UInt8) throws(EventDecodingError) {
        let length = utf8SequenceLength(base + position, count: count - position)
        guard length > 0 else { throw error(.invalidUTF8) }
        position += length
    }

    private mutating func scanEscape(into event: DecodedEvent) throws(EventDecodingError) {
        guard position + 1 < count else { throw error(.unexpectedEnd) }
        let escaped = byte(position + 1)
        let simple: UInt8
        switch escaped {
        case 0x22: simple = 0x22
        case 0x5C: simple = 0x5C
        case 0x2F: simple = 0x2F
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"):
            let escapeStart = position
            var scalar = try hex4(at: position + 2)
            position += 6
            if (0xD800...0xDBFF).contains(scalar) {
                guard position + 1 < count, byte(position) == 0x5C, byte(position + 1) == UInt8(ascii: "u") else {
                    throw EventDecodingError(.loneSurrogate, offset: escapeStart)
                }
                let low = try hex4(at: position + 2)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw EventDecodingError(.loneSurrogate, offset: escapeStart)
                }
                position += 6
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                throw EventDecodingError(.loneSurrogate, offset: escapeStart)
            }
            appendUTF8(scalar, to: event)
            return
        default:
            throw error(.invalidEscape)
        }
        event.textBuffer.append(simple)
        position += 2
    }

    private func hex4(at offset: Int) throws(EventDecodingError) -> UInt32 {
        guard offset + 4 <= count else { throw EventDecodingError(.unexpectedEnd, offset: count) }
        var value: UInt32 = 0
        for index in 0..<4 {
            let b = byte(offset + index)
            let digit: UInt8
            switch b {
            case 48...57: digit = b - 48
            case 65...70: digit = b - 55
            case 97...102: digit = b - 87
            default: throw EventDecodingError(.invalidEscape, offset: offset + index)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private func appendUTF8(_ scalar: UInt32, to event: DecodedEvent) {
        switch scalar {
        case 0..<0x80:
            event.textBuffer.append(UInt8(scalar))
        case 0x80..<0x800:
            event.textBuffer.append(UInt8(0xC0 | scalar >> 6))
            event.textBuffer.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            event.textBuffer.append(UInt8(0xE0 | scalar >> 12))
            event.textBuffer.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            event.textBuffer.append(UInt8(0x80 | scalar & 0x3F))
        default:
            event.textBuffer.append(UInt8(0xF0 | scalar >> 18))
            event.textBuffer.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            event.textBuffer.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            event.textBuffer.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    // MARK: - Numbers

    /// The common number of an event, `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 15 digits and no exponent, as
    /// ``scanNumber()`` would return it; `nil` (the cursor unmoved) for anything else, invalid input included, which
    /// ``scanNumber()`` then scans or rejects. O(digits).
    ///
    /// `@_transparent` because the optimizer kept a call to it under `@inline(__always)`: inlined into the
    /// decoder's loop, the scanner stays in registers (README, "Event decoding", has the figures).
    @_transparent
    mutating func scanShortNumber() -> Double? {
        let end = count
        var at = position
        var b = at < end ? byte(at) : 0
        let negative = b == UInt8(ascii: "-")
        if negative {
            at &+= 1
            b = at < end ? byte(at) : 0
        }
        var mantissa: UInt64 = 0
        var digits = 0
        if b == UInt8(ascii: "0") {
            at &+= 1
            b = at < end ? byte(at) : 0
        } else {
            guard isDigit(b) else { return nil }
            repeat {
                mantissa = mantissa &* 10 &+ UInt64(b &- 48)
                digits &+= 1
                at &+= 1
                b = at < end ? byte(at) : 0
            } while isDigit(b) && digits < 15
        }
        guard !isDigit(b) else { return nil }
        var value: Double
        if b == UInt8(ascii: ".") {
            at &+= 1
            b = at < end ? byte(at) : 0
            guard isDigit(b) && digits < 15 else { return nil }
            var scale = 0
            repeat {
                mantissa = mantissa &* 10 &+ UInt64(b &- 48)
                digits &+= 1
                scale &+= 1
                at &+= 1
                b = at < end ? byte(at) : 0
            } while isDigit(b) && digits < 15
            guard !isDigit(b) && b | 0x20 != UInt8(ascii: "e") else { return nil }
            // Both operands exact (mantissa < 10^15 < 2^53, scale ≤ 15): one correctly rounded division, as
            // Clinger's fast path in scanNumber().
            value = Double(Int64(bitPattern: mantissa)) / exactPowerOfTen(scale)
        } else {
            guard b | 0x20 != UInt8(ascii: "e") else { return nil }
            value = Double(Int64(bitPattern: mantissa))
        }
        position = at
        return negative ? -value : value
    }

    /// A label written `0` or `1` and followed by anything but more of a number: its value, the cursor past it;
    /// `nil` (the cursor unmoved) for anything else, which the general path then decodes or rejects. O(1).
    @inline(__always)
    mutating func scanBinaryDigit() -> Int8? {
        guard position + 1 < count else { return nil }
        let digit = byte(position)
        guard digit == UInt8(ascii: "0") || digit == UInt8(ascii: "1") else { return nil }
        guard !continuesNumber(byte(position + 1)) else { return nil }
        position += 1
        return Int8(digit &- 48)
    }

    /// A non-negative integer of at most 15 digits with no fraction or exponent (`0|[1-9][0-9]*`): the range of
    /// its digits, the cursor past them; `nil` (the cursor unmoved) for anything else, which the general path then
    /// decodes or rejects. O(digits).
    @inline(__always)
    mutating func scanShortInteger() -> Range<Int>? {
        let start = position
        let end = count
        var at = start
        guard at < end else { return nil }
        let first = byte(at)
        if first == UInt8(ascii: "0") {
            at &+= 1
        } else {
            guard isDigit(first) else { return nil }
            repeat { at &+= 1 } while at < end && isDigit(byte(at)) && at &- start < 15
        }
        guard at < end else { return nil }
        guard !continuesNumber(byte(at)) else { return nil }
        position = at
        return start..<at
    }

    /// Scans an RFC 8259 number and returns its correctly rounded value; rejects non-finite results.
    ///
    /// The cursor stays in a register (`at`) and is stored once, on return or before an error is made: stored on
    /// every digit, it cost a store per byte on the decoder's hottest path.
    @inline(__always)
    mutating func scanNumber() throws(EventDecodingError) -> Double {
        let start = position
        let end = count
        var at = position
        let negative = at < end && byte(at) == UInt8(ascii: "-")
        if negative { at += 1 }
        guard at < end else {
            position = at
            throw error(.unexpectedEnd)
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        var truncated = false
        let first = byte(at)
        if first == UInt8(ascii: "0") {
            at += 1
            if at < end, isDigit(byte(at)) {
                position = at
                throw error(.invalidNumber)
            }
        } else if isDigit(first) {
            mantissa = UInt64(first &- 48)
            digits = 1
            at += 1
            // Up to 19 digits accumulate exactly; more only scale the exponent (and mark the tail inexact).
            while at < end {
                let b = byte(at)
                guard isDigit(b) else { break }
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(b &- 48)
                    digits &+= 1
                } else {
                    exponent += 1
                    truncated = truncated || b != UInt8(ascii: "0")
                }
                at += 1
            }
        } else {
            position = at
            throw error(.invalidNumber)
        }
        var next: UInt8 = at < end ? byte(at) : 0
        if next != UInt8(ascii: ".") && next | 0x20 != UInt8(ascii: "e") && exponent == 0 {
            // An integer (most event fields): converting the exact mantissa is correctly rounded, and finite.
            position = at
            // Below 19 digits the mantissa is under 10^18 < 2^63: one signed conversion (SSE2 has no unsigned
            // one; the general `Double(UInt64)` sequence took a quarter of this function's samples).
            let value = digits < 19 ? Double(Int64(bitPattern: mantissa)) : Double(mantissa)
            return negative ? -value : value
        }
        if next == UInt8(ascii: ".") {
            at += 1
            guard at < end, isDigit(byte(at)) else {
                position = at
                throw error(at >= end ? .unexpectedEnd : .invalidNumber)
            }
            while at < end {
                let b = byte(at)
                guard isDigit(b) else { break }
                if mantissa == 0 && b == UInt8(ascii: "0") {
                    exponent -= 1
                } else if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(b &- 48)
                    digits &+= 1
                    exponent -= 1
                } else {
                    truncated = truncated || b != UInt8(ascii: "0")
                }
                at += 1
            }
            next = at < end ? byte(at) : 0
        }
        if next | 0x20 == UInt8(ascii: "e") {
            at += 1
            var exponentNegative = false
            let sign: UInt8 = at < end ? byte(at) : 0
            if sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                exponentNegative = sign == UInt8(ascii: "-")
                at += 1
            }
            guard at < end, isDigit(byte(at)) else {
                position = at
                throw error(at >= end ? .unexpectedEnd : .invalidNumber)
            }
            var written = 0
            while at < end {
                let b = byte(at)
                guard isDigit(b) else { break }
                if written < 100_000 { written = written * 10 + Int(b - 48) }
                at += 1
            }
            exponent += exponentNegative ? -written : written
        }
        position = at
        var value: Double
        if mantissa == 0 && !truncated {
            value = 0
        } else if !truncated && mantissa <= 1 << 53 && exponent >= -22 && exponent <= 22 {
            // Clinger's fast path: both operands exact, one rounding; always finite.
            let exact = Double(Int64(bitPattern: mantissa))  // ≤ 2^53
            value = exponent >= 0 ? exact * exactPowerOfTen(exponent) : exact / exactPowerOfTen(-exponent)
        } else {
            value = slowParse(from: negative ? start + 1 : start)
            guard value.isFinite else { throw EventDecodingError(.nonFiniteNumber, offset: start) }
        }
        return negative ? -value : value
    }

    /// `strtod` (correctly rounded) on a NUL-terminated copy of the number, without heap allocation.
    private func slowParse(from start: Int) -> Double {
        let length = position - start
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { buffer in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: base + start, byteCount: length)
            buffer[length] = 0
            return strtod(buffer.baseAddress!, nil)
        }
    }

    @inline(__always) private func isDigit(_ b: UInt8) -> Bool { b &- 48 < 10 }

    /// Whether `b` after an integer's digits would make it a longer number (a digit, a fraction or an exponent).
    @inline(__always) private func continuesNumber(_ b: UInt8) -> Bool {
        isDigit(b) || b == UInt8(ascii: ".") || b | 0x20 == UInt8(ascii: "e")
    }

    // MARK: - Any value

    /// Validates and skips any JSON value (strings still go through `event.text`; callers truncate it).
    mutating func skipValue(depth: Int, into event: DecodedEvent) throws(EventDecodingError) {
        guard position < count else { throw error(.unexpectedEnd) }
        switch byte(position) {
        case 0x22:
            position += 1
            _ = try scanString(into: event)
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            _ = try scanBoolean()
        case UInt8(ascii: "n"):
            try scanNull()
        case UInt8(ascii: "-"), 48...57:
            _ = try scanNumber()
        case UInt8(ascii: "["):
            guard depth < maxDepth else { throw error(.nestingTooDeep) }
            position += 1
            try skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                position += 1
                return
            }
            while true {
                try skipValue(depth: depth + 1, into: event)
                try skipWhitespace()
                let next = peek()
                guard next == UInt8(ascii: ",") || next == UInt8(ascii: "]") else {
                    throw error(atEnd ? .unexpectedEnd : .invalidJSON)
                }
                position += 1
                if next == UInt8(ascii: "]") { return }
                try skipWhitespace()
            }
        case UInt8(ascii: "{"):
            guard depth < maxDepth else { throw error(.nestingTooDeep) }
            position += 1
            try skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                position += 1
                return
            }
            while true {
                guard peek() == 0x22 else { throw error(atEnd ? .unexpectedEnd : .invalidJSON) }
                position += 1
                _ = try scanString(into: event)
                try skipWhitespace()
                guard peek() == UInt8(ascii: ":") else { throw error(atEnd ? .unexpectedEnd : .invalidJSON) }
                position += 1
                try skipWhitespace()
                try skipValue(depth: depth + 1, into: event)
                try skipWhitespace()
                let next = peek()
                guard next == UInt8(ascii: ",") || next == UInt8(ascii: "}") else {
                    throw error(atEnd ? .unexpectedEnd : .invalidJSON)
                }
                position += 1
                if next == UInt8(ascii: "}") { return }
                try skipWhitespace()
            }
        default:
            throw error(.invalidJSON)
        }
    }
}

/// A mask with the high bit set in each byte of `word` that is `"`, `\\`, below 0x20 or above 0x7F (little
/// endian). Bits above the first flagged byte may be spurious (borrows); the lowest set bit is exact.
@inline(__always)
func specialBytes(_ word: UInt64) -> UInt64 {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    let quote = word ^ (ones &* 0x22)
    let backslash = word ^ (ones &* 0x5C)
    let quoteZero = (quote &- ones) & ~quote
    let backslashZero = (backslash &- ones) & ~backslash
    let control = (word &- ones &* 0x20) & ~word
    return (quoteZero | backslashZero | control | word) & highs
}

/// 10^e for 0 ≤ e ≤ 22, each exactly representable as a Double. A switch over literals compiles to a table in
/// read-only data: no lazy global initialisation on the hot path.
@inline(__always)
func exactPowerOfTen(_ e: Int) -> Double {
    switch e {
    case 0: 1e0
    case 1: 1e1
    case 2: 1e2
    case 3: 1e3
    case 4: 1e4
    case 5: 1e5
    case 6: 1e6
    case 7: 1e7
    case 8: 1e8
    case 9: 1e9
    case 10: 1e10
    case 11: 1e11
    case 12: 1e12
    case 13: 1e13
    case 14: 1e14
    case 15: 1e15
    case 16: 1e16
    case 17: 1e17
    case 18: 1e18
    case 19: 1e19
    case 20: 1e20
    case 21: 1e21
    default: 1e22
    }
}

/// Parses an RFC 3339 date-time (`2026-11-22T18:30:00.123Z`, `…+01:00`) to epoch milliseconds.
func parseRFC3339Milliseconds(_ text: UnsafeRawBufferPointer) -> Int64? {
    var index = 0
    func number(_ width: Int) -> Int? {
        guard index + width <= text.count else { return nil }
        var value = 0
        for offset in 0..<width {
            let b = text[index + offset]
            guard b &- 48 < 10 else { return nil }
            value = value * 10 + Int(b - 48)
        }
        index += width
        return value
    }
    func expect(_ characters: UInt8...) -> Bool {
        guard index < text.count, characters.contains(text[index]) else { return false }
        index += 1
        return true
    }
    guard let year = number(4), expect(0x2D), let month = number(2), expect(0x2D), let day = number(2),
        expect(UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")), let hour = number(2), expect(0x3A),
        let minute = number(2), expect(0x3A), let second = number(2)
    else { return nil }
    guard (1...12).contains(month), day >= 1, day <= daysInMonth(year, month), hour <= 23, minute <= 59,
        second <= 60
    else { return nil }
    var millis = 0
    if index < text.count, text[index] == UInt8(ascii: ".") {
        index += 1
        var scale = 100
        var any = false
        while index < text.count, text[index] &- 48 < 10 {
            millis += Int(text[index] - 48) * scale
            scale /= 10
            index += 1
            any = true
        }
        guard any else { return nil }
    }
    var offsetMinutes = 0
    if expect(UInt8(ascii: "Z"), UInt8(ascii: "z")) {
        offsetMinutes = 0
    } else if index < text.count, text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") {
        let sign = text[index] == UInt8(ascii: "-") ? -1 : 1
        index += 1
        guard let offsetHours = number(2), expect(0x3A), let offsetMins = number(2), offsetHours <= 23,
            offsetMins <= 59
        else { return nil }
        offsetMinutes = sign * (offsetHours * 60 + offsetMins)
    } else {
        return nil
    }
    guard index == text.count else { return nil }
    let days = daysFromCivil(year, month, day)
    let seconds = ((days * 24 + hour) * 60 + minute - offsetMinutes) * 60 + second
    return Int64(seconds) * 1000 + Int64(millis)
}

private func daysInMonth(_ year: Int, _ month: Int) -> Int {
    switch month {
    case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
private func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}

/// The length of the well-formed multi-byte UTF-8 sequence at `bytes` (Unicode Table 3-7: no overlongs, no
/// surrogates, at most U+10FFFF), reading at most `count` bytes; 0 when it is not one.
@inline(__always)
func utf8SequenceLength(_ bytes: UnsafeRawPointer, count: Int) -> Int {
    let length: Int
    var low: UInt8 = 0x80
    var high: UInt8 = 0xBF
    switch bytes.load(as: UInt8.self) {
    case 0xC2...0xDF: length = 2
    case 0xE0: length = 3; low = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: length = 3
    case 0xED: length = 3; high = 0x9F
    case 0xF0: length = 4; low = 0x90
    case 0xF1...0xF3: length = 4
    case 0xF4: length = 4; high = 0x8F
    default: return 0
    }
    guard length <= count else { return 0 }
    let second = bytes.load(fromByteOffset: 1, as: UInt8.self)
    guard second >= low && second <= high else { return 0 }
    for index in 2..<length where bytes.load(fromByteOffset: index, as: UInt8.self) & 0xC0 != 0x80 { return 0 }
    return length
}
