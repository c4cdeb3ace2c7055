import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaRuntime
import Logging
import NIOCore
import StreamJobs
import StreamOps
import StreamTestKit
import Alerting
import StreamPipeline
import OnlineLearning
import Testing

/// The ops endpoint's routes through hummingbird's testing router: no socket, no Kafka (the runtime is not
/// started, so the job is `starting`).
@Suite("The ops endpoint's routes")
struct OpsRouterTests {
    static func endpoint(maxMessageBytes: Int = 1_024) throws -> OpsEndpoint {
        var configuration = try RuntimeConfiguration.parse(yaml: """
            job: scoring
            name: ops-routes
            topics: {events: e, scores: s}
            output: {max_message_bytes: \(maxMessageBytes)}
            """)
        configuration.ops.address = nil
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let runtime = StreamRuntime(configuration: configuration, brokers: "127.0.0.1:1", logger: logger)
        return OpsEndpoint(address: OpsAddress("127.0.0.1:0")!, runtime: runtime, logger: logger) { _ in }
    }

    @Test("/readyz, /metrics and /score while the job starts: 503 not ready, the metrics text, 503 no model yet, 400 naming the field for a bad event, 413 over max_message_bytes, 405 with Allow for other methods")
    func routes() async throws {
        let application = try Self.endpoint().application()
        try await application.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains(#""phase":"starting""#))
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("streamlearn_"))
            }
            try await client.execute(
                uri: "/score", method: .post, body: ByteBuffer(string: #"{"id":"a","features":{"x":1}}"#)
            ) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("no model yet"))
            }
            try await client.execute(
                uri: "/score", method: .post, body: ByteBuffer(string: #"{"id":"a","features":{"x":"#)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains(#""error":"#))
            }
            try await client.execute(
                uri: "/score", method: .post, body: ByteBuffer(repeating: UInt8(ascii: " "), count: 2_000)
            ) { response in
                #expect(response.status == .contentTooLarge)
            }
            try await client.execute(uri: "/score", method: .get) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
            }
        }
    }
}

/// `POST /score` on a job with keyed aggregates: the live keyed state, read without learning.
@Suite("Synchronous scores with keyed aggregates")
struct SyncScoreAggregateTests {
    static let yaml = """
        job: scoring
        name: ops-aggregates
        topics: {events: e, scores: s}
        output: {explain: 3}
        model:
          interactions: [[merchant, country]]
        features:
          aggregates:
            - {name: card_count_1h, key: card, function: count, window: 1h}
            - {name: card_amount_z, key: card, function: zscore, field: amount, window: 1d}
            - {name: card_new_country, key: card, function: first_seen, field: country, window: 1d}
            - {name: merchant_rate, key: merchant, function: target_rate, window: 1d}
        """

    static func transaction(_ index: Int) -> String {
        let country = index % 17 == 0 ? "BR" : "US"
        return #"{"id":"t\#(index)","ts":\#(1_767_225_600_000 + index * 60_000),"card":"c\#(index % 9)","merchant":"m\#(index % 4)","amount":\#(10 + index % 23),"country":"\#(country)"}"#
    }

    @Test("/score answers what the stream would score next, bit for bit, with the same explanation, and learns nothing")
    func scoreEqualsStream() async throws {
        var configuration = try RuntimeConfiguration.parse(yaml: Self.yaml)
        configuration.ops.address = nil
        let scoring = try #require(configuration.job.scoring)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ops-aggregates-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let job = try ScoringJob(
            scoring, state: nil, store: SnapshotStore(directory: directory),
            raiser: AlertRaiser(model: .init(name: "ops-aggregates", version: "1"), dispatcher: nil))
        var driver = JobDriver(job)
        var lines: [String] = []
        for index in 0..<400 {
            lines.append(Self.transaction(index))
            if index >= 5 { lines.append(#"{"id":"t\#(index - 5)","label":\#(index % 11 == 0 ? 1 : 0)}"#) }
        }
        try driver.feed(lines)
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let runtime = StreamRuntime(configuration: configuration, brokers: "127.0.0.1:1", logger: logger)
        runtime.status.publish([-1: try #require(job.liveModel())], tasks: nil)
        runtime.status.set(.running)
        let endpoint = OpsEndpoint(address: OpsAddress("127.0.0.1:0")!, runtime: runtime, logger: logger) { _ in }
        let next = Self.transaction(400).replacingOccurrences(of: "\"US\"", with: "\"FR\"")
        let answers = try await endpoint.application().test(.router) { client in
            var answers: [String] = []
            for _ in 0..<2 {
                let response = try await client.execute(uri: "/score?explain=3", method: .post, body: ByteBuffer(string: next))
                #expect(response.status == .ok)
                answers.append(String(buffer: response.body))
            }
            try await client.execute(uri: "/score?explain=x", method: .post, body: ByteBuffer(string: next)) { response in
                #expect(response.status == .badRequest)
            }
            return answers
        }
        // Twice the same: the request was not added to the keys' history.
        #expect(answers.count == 2 && answers[0] == answers[1])
        try driver.feed([next])
        let streamed = try #require(driver.output.answers.last)
        let decode = { (text: String) -> [String: Any] in
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        }
        let answer = decode(answers[0])
        let stream = decode(streamed)
        #expect((answer["score"] as! Double).bitPattern == (stream["score"] as! Double).bitPattern)
        let explained = try #require(answer["explain"] as? [[String: Any]])
        #expect(explained.count == 3)
        #expect(explained.map { $0["feature"] as! String } == (stream["explain"] as! [[String: Any]]).map { $0["feature"] as! String })
        // The new country is a first-seen value for the card, named as the event carried it.
        let names = Set(explained.map { $0["feature"] as! String })
        #expect(!names.isEmpty)
        let contributions = explained.map { $0["contribution"] as! Double }
        #expect(contributions == contributions.sorted(by: >))
    }
}
