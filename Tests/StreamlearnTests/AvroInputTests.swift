import Foundation
import StreamKafka
import Testing

/// A schema registry's HTTP API served from a directory (Tests/Fixtures/schema_registry.py): a real Schema
/// Registry is a JVM service that cannot be installed here.
final class TestRegistry {
    let directory: URL
    private(set) var port: Int
    private var process: Process?

    /// Starts serving `directory` on `port` (0: any free one).
    private let environment: [String: String]

    /// Serves the schema files of `parent/registry` (made empty). `user`/`password`: every call needs this basic
    /// authentication.
    init(in parent: URL, port: Int = 0, user: String? = nil, password: String? = nil) throws {
        directory = parent.appendingPathComponent("registry")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.port = port
        var environment = ProcessInfo.processInfo.environment
        if let user, let password {
            environment["REGISTRY_USER"] = user
            environment["REGISTRY_PASSWORD"] = password
        }
        self.environment = environment
        try start()
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func start() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/schema_registry.py").standardized.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, directory.path, "\(port)"]
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line: "listening on PORT".
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let number = text.split(separator: " ").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            process.terminate()
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "the registry did not start: \(text)"])
        }
        port = number
        self.process = process
    }

    func stop() {
        // SIGKILL: a signal the test process ignores stays ignored in its children (SIGTERM may be).
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process?.waitUntilExit()
        process = nil
    }

    deinit { stop() }
}

@Suite("Avro input through a schema registry", .serialized)
struct AvroInputTests {
    static let version1 = """
        {"type":"record","name":"Transaction","namespace":"shop","fields":[
          {"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"hour","type":"int"},
          {"name":"merchant","type":{"type":"record","name":"Merchant","fields":[{"name":"country","type":"string"}]}}]}
        """
    /// Version 2 adds an optional field.
    static let version2 = """
        {"type":"record","name":"Transaction","namespace":"shop","fields":[
          {"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"hour","type":"int"},
          {"name":"merchant","type":{"type":"record","name":"Merchant","fields":[{"name":"country","type":"string"}]}},
          {"name":"device","type":["null","string"],"default":null}]}
        """

