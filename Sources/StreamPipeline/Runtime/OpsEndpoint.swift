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

/// What the runtime's loop shows the ops endpoint: its phase, its progress through a recovery, the model's
/// description for `/model`, and the model `POST /score` uses. Written by the loop, read by HTTP handlers.
public final class RuntimeStatus: Sendable {
    public enum Phase: String, Sendable {
        case starting
        /// Loading snapshots and reading what the outputs already hold.
        case recovering
        /// Learning again the messages whose answers are already out (after a restart or a rebalance).
        case relearning
        case running
        /// The consumer group is moving partitions.
        case rebalancing
        /// Kafka is not answering: calls are retried within `kafka.unavailable_timeout_s`.
        case unavailable
        case stopping
    }

    struct State {
        var phase = Phase.starting
        /// Messages still to re-learn before answering again.
        var remaining = 0
        var lastLoop = ContinuousClock.now
        /// The `/model` document (JSON), rebuilt by the loop a few times a second.
        var model: [UInt8] = Array("{}".utf8)
        /// Kafka is not answering (shown as the phase, but stopping).
        var unavailable = false
    }

    private let state = Mutex(State())
    /// The models `POST /score` reads, by task (-1: the one model of `kafka.assignment: all`), and the number
    /// of tasks in the group (`nil` for `all`).
    private let live = Mutex<(models: [Int: LiveModel], tasks: Int?)>(([:], nil))

    public init() {}

    func set(_ phase: Phase, remaining: Int = 0) {
        state.withLock {
            $0.phase = phase
            $0.remaining = remaining
            $0.lastLoop = .now
        }
    }

    func setUnavailable(_ unavailable: Bool) {
        state.withLock {
            $0.unavailable = unavailable
            $0.lastLoop = .now
        }
    }

    func loopTurned(model: [UInt8]? = nil) {
        state.withLock {
            $0.lastLoop = .now
            if let model { $0.model = model }
        }
    }

    func publish(_ models: [Int: LiveModel], tasks: Int?) { live.withLock { $0 = (models, tasks) } }

    /// The model that scores an event with this id: the only one, or (in a group) that of the partition the
    /// id's key goes to (CRC-32, as librdkafka's default partitioner), if this instance holds it.
    func liveModel(id: UnsafeRawBufferPointer?) -> Result<LiveModel, ModelUnavailable> {
        let (models, tasks) = live.withLock { $0 }
        guard let tasks else { return models[-1].map { .success($0) } ?? .failure(.starting) }
        guard let id else { return .failure(.needsID) }
        let task = Int(CRC32.checksum(id) % UInt32(tasks))
        return models[task].map { .success($0) } ?? .failure(.elsewhere(task))
    }

    enum ModelUnavailable: Error {
        case starting
        case needsID
        /// The partition's task is on another instance.
        case elsewhere(Int)
    }

    var phase: (phase: Phase, remaining: Int, sinceLoop: Duration) {
        state.withLock { ($0.unavailable && $0.phase != .stopping ? .unavailable : $0.phase, $0.remaining, .now - $0.lastLoop) }
    }

    var modelDocument: [UInt8] { state.withLock { $0.model } }
}

/// A frozen copy of the scoring model: what `POST /score` reads, never torn (a value, replaced whole).
public final class LiveModel: Sendable {
    let classifier: ProgressiveClassifier
    /// Labelled events learned: the `model_version` of the stream's scores.
    let version: Int
    let threshold: Double

    init(classifier: ProgressiveClassifier, version: Int, threshold: Double) {
        self.classifier = classifier
        self.version = version
        self.threshold = threshold
    }
}

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

    private let decoder: EventDecoderConfiguration
    private let status: RuntimeStatus
    nonisolated(unsafe) private var pool: [Worker] = []
    private let lock = Mutex(())

    init(decoder: EventDecoderConfiguration, status: RuntimeStatus) {
        self.decoder = decoder
        self.status = status
    }

    /// The HTTP status and the JSON body answering `body`.
    func score(_ body: UnsafeRawBufferPointer) -> (status: Int, body: [UInt8]) {
        let worker = lock.withLock { _ in pool.popLast() } ?? Worker(decoder: decoder)
        defer { lock.withLock { _ in pool.append(worker) } }
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
        scorer = runtime.configuration.job == .scoring
            ? SyncScorer(decoder: runtime.configuration.decoder, status: runtime.status) : nil
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
            Self.response(.ok, metrics.text(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("healthz") { _, _ -> Response in
            let (_, _, sinceLoop) = status.phase
            return sinceLoop < .seconds(30)
                ? Self.response(.ok, #"{"healthy":true}"#)
                : Self.response(.serviceUnavailable, #"{"healthy":false,"reason":"the loop has not turned for \#(sinceLoop)"}"#)
        }
        router.get("readyz") { _, _ -> Response in
            let (phase, remaining, _) = status.phase
            let body = #"{"ready":\#(phase == .running),"phase":"\#(phase.rawValue)","remaining_messages":\#(remaining)}"#
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
            let started = ContinuousClock.now
            let (code, answer) = body.withUnsafeReadableBytes { scorer.score($0) }
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
