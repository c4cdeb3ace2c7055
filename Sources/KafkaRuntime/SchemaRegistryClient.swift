public import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
public import StreamCore
import StreamPipeline
import Synchronization

/// Where the schema registry is and how to reach it (`input.schema_registry`).
public struct SchemaRegistrySettings: Sendable, Hashable {
    /// The registry's base URL (`http://registry:8081`).
    public var url: URL
    /// HTTP basic authentication: the user and the password (read from an environment variable or a file at
    /// start-up; never logged, never in `/model`).
    public var user: String?
    public var password: String?
    /// The longest one request may take. Default 5 s.
    public var timeout: Duration = .seconds(5)
    /// The most schemas kept (each is looked up once for the process's life, up to this many). Default 1,000.
    public var cache = 1_000

    public init(url: URL) { self.url = url }
}

/// A Confluent-compatible schema registry's read API (`GET /schemas/ids/{id}`, with `/versions` for the subject
/// and version) and its register call (`POST /subjects/{subject}/versions`), over HTTP with Foundation.
///
/// Schemas are cached for the process's life (up to ``SchemaRegistrySettings/cache``). An id the registry says it
/// does not know (404) is ``SchemaLookup/unknown`` (and asked again after 30 s, not per message). A registry that
/// does not answer (refused, timed out, 5xx, refused credentials) is waited for when the client `waits`: each try
/// is retried with backoff (100 ms doubling to 5 s) while `onWaiting` reports the reason (the runtime turns it into
/// `/readyz` 503), until it answers or `isStopping` says to give up; a client that does not wait (the CLI) answers
/// ``SchemaLookup/unavailable`` at once.
public final class SchemaRegistryClient: SchemaSource {
    public let settings: SchemaRegistrySettings
    private let waits: Bool
    private let onWaiting: @Sendable (String?) -> Void
    private let isStopping: @Sendable () -> Bool
    private struct Cache {
        var schemas: [Int32: RegisteredSchema] = [:]
        var order: [Int32] = []
        var unknown: [Int32: ContinuousClock.Instant] = [:]
    }
    private let cache = Mutex(Cache())

    public init(
        settings: SchemaRegistrySettings, waits: Bool = false, onWaiting: @escaping @Sendable (String?) -> Void = { _ in },
        isStopping: @escaping @Sendable () -> Bool = { false }
    ) {
        self.settings = settings
        self.waits = waits
        self.onWaiting = onWaiting
        self.isStopping = isStopping
    }

    /// The schemas looked up so far, by id (for `/model`).
    public var known: [RegisteredSchema] {
        cache.withLock { cache in cache.order.compactMap { cache.schemas[$0] } }
    }