    static func event(_ id: Int, device: Bool = false) -> String {
        let base = #"{"id":"t\#(id)","amount":\#(Double(id % 17) * 3.5),"hour":\#(id % 24),"merchant":{"country":"\#(["FR", "DE", "US"][id % 3])"}"#
        return base + (device ? #","device":"\#(id % 2 == 0 ? "ios" : "android")"}"# : "}")
    }

    static func config(_ name: String, registry: String, directory: URL, extra: String = "") -> String {
        RunTests.scoringConfig(
            name: name, events: "\(name)-tx", labels: "\(name)-labels", scores: "\(name)-scores",
            deadLetter: "\(name)-dead", snapshots: directory.appendingPathComponent("snapshots").path,
            extra: """
                input:
                  events: avro
                  labels: json
                  schema_registry:
                    url: \(registry)
                    timeout_ms: 2000
                \(extra)
                """)
    }

    /// `produce --format avro` of `lines` under `schema`.
    static func produceAvro(_ lines: [String], schema: String, topic: String, brokers: String, registry: String, in directory: URL) throws {
        let schemaPath = try RunFiles.write(schema, to: directory, "schema-\(UUID().uuidString).avsc")
        let result = try CLI.run(
            ["produce", "--brokers", brokers, "--topic", topic, "--format", "avro", "--schema", schemaPath,
             "--schema-registry", registry, "--key-field", "id", "-"],
            stdin: lines.joined(separator: "\n") + "\n")
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test("Two schema versions in one topic, labels in JSON: every event scored once and learned; unknown schemas and non-Avro messages to the dead-letter topic with their reasons")
    func evolvingTopic() throws {
        let broker = try EmbeddedBroker(topics: [("av-tx", 1), ("av-labels", 1), ("av-scores", 1), ("av-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("avro")
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try TestRegistry(in: directory)
        defer { registry.stop() }

        try Self.produceAvro((0..<60).map { Self.event($0) }, schema: Self.version1, topic: "av-tx", brokers: broker.bootstrapServers, registry: registry.url, in: directory)
        try Self.produceAvro((60..<120).map { Self.event($0, device: true) }, schema: Self.version2, topic: "av-tx", brokers: broker.bootstrapServers, registry: registry.url, in: directory)
        // A third version, registered and then deleted from the registry: its messages name an unknown id.
        let version3 = Self.version1.replacingOccurrences(of: #""name":"hour","type":"int""#, with: #""name":"hour","type":"long""#)
        try Self.produceAvro((120..<125).map { Self.event($0) }, schema: version3, topic: "av-tx", brokers: broker.bootstrapServers, registry: registry.url, in: directory)
        #expect(FileManager.default.fileExists(atPath: registry.directory.appendingPathComponent("3.json").path))
        try FileManager.default.removeItem(at: registry.directory.appendingPathComponent("3.json"))
        // JSON on the Avro topic.
        try Topics.produce(broker, "av-tx", [Self.event(999)])
        try Topics.produce(broker, "av-labels", (0..<120).map { #"{"id":"t\#($0)","label":\#($0 % 5 == 0 ? 1 : 0)}"# })

        let config = try RunFiles.write(Self.config("av", registry: registry.url, directory: directory), to: directory, "av.yaml")
        let run = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(run.status == 0, "\(run.stderr)")
        let summary = RunFiles.summary(run)
        #expect(summary["dead_letters"] as? [String: Int] == ["unknown-schema": 5, "not-wire-format": 1])
        #expect(summary["joined"] as? Int == 120)

        let scores = try Topics.scores(broker, "av-scores")
        #expect(Set(scores.keys) == Set((0..<120).map { "t\($0)" }))
        #expect(scores.values.allSatisfy { $0.count == 1 })
        let dead = try Topics.read(broker, "av-dead")
        func header(_ message: KafkaMessage, _ name: String) -> String? {
            message.headers.first { $0.name == name }?.value.map { String(decoding: $0, as: UTF8.self) }
        }
        let unknown = dead.filter { header($0, "__connect.errors.exception.class.name") == "streamlearn.unknown-schema" }
        #expect(unknown.count == 5)
        #expect(unknown.allSatisfy { (header($0, "__connect.errors.exception.message") ?? "").hasPrefix("schema 3, ") })
        #expect(unknown.allSatisfy { header($0, "__connect.errors.stage") == "VALUE_CONVERTER" })

        // The dump decodes with the registry, each message with its own version, as the model read it.
        let dump = try Topics.read(broker, "av-tx").filter { [0, 61].contains($0.offset) }.map { Data($0.value).base64EncodedString() }
        let decoded = try CLI.run(
            ["decode", "--format", "avro", "--schema-registry", registry.url, "--print", "-"], stdin: dump.joined(separator: "\n") + "\n")
        #expect(decoded.status == 0, "\(decoded.stderr)")
        #expect(decoded.stdout.split(separator: "\n") == [
            #"{"id":"t0","label":null,"ts":null,"features":{"amount":0.0,"hour":0.0,"merchant.country":"FR"}}"#,
            #"{"id":"t61","label":null,"ts":null,"features":{"amount":35.0,"hour":13.0,"merchant.country":"DE","device":"android"}}"#,
        ])
    }

    @Test("A registry that does not answer: the job is not ready and says why, waits, and then scores everything once, skipping nothing")
    func registryOutage() throws {
        let broker = try EmbeddedBroker(topics: [("ao-tx", 1), ("ao-labels", 1), ("ao-scores", 1), ("ao-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("avro-outage")
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try TestRegistry(in: directory)
        try Self.produceAvro((0..<50).map { Self.event($0) }, schema: Self.version1, topic: "ao-tx", brokers: broker.bootstrapServers, registry: registry.url, in: directory)
        registry.stop()

        let config = try RunFiles.write(Self.config("ao", registry: registry.url, directory: directory), to: directory, "ao.yaml")
        let job = try RunProcess([config, "--brokers", broker.bootstrapServers, "--exit-when-idle", "3", "--json"])
        let ops = try #require(job.opsEndpoint())
        var notReady: HTTP.Answer?
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let answer = HTTP.request("\(ops)/readyz"), answer.body.contains("schema registry") {
                notReady = answer
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(notReady?.status == 503)
        #expect(notReady?.body.contains(#""phase":"unavailable""#) == true, "\(notReady?.body ?? "no answer")")
        Thread.sleep(forTimeInterval: 1)
        // Nothing was dead-lettered or answered while it waited.
        #expect(try Topics.read(broker, "ao-dead").isEmpty)
        try registry.start()
        defer { registry.stop() }
        var model = ""
        let ready = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < ready {
            if let answer = HTTP.request("\(ops)/model"), answer.body.contains("\"schemas\":[{") {
                model = answer.body
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(model.contains(#""subject":"ao-tx-value""#), "\(model)")
        let result = job.wait()
        #expect(result.status == 0, "\(result.stderr)")
        let scores = try Topics.scores(broker, "ao-scores")
        #expect(Set(scores.keys) == Set((0..<50).map { "t\($0)" }))
        #expect(scores.values.allSatisfy { $0.count == 1 })
        #expect(try Topics.read(broker, "ao-dead").isEmpty)
    }

    @Test("Basic authentication: the password from a file or the environment, refused without it, never printed")
    func basicAuthentication() throws {
        let broker = try EmbeddedBroker(topics: [("aa-tx", 1), ("aa-labels", 1), ("aa-scores", 1), ("aa-dead", 1)])
        defer { broker.close() }
        let directory = try RunFiles.directory("avro-auth")
        defer { try? FileManager.default.removeItem(at: directory) }
        let password = "s3cret-\(UInt32.random(in: 0...UInt32.max))"
        let registry = try TestRegistry(in: directory, user: "scorer", password: password)
        defer { registry.stop() }
        let schemaPath = try RunFiles.write(Self.version1, to: directory, "v1.avsc")
        let lines = (0..<20).map { Self.event($0) }.joined(separator: "\n") + "\n"
        let arguments = [
            "produce", "--brokers", broker.bootstrapServers, "--topic", "aa-tx", "--format", "avro", "--schema", schemaPath,
            "--schema-registry", registry.url, "-",
        ]
        let refused = try CLI.run(arguments, stdin: lines)
        #expect(refused.status == 69)
        #expect(refused.stderr.contains("answered 401"), "\(refused.stderr)")
        setenv("STREAMLEARN_TEST_REGISTRY_PASSWORD", password, 1)
        defer { unsetenv("STREAMLEARN_TEST_REGISTRY_PASSWORD") }
        let produced = try CLI.run(
            arguments + ["--registry-user", "scorer", "--registry-password-env", "STREAMLEARN_TEST_REGISTRY_PASSWORD"], stdin: lines)
        #expect(produced.status == 0, "\(produced.stderr)")
        let passwordFile = try RunFiles.write(password + "\n", to: directory, "registry-password")
        let config = try RunFiles.write(
            Self.config(
                "aa", registry: registry.url, directory: directory,
                extra: "    basic_auth: {user: scorer, password_file: \(passwordFile)}"),
            to: directory, "aa.yaml")
        let run = try RunProcess.toIdle(config, brokers: broker.bootstrapServers)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(RunFiles.summary(run)["scored"] as? Int == 20)
        #expect(!run.stderr.contains(password) && !run.stdout.contains(password))
    }

    @Test("Configuration: an Avro input needs a registry, a password comes from the environment or a file, bandit jobs read JSON")
    func configuration() throws {
        let directory = try RunFiles.directory("avro-config")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(String, String)] = [
            ("input:\n  events: avro", "input.schema_registry: is required: input.events is avro"),
            ("input:\n  events: protobuf\n  schema_registry: {url: http://x:1}", "input.events"),
            ("input:\n  events: avro\n  schema_registry: {url: ftp://x}", "input.schema_registry.url: must be an http(s) URL"),
            ("input:\n  events: avro\n  schema_registry:\n    url: http://x:1\n    basic_auth: {user: u, password_env: STREAMLEARN_NO_SUCH_VARIABLE}",
             "input.schema_registry.basic_auth.password_env: the environment variable 'STREAMLEARN_NO_SUCH_VARIABLE' is not set"),
            ("input:\n  events: avro\n  schema_registry:\n    url: http://x:1\n    basic_auth: {user: u}",
             "input.schema_registry.basic_auth.password_env: give the password with exactly one of password_env and password_file"),
        ]
        for (section, message) in cases {
            let config = try RunFiles.write(
                RunTests.scoringConfig(name: "c", events: "e", scores: "s", deadLetter: "d", snapshots: directory.path, extra: section),
                to: directory, "c.yaml")
            let result = try CLI.run(["run", config, "--brokers", "127.0.0.1:1"])
            #expect(result.status == 78, "\(section): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(section): \(result.stderr)")
        }
    }
}
