import Foundation
import Testing

/// Every command shown with its output in the README and docs/ runs here, and its output must match what the page
/// shows, so an example that stops reproducing fails the build (`make docs-check` runs only this).
///
/// What is checked: fenced blocks marked ```` ```console ````. In them, a line starting with `$ ` is a command and
/// the lines after it, up to the next command, are its output (stdout and stderr together). In the shown output,
/// `…` alone on a line stands for any number of lines, and `…` inside a line for any text — which is how a page
/// leaves out rates and timings. The blocks of one page run in order in one bash session, in a scratch directory
/// holding links to the repository's `examples/`, `Scenarios/`, `Tests/` and `deploy/`, with the freshly built `streamlearn` first on the `PATH`; a
/// command ending in `&` runs in the background (stopped when the page ends).
@Suite("Docs: every example shown with its output reproduces", .serialized)
struct DocsCheck {
    struct Example {
        var page: String
        var line: Int
        var command: String
        var expected: [String]
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var pages: [String] {
        let docs = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)) ?? []
        return ["README.md"] + docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/\($0)" }
    }

    /// The console examples of one page, in order.
    static func examples(of page: String) throws -> [Example] {
        let text = try String(contentsOf: root.appendingPathComponent(page), encoding: .utf8)
        var examples: [Example] = []
        var inConsole = false
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("```") {
                inConsole = !inConsole && line == "```console"
                continue
            }
            guard inConsole else { continue }
            if line.hasPrefix("$ ") {
                examples.append(Example(page: page, line: number + 1, command: String(line.dropFirst(2)), expected: []))
            } else if !examples.isEmpty {
                examples[examples.count - 1].expected.append(String(line))
            }
        }
        return examples
    }

    /// Whether `actual` is what `expected` shows (`…` as described above).
    static func matches(_ expected: [String], _ actual: [String]) -> Bool {
        func lineMatches(_ pattern: String, _ line: String) -> Bool {
            let parts = pattern.components(separatedBy: "…")
            guard parts.count > 1 else { return pattern == line }
            guard line.hasPrefix(parts[0]) && line.hasSuffix(parts[parts.count - 1])
                && line.count >= parts[0].count + parts[parts.count - 1].count
            else { return false }
            var rest = Substring(line.dropFirst(parts[0].count).dropLast(parts[parts.count - 1].count))
            for part in parts.dropFirst().dropLast() where !part.isEmpty {
                guard let range = rest.range(of: part) else { return false }
                rest = rest[range.upperBound...]
            }
            return true
        }
        // Lines, with `…` lines matching any run of lines (memoised backtracking).
        var memo: [Int: Bool] = [:]
        func match(_ e: Int, _ a: Int) -> Bool {
            let key = e * (actual.count + 1) + a
            if let known = memo[key] { return known }
            let result: Bool
            if e == expected.count {
                result = a == actual.count
            } else if expected[e] == "…" {
                result = match(e + 1, a) || (a < actual.count && match(e, a + 1))
            } else {
                result = a < actual.count && lineMatches(expected[e], actual[a]) && match(e + 1, a + 1)
            }
            memo[key] = result
            return result
        }
        return match(0, 0)
    }

    /// Runs a page's commands in one bash session; the output of each command.
    static func run(_ examples: [Example]) throws -> [String] {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("docs-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for folder in ["examples", "Scenarios", "Tests", "deploy"] {
            try FileManager.default.createSymbolicLink(
                at: scratch.appendingPathComponent(folder), withDestinationURL: root.appendingPathComponent(folder))
        }
        let marker = "@@docs-check-\(UUID().uuidString)@@"
        var script = "cd '\(scratch.path)'\nexport PATH='\(CLI.executable.deletingLastPathComponent().path)':\"$PATH\"\n"
        for example in examples {
            script += "printf '\\n\(marker)\\n'\n"
            if example.command.hasSuffix("&") {
                script += "\(example.command.dropLast()) > /dev/null 2>&1 &\n"
            } else {
                script += "{ \(example.command)\n} 2>&1\n"
            }
        }
        script += "printf '\\n\(marker)\\n'\nkill $(jobs -p) 2>/dev/null; wait 2>/dev/null\n"
        let result = try CLI.run(["-c", script], timeout: .seconds(300), program: URL(fileURLWithPath: "/bin/bash"))
        var outputs = result.stdout.components(separatedBy: "\n\(marker)\n").dropFirst().map { $0 }
        if outputs.count > examples.count { outputs.removeLast(outputs.count - examples.count) }
        return outputs
    }

    @Test("Commands shown with their output in README.md and docs/ print what is shown", arguments: pages)
    func page(_ page: String) throws {
        let examples = try Self.examples(of: page)
        guard !examples.isEmpty else { return }
        let outputs = try Self.run(examples)
        #expect(outputs.count == examples.count, "\(page): not every command ran")
        for (example, output) in zip(examples, outputs) {
            var lines = output.components(separatedBy: "\n")
            while lines.last == "" { lines.removeLast() }
            #expect(
                Self.matches(example.expected, lines),
                "\(page):\(example.line): $ \(example.command)\nshown:\n\(example.expected.joined(separator: "\n"))\nprinted:\n\(lines.joined(separator: "\n"))")
        }
    }

    @Test("The matching rules: … for any lines, … inside a line for any text")
    func matching() {
        #expect(Self.matches(["a", "…", "d"], ["a", "b", "c", "d"]))
        #expect(Self.matches(["a", "…"], ["a"]))
        #expect(Self.matches(["rate … events/s"], ["rate 123 events/s"]))
        #expect(!Self.matches(["rate … events/s"], ["rate 123 msg/s"]))
        #expect(!Self.matches(["a", "b"], ["a"]))
        #expect(!Self.matches(["a"], ["a", "b"]))
        #expect(Self.matches(["x … y … z"], ["x 1 y 2 z"]))
        #expect(!Self.matches(["x … y … z"], ["x 1 z 2 y"]))
    }
}
