import Foundation
import Simulation
import Testing

/// Runs the `streamlearn-bench` executable that `swift test` built next to the test bundle.
enum Bench {
    static let executable: URL = {
        var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("streamlearn-bench")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        fatalError("streamlearn-bench not found")
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}

@Suite("Benchmarks run end to end on small workloads")
struct BenchTests {
    @Test("decode FILE measures a file's accepted lines, at most --events of them; a missing file exits 66")
    func benchDecodeFile() throws {
        var generator = LogisticStreamGenerator(seed: 3)
        let lines = (0..<50).map { _ in generator.next().json + "\n" }.joined()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(getpid()).jsonl").path
        try ("{\"id\":0,\"x\":1e999}\n\n" + lines).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        for (limit, expected) in [(1_000, 50), (20, 20)] {
            let result = try Bench.run(
                ["decode", path, "--events", "\(limit)", "--foundation-events", "5", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("1 rejected line(s)"))
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(object?["events"] as? Int == expected)
            #expect((object?["EventDecoder"] as? Double ?? 0) > 0)
            // The same events as Avro, and fastavro's reference rate on them (make deps installs fastavro).
            #expect((object?["Avro (Confluent wire format), MessageDecoder"] as? Double ?? 0) > 0)
            #expect(object?.contains { $0.key.hasPrefix("fastavro") && ($0.value as? Double ?? 0) > 0 } == true, "\(result.stderr)")
        }
        #expect(try Bench.run(["decode", path + ".missing"]).status == 66)
    }

    @Test("The Kafka benchmark runs end to end on a small workload")
    func benchKafkaSmall() throws {
        let result = try Bench.run(["kafka", "--messages", "2000", "--partitions", "4", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["messages"] as? Int == 2000)
        #expect((object?["consume_messages_per_second"] as? Double ?? 0) > 0)
        #expect((object?["produce_messages_per_second"] as? Double ?? 0) > 0)
    }

    @Test("The learner benchmark runs end to end on a small workload")
    func benchLearnSmall() throws {
        let result = try Bench.run(["learn", "--events", "2000", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(object["events"] as? Int == 2000)
        #expect((object["logreg ftrl, 20 dense"] as? Double ?? 0) > 0)
        #expect((object["q-learning update"] as? Double ?? 0) > 0)
    }

    @Test("The keyed-aggregates benchmark runs end to end on a small workload: both learn paths, every key held, a bounded table")
    func benchFeaturesSmall() throws {
        let result = try Bench.run(["features", "--events", "5000", "--keys", "2000", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect((object["learn path: lines/s with six aggregates, two crosses"] as? Double ?? 0) > 0)
        #expect(object["keys held (cards + merchants)"] as? Int == 2100)
        #expect(object["new keys: keys held"] as? Int == 200)
        #expect(object["new keys: evicted"] as? Int == 6000 - 200)  // cards only: 100 merchants fit
        #expect((object["per event, alone: p99 µs"] as? Double ?? 0) > 0 && (object["per event, snapshots written: p99 µs"] as? Double ?? 0) > 0)
    }

    @Test("The runtime benchmark runs end to end on a small workload: every message through the job, every score read back")
    func benchRunSmall() throws {
        let result = try Bench.run(["run", "--events", "2000", "--partitions", "2", "--rate", "1000", "--seconds", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(object["messages_in"] as? Double == 4000)
        for key in ["floor_messages_per_second", "eo_messages_per_second", "alo_messages_per_second"] {
            #expect((object[key] as? Double ?? 0) > 0, "\(key)")
        }
        #expect(object["live-alo_scores"] as? Double == 1000)
        #expect(object["live-eo_scores"] as? Double == 1000)
    }

    @Test(
        "The scoring endpoint's benchmark runs end to end with wrk: every request answered from the learned model",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk")))
    func benchScoreSmall() throws {
        let result = try Bench.run(["score", "--events", "2000", "--partitions", "2", "--seconds", "2", "--connections", "4", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect((object["http_alone_requests"] as? Double ?? 0) > 0, "\(object)")
        #expect(object["http_alone_non_2xx"] as? Double == 0)
        #expect((object["http_alone_latency_us_p99"] as? Double ?? 0) > 0)
        for key in ["learn_alone_messages_per_second", "learn_under_http_messages_per_second"] {
            #expect((object[key] as? Double ?? 0) > 0, "\(key)")
        }
    }

    @Test("Every benchmark has help with an example")
    func helpHasExamples() throws {
        for command in [["kafka"], ["decode"], ["learn"], ["run"], ["score"], ["features"]] {
            let result = try Bench.run(command + ["--help"])
            #expect(result.status == 0)
            #expect(result.stdout.lowercased().contains("example"), "\(command)")
        }
    }
}
