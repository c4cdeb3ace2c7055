import StreamJobs
public import KafkaRuntime
import Foundation
public import Hummingbird
import HummingbirdCore
#if canImport(Glibc)
import Glibc
#endif
public import Logging
public import ServiceLifecycle
import NIOCore
import OnlineLearning
import StreamCore
import Synchronization
import Prometheus

/// Scores one JSON event against the live model, without learning: the stream's decoder and its errors.
final class SyncScorer: Sendable {
    /// One request's working set; a pool of them serves concurrent requests without allocating per request.
    private final class Worker {
        let decoder: EventDecoder
        let event = DecodedEvent()
        var classifier: ProgressiveClassifier?
        /// The live model `classifier` is a copy of.
        var source: LiveModel?
        var writer = JSONWriter()

        init(decoder: EventDecoderConfiguration) { self.decoder = EventDecoder(configuration: decoder) }
    }

    /// A worker behind its lock: a request takes the next slot round the pool and holds it while it scores.
    private final class Slot: Sendable {
        let worker: Mutex<Worker>

        init(decoder: EventDecoderConfiguration) { worker = Mutex(Worker(decoder: decoder)) }
    }

    private let status: RuntimeStatus
    /// Twice the cores: requests run on the HTTP event loops, one per core, so a slot is rarely waited for.
    private let slots: [Slot]
    private let next = Atomic<Int>(0)

    init(decoder: EventDecoderConfiguration, status: RuntimeStatus) {
        self.status = status
        slots = (0..<max(2, 2 * ProcessInfo.processInfo.activeProcessorCount)).map { _ in Slot(decoder: decoder) }
    }

    /// The HTTP status and the JSON body answering `body`.
    /// With `explain` > 0, the answer lists that many of the largest contributions to the score.
    func score(_ body: ByteBuffer, explain: Int = 0) -> (status: Int, body: [UInt8]) {
        let slot = slots[next.add(1, ordering: .relaxed).oldValue % slots.count]
        let status = status
        return slot.worker.withLock { worker in
            body.withUnsafeReadableBytes { bytes in Self.score(bytes, worker: worker, status: status, explain: explain) }
        }
    }

