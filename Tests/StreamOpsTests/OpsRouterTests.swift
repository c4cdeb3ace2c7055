import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaRuntime
import Logging
import NIOCore
import StreamJobs
import StreamOps
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
