public import Foundation

/// Per-run curves and results, written for analysis elsewhere (pandas, R, a spreadsheet): `simulate --curves` and
/// `scenario run --curves`. One long table — a row per point: `agent,seed,series,x,value` — as CSV, or the same
/// runs as JSON (`{"source", "runs": [{"agent", "seed", "series": {NAME: [[x, value], …]}}]}`).
public struct CurveExport: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, value: Double)]

        public init(_ name: String, _ points: [(x: Double, value: Double)]) {
            self.name = name
            self.points = points
        }
    }

    public struct Run: Sendable {
        public var agent: String
        public var seed: UInt64
        public var series: [Series]

        public init(agent: String, seed: UInt64, series: [Series]) {
            self.agent = agent
            self.seed = seed
            self.series = series
        }
    }

    public enum Format: String, Sendable {
        case csv, json

        /// The format a path's extension names (`.csv` or `.json`), or `nil`.
        public init?(path: String) {
            let lower = path.lowercased()
            if lower.hasSuffix(".csv") {
                self = .csv
            } else if lower.hasSuffix(".json") {
                self = .json
            } else {
                return nil
            }
        }
    }

    /// What produced the curves, e.g. `simulate taxi` or `scenario taxi-agents`.
    public var source: String
    public var runs: [Run]

    public init(source: String, runs: [Run]) {
        self.source = source
        self.runs = runs
    }

    /// The file's bytes in `format`.
    public func encoded(_ format: Format) -> Data {
        switch format {
        case .csv: Data(csv().utf8)
        case .json: json()
        }
    }

    /// `agent,seed,series,x,value`, a row per point; numbers in their shortest exact form.
    public func csv() -> String {
        var out = "agent,seed,series,x,value\n"
        for run in runs {
            let agent = Self.csvField(run.agent)
            for series in run.series {
                let name = Self.csvField(series.name)
                for point in series.points {
                    out += "\(agent),\(run.seed),\(name),\(Self.number(point.x)),\(Self.number(point.value))\n"
                }
            }
        }
        return out
    }

    public func json() -> Data {
        let object: [String: Any] = [
            "source": source,
            "runs": runs.map { run -> [String: Any] in
                var series: [String: Any] = [:]
                for entry in run.series {
                    series[entry.name] = entry.points.map { [Self.jsonNumber($0.x), Self.jsonNumber($0.value)] }
                }
                return ["agent": run.agent, "seed": Int(run.seed), "series": series]
            },
        ]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    static func jsonNumber(_ value: Double) -> Any {
        guard value.isFinite else { return NSNull() }
        if value == value.rounded() && abs(value) < 1e15 { return Int64(value) }
        return value
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