    private static func score(
        _ body: UnsafeRawBufferPointer, worker: Worker, status: RuntimeStatus, explain: Int
    ) -> (status: Int, body: [UInt8]) {
        do {
            try worker.decoder.decode(body, into: worker.event)
        } catch {
            worker.writer.reset()
            worker.writer.raw(#"{"error":"#)
            worker.writer.string(error.description)
            worker.writer.raw(#","reason":"#)
            worker.writer.string(error.reason.name)
            worker.writer.raw(#","field":"#)
            if let field = error.field { worker.writer.string(field) } else { worker.writer.raw("null") }
            worker.writer.raw(#","byte":"#)
            worker.writer.int(error.offset)
            worker.writer.raw("}")
            return (400, worker.writer.bytes)
        }
        let event = worker.event
        if event.numeric.isEmpty && event.categorical.isEmpty && event.missing.isEmpty {
            return (400, Array(#"{"error":"an event with no features","reason":"no features","field":null,"byte":0}"#.utf8))
        }
        let live: LiveModel
        switch status.liveModel(id: event.id.map { event.bytes($0) }) {
        case .success(let model):
            live = model
        case .failure(.starting):
            return (503, Array(#"{"error":"no model yet: the job is starting"}"#.utf8))
        case .failure(.needsID):
            return (400, Array(#"{"error":"an event needs its id: each partition has its own model (kafka.assignment: group)","reason":"no id","field":null,"byte":0}"#.utf8))
        case .failure(.elsewhere(let task)):
            return (421, Array(#"{"error":"the model of partition \#(task) is on another instance of the group","partition":\#(task)}"#.utf8))
        }
        if worker.source !== live {
            worker.classifier = live.classifier
            worker.source = live
        }
        let probability = worker.classifier!.predict(event)
        worker.writer.reset()
        worker.writer.raw("{")
        if let id = event.id {
            worker.writer.raw(#""id":"#)
            worker.writer.string(event.bytes(id))
            worker.writer.raw(",")
        }
        worker.writer.raw(#""score":"#)
        worker.writer.double(probability)
        worker.writer.raw(#","decision":"#)
        worker.writer.bool(probability >= live.threshold)
        worker.writer.raw(#","model_version":"#)
        worker.writer.int(live.version)
        if explain > 0 {
            worker.writer.raw(#","explain":"#)
            worker.writer.contributions(worker.classifier!.explainLast(event, count: explain))
        }
        worker.writer.raw("}")
        return (200, worker.writer.bytes)
    }
}

/// The HTTP endpoint for operators (hummingbird), as a swift-service-lifecycle service beside the runtime:
///
/// - `GET /metrics`: the registry in Prometheus' text format.
/// - `GET /healthz`: 200 while the loop turns (503 when it has not for 30 s).
/// - `GET /readyz`: 200 when answering; 503 while starting, recovering, re-learning or rebalancing, with how
///   many messages are still to re-learn.
/// - `GET /model`: the job, its model's version, newest snapshot and recent metrics, as JSON.
/// - `POST /score` (scoring jobs): one JSON event in, its score from the live model out (no learning).
public struct OpsEndpoint: Sendable {
    public let address: OpsAddress
    let status: RuntimeStatus
    let metrics: RuntimeMetrics
    let scorer: SyncScorer?
    let maxBodyBytes: Int
    /// Open connections at most (``RuntimeConfiguration/Ops/maxConnections``, lowered under the descriptor limit).
    let maxConnections: Int
    let idleTimeout: Duration
    let logger: Logger
    /// Called with the address bound (the port, when 0 was asked for).
    let onListening: @Sendable (String) -> Void

    public init(
        address: OpsAddress, runtime: StreamRuntime, logger: Logger, onListening: @escaping @Sendable (String) -> Void
    ) {
        self.address = address
        status = runtime.status
        metrics = runtime.metrics
        scorer = runtime.configuration.job.scoring.map { SyncScorer(decoder: $0.decoder, status: runtime.status) }
        maxBodyBytes = runtime.configuration.output.maxMessageBytes
        maxConnections = min(runtime.configuration.ops.maxConnections, Self.connectionBudget())
        idleTimeout = runtime.configuration.ops.idleTimeout
        self.logger = logger
        self.onListening = onListening
    }

    /// The hummingbird application serving the endpoint (a `Service`).
    public func application() -> some ApplicationProtocol {
        let router = Router()
        let status = status
        let metrics = metrics
        let scorer = scorer
        let maxBodyBytes = maxBodyBytes
        router.get("metrics") { _, _ -> Response in
            metrics.setPhase(status.phase.phase)
            return Self.response(.ok, metrics.text(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("healthz") { _, _ -> Response in
            let (_, _, sinceLoop) = status.phase
            return sinceLoop < .seconds(30)
                ? Self.response(.ok, #"{"healthy":true}"#)
                : Self.response(.serviceUnavailable, #"{"healthy":false,"reason":"the loop has not turned for \#(sinceLoop)"}"#)
        }
        router.get("readyz") { _, _ -> Response in
            let (phase, remaining, _) = status.phase
            var body = #"{"ready":\#(phase == .running),"phase":"\#(phase.rawValue)","remaining_messages":\#(remaining)"#
            if let reason = status.unavailableReason {
                var writer = JSONWriter()
                writer.string(reason)
                body += #","reason":\#(String(decoding: writer.bytes, as: UTF8.self))"#
            }
            body += "}"
            return Self.response(phase == .running ? .ok : .serviceUnavailable, body)
        }
        router.get("model") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: status.modelDocument)))
        }
        // The other methods on /score: 405 with what is allowed (not 404: the resource is there).
        for method in [HTTPRequest.Method.get, .head, .put, .delete, .patch] {
            router.on("score", method: method) { _, _ -> Response in
                Response(
                    status: .methodNotAllowed, headers: [.allow: "POST", .contentType: "application/json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"error":"POST a JSON event to /score"}"#)))
            }
        }
        router.post("score") { request, _ -> Response in
            guard let scorer else {
                return Self.response(.notFound, #"{"error":"POST /score serves scoring jobs only"}"#)
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: maxBodyBytes)
            } catch {
                metrics.countScoreRequest(status: 413)
                return Self.response(.contentTooLarge, #"{"error":"body larger than output.max_message_bytes (\#(maxBodyBytes))"}"#)
            }
            var explain = 0
            if let text = request.uri.queryParameters["explain"] {
                guard let count = Int(String(text)), (0...64).contains(count) else {
                    metrics.countScoreRequest(status: 400)
                    return Self.response(.badRequest, #"{"error":"explain must be a whole number from 0 to 64"}"#)
                }
                explain = count
            }
            let started = ContinuousClock.now
            let (code, answer) = scorer.score(body, explain: explain)
            metrics.httpScoreLatency.record(.now - started)
            metrics.countScoreRequest(status: code)
            return Response(
                status: HTTPResponse.Status(code: code), headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer)))
        }
        let onListening = onListening
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: TimeAmount(idleTimeout))),
            configuration: ApplicationConfiguration(
                address: .hostname(address.host, port: address.port), serverName: nil,
                availableConnectionsDelegate: MaximumAvailableConnections(maxConnections, logger: logger)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                onListening("\(address.host):\(port)")
            },
            logger: logger)
    }

    /// Connections the endpoint may hold without taking descriptors the job needs (Kafka sockets, snapshot files):
    /// the soft descriptor limit, first raised to the hard one, less 256 (at least 16).
    static func connectionBudget() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 256 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return max(16, Int(clamping: limit.rlim_cur) - 256)
    }

    /// The endpoint as a service: the application, its failure to listen named as `ops.address`.
    public func service() -> some Service {
        OpsService(application: application(), address: "\(address.host):\(address.port)")
    }

    static func response(_ status: HTTPResponse.Status, _ text: String, contentType: String = "application/json") -> Response {
        Response(
            status: status, headers: [.contentType: contentType],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

struct OpsService<Application: ApplicationProtocol>: Service {
    let application: Application
    let address: String

    func run() async throws {
        do {
            try await application.run()
        } catch {
            throw RuntimeError(.ops, "ops.address \(address): cannot serve HTTP: \(error)")
        }
    }
}
