public import Foundation
public import Logging
import DriftDetection
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where alerts go. `deliver` throws when the alert did not arrive; ``AlertDispatcher`` retries.
public protocol AlertSink: Sendable {
    /// A short name for logs and counters (`stdout`, `file:/path`, `kafka:topic`, `alertmanager:url`).
    var name: String { get }
    func deliver(_ alert: Alert) throws
}

/// What went wrong delivering an alert; names the sink.
public struct AlertSinkError: Error, Sendable, CustomStringConvertible {
    public var sink: String
    public var reason: String

    public init(sink: String, reason: String) {
        self.sink = sink
        self.reason = reason
    }

    public var description: String { "alert sink \(sink): \(reason)" }
}

/// Prints each alert as one JSON line on stdout.
public struct StandardOutputSink: AlertSink {
    public let name = "stdout"

    public init() {}

    public func deliver(_ alert: Alert) throws {
        FileHandle.standardOutput.write(Data((alert.jsonLine() + "\n").utf8))
    }
}

/// Appends each alert as one JSON line to a file (created if missing), flushed to disk before returning.
public struct JSONLinesFileSink: AlertSink {
    public let path: String
    public var name: String { "file:\(path)" }

    public init(path: String) {
        self.path = path
    }

    public func deliver(_ alert: Alert) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard descriptor >= 0 else {
            throw AlertSinkError(sink: name, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array((alert.jsonLine() + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else {
            throw AlertSinkError(sink: name, reason: "cannot write: \(String(cString: strerror(errno)))")
        }
    }
}

/// Posts alerts to Prometheus Alertmanager's v2 API (`POST /api/v2/alerts`) the way Prometheus does: a firing
/// alert is sent again every `resendInterval` until it resolves (Alertmanager resolves an alert it has not heard
/// of for its `resolve_timeout`), each time with `endsAt` four intervals ahead, so that an alert whose sender
/// died ends by itself; the resolution is sent with `endsAt` set to when it resolved. Each post is a one-element
/// array with `labels` (alertname, severity, detector, feature, model, model_version, alert_id), `annotations`
/// (value, threshold, window, snapshot, summary), `startsAt` (when the alert began firing) and `generatorURL`.
public final class AlertmanagerSink: AlertSink {
    public let url: URL
    public let timeout: Duration
    /// How often firing alerts are sent again (`nil`: never).
    public let resendInterval: Duration?
    /// Where a person finds the alert's source (the runtime's `/model`); may be set once the server listens.
    public var generatorURL: URL? {
        get { generator.withLock { $0 } }
        set { generator.withLock { $0 = newValue } }
    }
    private let generator: Mutex<URL?>
    public var name: String { "alertmanager:\(url.absoluteString)" }
    /// Firing alerts by id, with when each began firing.
    private let firing = Mutex<[String: (alert: Alert, since: Date)]>([:])
    private let resender = Mutex<(started: Bool, stopped: Bool)>((false, false))
    private let wake = DispatchSemaphore(value: 0)
    private let logger: Logger

    /// `base`: Alertmanager's address, e.g. `http://localhost:9093`.
    public init(
        base: URL, timeout: Duration = .seconds(5), resendInterval: Duration? = .seconds(60), generatorURL: URL? = nil,
        logger: Logger = Logger(label: "streamlearn.alertmanager")
    ) {
        url = base.appendingPathComponent("api/v2/alerts")
        self.timeout = timeout
        self.resendInterval = resendInterval
        generator = Mutex(generatorURL)
        self.logger = logger
    }

    /// The request body for `alert` when it is sent on its own (as it is raised).
    public static func body(for alert: Alert) -> [[String: Any]] {
        body(for: alert, startsAt: alert.at, endsAt: alert.state == .resolved ? alert.at : nil, generatorURL: nil)
    }

    static func body(for alert: Alert, startsAt: Date, endsAt: Date?, generatorURL: URL?) -> [[String: Any]] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var item: [String: Any] = [
            "labels": [
                "alertname": alert.kind, "severity": alert.severity.rawValue, "detector": alert.detector,
                "feature": alert.feature, "model": alert.model.name, "model_version": alert.model.version,
                "alert_id": alert.id,
            ],
            "annotations": [
                "value": String(alert.value), "threshold": String(alert.threshold),
                "window": "[\(alert.window.start), \(alert.window.end))", "snapshot": alert.snapshot ?? "",
                "summary": "\(alert.kind) \(alert.state.rawValue) on \(alert.feature): \(alert.value)",
            ],
            "startsAt": formatter.string(from: startsAt),
        ]
        if let endsAt { item["endsAt"] = formatter.string(from: endsAt) }
        if let generatorURL { item["generatorURL"] = generatorURL.absoluteString }
        return [item]
    }

    /// Posts `alert`; a firing one is then sent again every ``resendInterval`` until its resolution is delivered.
    ///
    /// Alertmanager tells alerts apart by their labels: a resolution carries the labels its firing alert was sent
    /// with (the severity it fired at), and an escalation from warning to critical ends the warning one.
    public func deliver(_ alert: Alert) throws {
        let now = Date()
        let previous: (alert: Alert, since: Date)? = firing.withLock { firing in
            defer { firing[alert.id] = alert.state == .firing ? (alert, firing[alert.id]?.since ?? alert.at) : nil }
            return firing[alert.id]
        }
        let since = previous?.since ?? alert.at
        if alert.state == .firing {
            if let previous, previous.alert.severity != alert.severity {
                var ended = previous.alert
                ended.state = .resolved
                try post(Self.body(for: ended, startsAt: since, endsAt: alert.at, generatorURL: generatorURL))
            }
            startResending()
            try post(Self.body(for: alert, startsAt: since, endsAt: endsAt(alert, now: now), generatorURL: generatorURL))
        } else {
            var resolution = alert
            if let previous { resolution.severity = previous.alert.severity }
            try post(Self.body(for: resolution, startsAt: since, endsAt: alert.at, generatorURL: generatorURL))
        }
    }

    /// Stops sending firing alerts again (they end by their `endsAt`).
    public func close() {
        resender.withLock { $0.stopped = true }
        wake.signal()
    }

    /// The alerts being sent again, by id.
    public var firingAlerts: [String] { firing.withLock { $0.keys.sorted() } }

    private func endsAt(_ alert: Alert, now: Date) -> Date? {
        if alert.state == .resolved { return alert.at }
        guard let resendInterval else { return nil }
        return now.addingTimeInterval(4 * Self.seconds(resendInterval))
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    private func startResending() {
        guard let resendInterval else { return }
        let start = resender.withLock { state in
            defer { state.started = true }
            return !state.started && !state.stopped
        }
        guard start else { return }
        let thread = Thread { [self] in
            while wake.wait(timeout: .now() + Self.seconds(resendInterval)) == .timedOut {
                if resender.withLock({ $0.stopped }) { return }
                let now = Date()
                for (alert, since) in firing.withLock({ Array($0.values) }).sorted(by: { $0.alert.id < $1.alert.id }) {
                    do {
                        try post(Self.body(for: alert, startsAt: since, endsAt: endsAt(alert, now: now), generatorURL: generatorURL))
                    } catch {
                        logger.warning("re-sending alert \(alert.id) failed: \(error)")
                    }
                }
            }
        }
        thread.name = "streamlearn.alertmanager"
        thread.start()
    }

    private func post(_ body: [[String: Any]]) throws {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) * 1e-18
        request.timeoutInterval = seconds
        let outcome = Mutex<Result<Int, AlertSinkError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let sinkName = name
        let timeout = timeout
        URLSession.shared.dataTask(with: request) { _, response, error in
            let result: Result<Int, AlertSinkError> =
                if let error {
                    .failure(AlertSinkError(sink: sinkName, reason: Self.describe(error, timeout: timeout)))
                } else {
                    .success((response as? HTTPURLResponse)?.statusCode ?? 0)
                }
            outcome.withLock { $0 = result }
            done.signal()
        }.resume()
        guard done.wait(timeout: .now() + seconds + 2) == .success else {
            throw AlertSinkError(sink: name, reason: "no answer within \(timeout)")
        }
        let status = try outcome.withLock { $0 }!.get()
        guard (200..<300).contains(status) else { throw AlertSinkError(sink: name, reason: "HTTP status \(status)") }
    }

    /// A request error in words (Foundation's text is a domain and a number).
    static func describe(_ error: any Error, timeout: Duration) -> String {
        guard let error = error as? URLError else { return "\(error)" }
        switch error.code {
        case .timedOut: return "no answer within \(timeout) (the request timed out)"
        case .cannotConnectToHost: return "cannot connect (connection refused)"
        case .cannotFindHost, .dnsLookupFailed: return "cannot find the host"
        case .networkConnectionLost: return "the connection was lost"
        case .notConnectedToInternet: return "no network"
        case .badServerResponse: return "not an HTTP answer"
        default: return "the request failed (URL error \(error.code.rawValue))"
        }
    }
}

/// Keeps every alert in memory, in order: the sink for tests (as swift-log's in-memory handler).
public final class InMemoryAlertSink: AlertSink {
    private let stored = Mutex<[Alert]>([])
    public let name = "memory"

    public init() {}

    /// The alerts delivered so far.
    public var alerts: [Alert] { stored.withLock { $0 } }

    public func deliver(_ alert: Alert) throws {
        stored.withLock { $0.append(alert) }
    }
}
