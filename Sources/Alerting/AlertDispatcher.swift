import DequeModule
import Foundation
public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends every alert to every sink from a thread of its own, behind a bounded queue, so that a slow or dead sink
/// never holds the thread that raises alerts (the learning thread).
///
/// Each sink gets `attempts` tries with exponential backoff. An alert that a sink still refuses is counted as
/// failed and written to the fallback file (unless that file is itself a sink that took the alert), or, without
/// one, logged with its full body: an alert is never dropped silently. When the queue is full, a new alert is
/// written to the fallback (or the log) at once and counted as overflowed.
///
/// ``finish(within:)`` drains the queue within a deadline; what is still queued then goes to the fallback in
/// full. Call it once, at the end.
public final class AlertDispatcher: Sendable {
    /// What a dispatcher has done so far.
    public struct Counts: Sendable, Hashable {
        /// Deliveries that succeeded (one per sink and alert).
        public var delivered = 0
        /// Retries made.
        public var retried = 0
        /// Deliveries that failed every attempt.
        public var failed = 0
        /// Alerts that found the queue full (written to the fallback at once).
        public var overflowed = 0
        /// Alerts still queued or being delivered when ``finish(within:)``'s deadline passed (written to the
        /// fallback; one being delivered may also reach its sink, if the sink answers before the process ends).
        public var abandoned = 0
        /// Whether the delivery thread had finished when ``finish(within:)`` returned (when it has not, its sinks
        /// are still in use and must not be closed).
        public var stopped = true
    }

    public let sinks: [any AlertSink]
    public let fallback: JSONLinesFileSink?
    /// Attempts per sink and alert. Default 3.
    public let attempts: Int
    /// Wait before the second attempt; doubled for each further one. Default 100 ms.
    public let backoff: Duration
    /// Alerts that may wait for delivery. Default 1,024.
    public let capacity: Int
    private let logger: Logger
    private let counters = Mutex(Counts())
    private let queue: Mutex<Queue>
    private let ready = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)

    struct Queue {
        var alerts: Deque<Alert> = []
        /// The alert the delivery thread is delivering.
        var inFlight: Alert?
        var closing = false
        var started = false
        /// Set when the deadline passed: what is left went to the fallback, the thread delivers nothing more.
        var abandoned = false
    }

    public init(
        sinks: [any AlertSink], fallback: JSONLinesFileSink? = nil, attempts: Int = 3,
        backoff: Duration = .milliseconds(100), capacity: Int = 1_024, logger: Logger = Logger(label: "streamlearn.alerts")
    ) {
        self.sinks = sinks
        self.fallback = fallback
        self.attempts = max(attempts, 1)
        self.backoff = backoff
        self.capacity = max(capacity, 1)
        self.logger = logger
        queue = Mutex(Queue())
    }

    /// What the dispatcher has done so far.
    public var counts: Counts { counters.withLock { $0 } }

    /// Queues `alert` for delivery and returns at once (the delivery thread starts with the first alert).
    public func dispatch(_ alert: Alert) {
        guard !sinks.isEmpty else { return }
        enum Outcome { case queued(startThread: Bool), full, closed }
        let outcome: Outcome = queue.withLock { queue in
            if queue.closing { return .closed }
            if queue.alerts.count >= capacity { return .full }
            queue.alerts.append(alert)
            defer { queue.started = true }
            return .queued(startThread: !queue.started)
        }
        switch outcome {
        case .queued(let startThread):
            if startThread {
                let thread = Thread { [self] in deliverQueued() }
                thread.name = "streamlearn.alerts"
                thread.start()
            }
            ready.signal()
        case .full:
            counters.withLock { $0.overflowed += 1 }
            logger.error("alert queue full (\(capacity) waiting): alert \(alert.id) goes to the fallback")
            rescue(alert)
        case .closed:
            deliver(alert)
        }
    }

    /// Delivers what is queued within `deadline`, then writes whatever is still queued or being delivered to the
    /// fallback in full. Returns the counts; `stopped` tells whether the delivery thread has finished.
    @discardableResult
    public func finish(within deadline: Duration = .seconds(10)) -> Counts {
        let started = queue.withLock { queue in
            queue.closing = true
            return queue.started
        }
        guard started else { return counts }
        ready.signal()  // wakes the thread to see `closing` when the queue is empty
        let seconds = Double(deadline.components.seconds) + Double(deadline.components.attoseconds) * 1e-18
        guard stopped.wait(timeout: .now() + seconds) == .timedOut else { return counts }
        let left: [Alert] = queue.withLock { queue in
            queue.abandoned = true
            let left = (queue.inFlight.map { [$0] } ?? []) + queue.alerts
            queue.alerts.removeAll()
            return left
        }
        if !left.isEmpty {
            logger.error("\(left.count) alerts not delivered within \(deadline) at exit: they go to the fallback")
            counters.withLock { $0.abandoned += left.count }
            for alert in left { rescue(alert) }
        }
        var result = counts
        result.stopped = false
        return result
    }

    /// The delivery thread: takes alerts in order until closed and drained.
    private func deliverQueued() {
        while true {
            ready.wait()
            while let alert = next() {
                deliver(alert)
                queue.withLock { $0.inFlight = nil }
            }
            if queue.withLock({ $0.abandoned || ($0.closing && $0.alerts.isEmpty) }) {
                stopped.signal()
                return
            }
        }
    }

    private func next() -> Alert? {
        queue.withLock { queue in
            guard !queue.abandoned, let alert = queue.alerts.popFirst() else { return nil }
            queue.inFlight = alert
            return alert
        }
    }

    /// Delivers `alert` to every sink with retries, on the calling thread.
    func deliver(_ alert: Alert) {
        var failedSinks: [String] = []
        var fallbackHasIt = false
        for sink in sinks {
            var wait = backoff
            var lastError: (any Error)?
            for attempt in 1...attempts {
                do {
                    try sink.deliver(alert)
                    lastError = nil
                    counters.withLock { $0.delivered += 1 }
                    break
                } catch {
                    lastError = error
                    guard attempt < attempts else { break }
                    counters.withLock { $0.retried += 1 }
                    Thread.sleep(forTimeInterval: Double(wait.components.seconds) + Double(wait.components.attoseconds) * 1e-18)
                    wait = wait * 2
                }
            }
            guard let lastError else {
                if let fallback, sink.name == fallback.name { fallbackHasIt = true }
                continue
            }
            counters.withLock { $0.failed += 1 }
            failedSinks.append(sink.name)
            logger.error("alert not delivered to \(sink.name) after \(attempts) attempts: \(lastError)")
        }
        if !failedSinks.isEmpty && !fallbackHasIt { rescue(alert) }
    }

    /// Writes `alert` to the fallback file, or logs its full body.
    private func rescue(_ alert: Alert) {
        if let fallback, (try? fallback.deliver(alert)) != nil { return }
        logger.critical("undelivered alert: \(alert.jsonLine())")
    }
}
