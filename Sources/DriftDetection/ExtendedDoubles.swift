/// Doubles as a JSON array that also carries the values JSON has no number for: finite values are numbers (the
/// shortest decimal that reads back to the same `Double`), `NaN`, `+∞` and `−∞` the strings `"NaN"`, `"Infinity"`
/// and `"-Infinity"`. The detectors' states hold such values (a missing input is `NaN`), and a snapshot must
/// carry them bit for bit.
struct ExtendedDoubles: Sendable, Hashable, Codable {
    var values: [Double]

    init(_ values: [Double]) { self.values = values }

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        values = []
        values.reserveCapacity(container.count ?? 0)
        while !container.isAtEnd {
            if let number = try? container.decode(Double.self) {
                values.append(number)
                continue
            }
            let text = try container.decode(String.self)
            switch text {
            case "NaN": values.append(.nan)
            case "Infinity": values.append(.infinity)
            case "-Infinity": values.append(-.infinity)
            default:
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "'\(text)' is neither a number nor NaN, Infinity or -Infinity")
            }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for value in values {
            if value.isFinite {
                try container.encode(value)
            } else {
                try container.encode(value.isNaN ? "NaN" : value > 0 ? "Infinity" : "-Infinity")
            }
        }
    }
}