    public func schema(id: Int32) -> SchemaLookup {
        let cached: SchemaLookup? = cache.withLock { cache in
            if let schema = cache.schemas[id] { return .found(schema) }
            if let since = cache.unknown[id], ContinuousClock.now - since < .seconds(30) { return .unknown }
            return nil
        }
        if let cached { return cached }
        var backoff = Duration.milliseconds(100)
        var waited = false
        defer { if waited { onWaiting(nil) } }
        while true {
            switch fetch(id) {
            case .found(let schema):
                cache.withLock { cache in
                    if cache.order.count >= settings.cache, let oldest = cache.order.first {
                        cache.order.removeFirst()
                        cache.schemas[oldest] = nil
                    }
                    cache.schemas[id] = schema
                    cache.order.append(id)
                    cache.unknown[id] = nil
                }
                return .found(schema)
            case .unknown:
                cache.withLock { cache in
                    if cache.unknown.count >= settings.cache { cache.unknown.removeAll() }
                    cache.unknown[id] = .now
                }
                return .unknown
            case .unavailable(let reason):
                guard waits, !isStopping() else { return .unavailable(reason) }
                waited = true
                onWaiting(reason)
                let until = ContinuousClock.now + backoff
                while ContinuousClock.now < until && !isStopping() { Thread.sleep(forTimeInterval: 0.05) }
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    /// One try: the schema, its absence, or why the registry did not answer.
    private func fetch(_ id: Int32) -> SchemaLookup {
        let (status, body, failure) = request("GET", "schemas/ids/\(id)")
        if let failure { return .unavailable(failure) }
        if status == 404 { return .unknown }
        guard status == 200 else { return .unavailable(Self.refusal(status, body, "GET /schemas/ids/\(id)")) }
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any],
            let text = object["schema"] as? String
        else {
            return .unavailable("GET /schemas/ids/\(id): the answer has no 'schema' string")
        }
        let kindName = (object["schemaType"] as? String) ?? "AVRO"
        guard let kind = RegisteredSchema.Kind(rawValue: kindName) else {
            return .unavailable("GET /schemas/ids/\(id): unknown schemaType '\(kindName)'")
        }
        var schema = RegisteredSchema(id: id, kind: kind, text: text)
        // Where it is registered: for `/model` only, so a registry without this call is fine.
        let (versionStatus, versionBody, _) = request("GET", "schemas/ids/\(id)/versions")
        if versionStatus == 200, let list = (try? JSONSerialization.jsonObject(with: versionBody)) as? [[String: Any]],
            let first = list.first
        {
            schema.subject = first["subject"] as? String
            schema.version = first["version"] as? Int
        }
        return .found(schema)
    }

    /// Registers `schema` under `subject` (a new version, or the id it already has); its id.
    public func register(subject: String, schema: String, kind: RegisteredSchema.Kind = .avro) throws -> Int32 {
        var payload: [String: Any] = ["schema": schema]
        if kind != .avro { payload["schemaType"] = kind.rawValue }
        let body = try JSONSerialization.data(withJSONObject: payload)
        let path = "subjects/\(subject.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? subject)/versions"
        let (status, answer, failure) = request("POST", path, body: body)
        if let failure { throw RegistryError(message: failure) }
        guard status == 200, let object = (try? JSONSerialization.jsonObject(with: answer)) as? [String: Any],
            let id = object["id"] as? Int
        else {
            throw RegistryError(message: Self.refusal(status, answer, "POST /\(path)"))
        }
        return Int32(id)
    }

    public struct RegistryError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    static func refusal(_ status: Int, _ body: Data, _ what: String) -> String {
        let message = ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?["message"] as? String
        return "\(what) answered \(status)\(message.map { ": \($0)" } ?? "")"
    }

    /// One HTTP exchange, blocking: the status and body, or why there was none.
    private func request(_ method: String, _ path: String, body: Data? = nil) -> (Int, Data, String?) {
        var request = URLRequest(url: settings.url.appendingPathComponent(path), timeoutInterval: settings.timeout.seconds)
        request.httpMethod = method
        request.setValue("application/vnd.schemaregistry.v1+json", forHTTPHeaderField: "Accept")
        if let body {
            request.httpBody = body
            request.setValue("application/vnd.schemaregistry.v1+json", forHTTPHeaderField: "Content-Type")
        }
        if let user = settings.user {
            let credentials = Data("\(user):\(settings.password ?? "")".utf8).base64EncodedString()
            request.setValue("Basic \(credentials)", forHTTPHeaderField: "Authorization")
        }
        let result = Mutex<(Int, Data, String?)>((0, Data(), "no answer"))
        let done = DispatchSemaphore(value: 0)
        let base = settings.url.absoluteString
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                result.withLock { $0 = (0, Data(), "\(base): \(error.localizedDescription)") }
            } else {
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                result.withLock { $0 = (status, data ?? Data(), nil) }
            }
            done.signal()
        }.resume()
        if done.wait(timeout: .now() + settings.timeout.seconds + 1) == .timedOut {
            return (0, Data(), "\(base): no answer within \(settings.timeout.seconds) s")
        }
        return result.withLock { $0 }
    }
}
