import OnlineLearning
package import StreamCore
import Yams

/// Reads a job's `features` section (keyed aggregates) and `model.interactions`: the same keys in `run`'s job file
/// and in the file `learn --features` reads.
package enum FeaturesReader {
    /// Fills `features` from the `features` table; errors name the key (`features.aggregates[2].window`).
    package static func read(_ table: ConfigTable, into features: inout FeatureSpaceConfiguration) throws(ConfigurationError) {
        var aggregation = AggregationConfiguration()
        for entry in try table.list("aggregates") {
            let name = try entry.requiredString("name")
            let key = try keyFields(entry, "key")
            guard let function = try entry.choice("function", AggregateSpec.Function.self) else {
                throw ConfigurationError(path: entry.keyPath("function"), reason: "is required")
            }
            let field = try entry.string("field")
            guard let window = try duration(entry, "window") else {
                throw ConfigurationError(path: entry.keyPath("window"), reason: "is required (e.g. 10m, 24h, 30d)")
            }
            let buckets = try entry.int("buckets", min: 1, max: 64) ?? 8
            try entry.finish()
            aggregation.aggregates.append(AggregateSpec(
                name: name, key: key, function: function, field: field, windowMilliseconds: window, buckets: buckets))
        }
        aggregation.allowedLatenessMilliseconds = try duration(table, "allowed_lateness") ?? 0
        aggregation.capacity = try table.int("capacity", min: 1, max: 1 << 26) ?? aggregation.capacity
        aggregation.maxDistinct = try table.int("max_distinct", min: 1, max: 1_024) ?? aggregation.maxDistinct
        aggregation.prior = try table.double("prior", atLeast: 0) ?? aggregation.prior
        try table.finish()
        do {
            try aggregation.validate()
        } catch {
            throw ConfigurationError(path: table.keyPath(error.path), reason: error.reason)
        }
        features.aggregation = aggregation.aggregates.isEmpty ? nil : aggregation
    }

    /// The `features` section and `model.interactions` of a YAML file (a job file, or one with just these), into
    /// `features`; the file's other sections are not read.
    package static func load(file: String, into features: inout FeatureSpaceConfiguration) throws(ConfigurationError) {
        var result = features
        try ConfigTable.load(file: file) { (text: String) throws(ConfigurationError) in
            let root = try ConfigTable.parse(yaml: text)
            if let model = try root.optionalTable("model") {
                result.interactions = try interactions(model, "interactions")
            }
            guard let table = try root.optionalTable("features") else {
                if result.interactions.isEmpty {
                    throw ConfigurationError(path: "features", reason: "is missing (the file has no features section nor model.interactions)")
                }
                return
            }
            try read(table, into: &result)
        }
        features = result
    }

    /// `model.interactions`: a list of crosses, each a list of two or three field names.
    package static func interactions(_ table: ConfigTable, _ key: String) throws(ConfigurationError) -> [[String]] {
        guard let node = table.rawNode(key) else { return [] }
        guard case .sequence(let crosses) = node else {
            throw ConfigurationError(path: table.keyPath(key), reason: "must be a list of field lists, e.g. [[card, merchant]]")
        }
        var result: [[String]] = []
        for (index, cross) in crosses.enumerated() {
            let path = "\(table.keyPath(key))[\(index)]"
            guard case .sequence(let fields) = cross, (2...3).contains(fields.count) else {
                throw ConfigurationError(path: path, reason: "must be a list of two or three field names")
            }
            var names: [String] = []
            for field in fields {
                guard let name = field.scalar?.string, !name.isEmpty else {
                    throw ConfigurationError(path: path, reason: "field names must be non-empty strings")
                }
                names.append(name)
            }
            result.append(names)
        }
        return result
    }

    /// A key: one field name or a list of them.
    private static func keyFields(_ table: ConfigTable, _ key: String) throws(ConfigurationError) -> [String] {
        guard let node = table.rawNode(key) else {
            throw ConfigurationError(path: table.keyPath(key), reason: "is required (a field name or a list of them)")
        }
        if let name = node.scalar?.string, !name.isEmpty { return [name] }
        if let names = try table.strings(key), !names.isEmpty { return names }
        throw ConfigurationError(path: table.keyPath(key), reason: "must be a field name or a list of them")
    }

    /// A duration: whole milliseconds, or a number with a unit (`ms`, `s`, `m`, `h`, `d`).
    package static func duration(_ table: ConfigTable, _ key: String) throws(ConfigurationError) -> Int64? {
        guard let text = try table.string(key) else { return nil }
        let units: [(String, Double)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (unit, scale) in units where text.hasSuffix(unit) {
            let number = text.dropLast(unit.count)
            if let value = Double(number), value >= 0, value.isFinite {
                return Int64((value * scale).rounded())
            }
        }
        if let value = Int64(text), value >= 0 { return value }
        throw ConfigurationError(path: table.keyPath(key), reason: "must be a duration such as 500ms, 30s, 10m, 24h or 30d, got '\(text)'")
    }
}
