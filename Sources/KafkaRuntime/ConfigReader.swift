package import Foundation
package import Yams

/// A configuration file that cannot be used: the key's dotted path and why (`model.optimizer.alpha: must be > 0,
/// got -1`), and the file.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file, when the configuration came from one.
    public var file: String?
    /// The key's dotted path (`topics.events`), empty for the document itself.
    public var path: String
    public var reason: String
    /// The file could not be read at all (missing, a directory, no permission), as opposed to read and refused.
    public var unreadable = false

    public init(file: String? = nil, path: String, reason: String) {
        self.file = file
        self.path = path
        self.reason = reason
    }

    /// The command line's exit code for it: 66 (EX_NOINPUT) for a file that cannot be read, 78 (EX_CONFIG) for one
    /// read and refused.
    public var exitCode: Int32 { unreadable ? 66 : 78 }

    public var description: String {
        let location = path.isEmpty ? "" : "\(path): "
        return "\(file.map { "\($0): " } ?? "")\(location)\(reason)"
    }
}

/// One YAML mapping of a configuration, read strictly: every key must be read by the code that knows it, values
/// are typed and bounded, and ``finish()`` refuses keys nobody read (a misspelt key is an error, not a silent
/// default). Errors carry the key's dotted path.
package final class ConfigTable {
    let path: String
    private var entries: [(key: String, value: Node)] = []
    private var read: Set<String> = []

    package init(_ node: Node?, path: String) throws(ConfigurationError) {
        self.path = path
        guard let node else { return }
        guard case .mapping(let mapping) = node else {
            throw ConfigurationError(path: path, reason: "must be a mapping of keys to values, got \(Self.describe(node))")
        }
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                throw ConfigurationError(path: path, reason: "keys must be plain strings")
            }
            entries.append((name, value))
        }
    }

    /// Reads `file` and parses its text with `parse`; errors name the file.
    package static func load<T>(file: String, parse: (String) throws(ConfigurationError) -> T) throws(ConfigurationError) -> T {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            var failure = ConfigurationError(file: file, path: "", reason: "cannot read it: \((error as NSError).localizedDescription)")
            failure.unreadable = true
            throw failure
        }
        do {
            return try parse(text)
        } catch {
            var error = error
            error.file = file
            throw error
        }
    }

    /// Parses a whole YAML document.
    package static func parse(yaml: String) throws(ConfigurationError) -> ConfigTable {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(path: "", reason: "not valid YAML: \(error)")
        }
        guard let node else { throw ConfigurationError(path: "", reason: "the file is empty") }
        return try ConfigTable(node, path: "")
    }

    package func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func node(_ key: String) -> Node? {
        read.insert(key)
        guard let value = entries.last(where: { $0.key == key })?.value else { return nil }
        if case .scalar(let scalar) = value, scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
            return nil
        }
        return value
    }

    package func has(_ key: String) -> Bool { entries.contains { $0.key == key } }

    private func scalar(_ key: String) throws(ConfigurationError) -> String? {
        guard let node = node(key) else { return nil }
        guard case .scalar(let scalar) = node else {
            throw ConfigurationError(path: keyPath(key), reason: "must be a single value, got \(Self.describe(node))")
        }
        return scalar.string
    }

    package func table(_ key: String) throws(ConfigurationError) -> ConfigTable {
        try ConfigTable(node(key), path: keyPath(key))
    }

    package func optionalTable(_ key: String) throws(ConfigurationError) -> ConfigTable? {
        guard let node = node(key) else { return nil }
        return try ConfigTable(node, path: keyPath(key))
    }

    package func string(_ key: String) throws(ConfigurationError) -> String? {
        guard let value = try scalar(key) else { return nil }
        guard !value.isEmpty else { throw ConfigurationError(path: keyPath(key), reason: "must not be empty") }
        return value
    }

    package func requiredString(_ key: String) throws(ConfigurationError) -> String {
        guard let value = try string(key) else { throw ConfigurationError(path: keyPath(key), reason: "is required") }
        return value
    }

    /// An http(s) URL with a host (an Alertmanager's, a schema registry's).
    package func httpURL(_ key: String) throws(ConfigurationError) -> URL? {
        guard let text = try string(key) else { return nil }
        guard let url = Self.httpURL(text) else {
            throw ConfigurationError(path: keyPath(key), reason: "must be an http(s) URL, got '\(text)'")
        }
        return url
    }

    /// `text` as an http(s) URL with a host, or nil.
    package static func httpURL(_ text: String) -> URL? {
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else { return nil }
        return url
    }

    package func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type) throws(ConfigurationError) -> T?
    where T.RawValue == String {
        guard let value = try string(key) else { return nil }
        guard let parsed = T(rawValue: value) else {
            let known = T.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            throw ConfigurationError(path: keyPath(key), reason: "must be one of \(known), got '\(value)'")
        }
        return parsed
    }

    package func int(_ key: String, min: Int? = nil, max: Int? = nil) throws(ConfigurationError) -> Int? {
        guard let text = try scalar(key) else { return nil }
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
            throw ConfigurationError(path: keyPath(key), reason: "must be a whole number, got '\(text)'")
        }
        if let min, value < min { throw ConfigurationError(path: keyPath(key), reason: "must be at least \(min), got \(value)") }
        if let max, value > max { throw ConfigurationError(path: keyPath(key), reason: "must be at most \(max), got \(value)") }
        return value
    }

    /// A finite number; `above` is exclusive, `atLeast` and `atMost` inclusive.
    package func double(
        _ key: String, above: Double? = nil, atLeast: Double? = nil, atMost: Double? = nil
    ) throws(ConfigurationError) -> Double? {
        guard let text = try scalar(key) else { return nil }
        guard let value = Double(text.replacingOccurrences(of: "_", with: "")), value.isFinite else {
            throw ConfigurationError(path: keyPath(key), reason: "must be a finite number, got '\(text)'")
        }
        let shown = Self.format(value)
        if let above, !(value > above) {
            throw ConfigurationError(path: keyPath(key), reason: "must be > \(Self.format(above)), got \(shown)")
        }
        if let atLeast, value < atLeast {
            throw ConfigurationError(path: keyPath(key), reason: "must be >= \(Self.format(atLeast)), got \(shown)")
        }
        if let atMost, value > atMost {
            throw ConfigurationError(path: keyPath(key), reason: "must be <= \(Self.format(atMost)), got \(shown)")
        }
        return value
    }

    /// A positive number of seconds (`timeout_s: 2.5`) as a `Duration`, at most `atMost`.
    package func seconds(_ key: String, atMost: Double? = nil) throws(ConfigurationError) -> Duration? {
        try double(key, above: 0, atMost: atMost).map { .milliseconds(Int64($0 * 1000)) }
    }

    package func bool(_ key: String) throws(ConfigurationError) -> Bool? {
        guard let text = try scalar(key) else { return nil }
        switch text {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigurationError(path: keyPath(key), reason: "must be true or false, got '\(text)'")
        }
    }

    package func strings(_ key: String) throws(ConfigurationError) -> [String]? {
        guard let node = node(key) else { return nil }
        guard case .sequence(let sequence) = node else {
            throw ConfigurationError(path: keyPath(key), reason: "must be a list, got \(Self.describe(node))")
        }
        var values: [String] = []
        for (index, item) in sequence.enumerated() {
            guard let value = item.scalar?.string, !value.isEmpty else {
                throw ConfigurationError(path: "\(keyPath(key))[\(index)]", reason: "must be a non-empty string")
            }
            values.append(value)
        }
        return values
    }

    /// The value as YAML, for a reader of its own (a job inside a scenario).
    package func rawNode(_ key: String) -> Node? { node(key) }

    /// A list of mappings, each read as a table (`drift[1].at`).
    package func list(_ key: String) throws(ConfigurationError) -> [ConfigTable] {
        guard let node = node(key) else { return [] }
        guard case .sequence(let sequence) = node else {
            throw ConfigurationError(path: keyPath(key), reason: "must be a list, got \(Self.describe(node))")
        }
        var tables: [ConfigTable] = []
        for (index, item) in sequence.enumerated() { tables.append(try ConfigTable(item, path: "\(keyPath(key))[\(index)]")) }
        return tables
    }

    /// A list of finite numbers.
    package func doubles(_ key: String) throws(ConfigurationError) -> [Double]? {
        guard let node = node(key) else { return nil }
        guard case .sequence(let sequence) = node else {
            throw ConfigurationError(path: keyPath(key), reason: "must be a list, got \(Self.describe(node))")
        }
        var values: [Double] = []
        for (index, item) in sequence.enumerated() {
            guard let text = item.scalar?.string, let value = Double(text.replacingOccurrences(of: "_", with: "")), value.isFinite else {
                throw ConfigurationError(path: "\(keyPath(key))[\(index)]", reason: "must be a finite number")
            }
            values.append(value)
        }
        return values
    }

    /// A list of whole numbers.
    package func ints(_ key: String, min: Int? = nil) throws(ConfigurationError) -> [Int]? {
        guard let node = node(key) else { return nil }
        guard case .sequence(let sequence) = node else {
            throw ConfigurationError(path: keyPath(key), reason: "must be a list, got \(Self.describe(node))")
        }
        var values: [Int] = []
        for (index, item) in sequence.enumerated() {
            guard let text = item.scalar?.string, let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
                throw ConfigurationError(path: "\(keyPath(key))[\(index)]", reason: "must be a whole number")
            }
            if let min, value < min {
                throw ConfigurationError(path: "\(keyPath(key))[\(index)]", reason: "must be at least \(min), got \(value)")
            }
            values.append(value)
        }
        return values
    }

    /// A mapping of strings to strings (librdkafka properties).
    package func stringMap(_ key: String) throws(ConfigurationError) -> [String: String] {
        let table = try table(key)
        var result: [String: String] = [:]
        for (name, value) in table.entries {
            table.read.insert(name)
            guard let text = value.scalar?.string else {
                throw ConfigurationError(path: table.keyPath(name), reason: "must be a single value")
            }
            result[name] = text
        }
        return result
    }

    /// Refuses keys that were never read, naming them and the keys this mapping knows.
    package func finish() throws(ConfigurationError) {
        var seen: Set<String> = []
        for (key, _) in entries {
            guard seen.insert(key).inserted else {
                throw ConfigurationError(path: keyPath(key), reason: "appears twice")
            }
            guard read.contains(key) else {
                let known = read.sorted().joined(separator: ", ")
                throw ConfigurationError(path: keyPath(key), reason: "unknown key (known here: \(known))")
            }
        }
    }

    private static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): "'\(scalar.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    package static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
