import StreamPipeline
import Foundation
import StreamKafka
import Synchronization

/// The bound on every wait the runtime makes on Kafka. Kafka that stops answering (a refused connection, a request
/// that times out, a producer queue that stays full) makes the job unavailable at once (`/readyz` 503, phase
/// `unavailable`); each call is retried with backoff (100 ms, doubling to 2 s) until it succeeds or
/// `kafka.unavailable_timeout_s` has passed since Kafka last answered, and then the job stops with the reason
/// (exit 69). Once a stop is asked for (SIGTERM), every wait also ends by `kafka.shutdown_timeout_s` after it, so
/// the process always exits within that bound.
///
/// Shared by the loop's thread and the thread that asks for the stop; its state is behind a `Mutex`, with an
/// atomic flag that the hot path reads alone.
final class KafkaWaits: Sendable {
    let unavailableTimeout: Duration
    let shutdownTimeout: Duration
    private let status: RuntimeStatus
    private let unavailable = Atomic<Bool>(false)
    private struct State {
        var since: ContinuousClock.Instant?
        var reason = ""
        var stopAt: ContinuousClock.Instant?
        var lastProbe: ContinuousClock.Instant?
    }
    private let state = Mutex(State())

    init(unavailableTimeout: Duration, shutdownTimeout: Duration, status: RuntimeStatus) {
        self.unavailableTimeout = unavailableTimeout
        self.shutdownTimeout = shutdownTimeout
        self.status = status
    }

    /// Whether Kafka stopped answering and has not answered since (one atomic load).
    var isUnavailable: Bool { unavailable.load(ordering: .relaxed) }

    /// Whether a stop was asked for.
    var isStopping: Bool { state.withLock { $0.stopAt != nil } }

    /// A stop was asked for: from now on waits end by `shutdownTimeout` from now.
    func stop() { state.withLock { $0.stopAt = $0.stopAt ?? .now } }

    /// When the current waits must end, if they must: `unavailableTimeout` after Kafka last answered, or
    /// `shutdownTimeout` after a stop was asked for, whichever comes first.
    var deadline: ContinuousClock.Instant? {
        state.withLock { state in
            let unavailable = state.since.map { $0 + unavailableTimeout }
            let stopping = state.stopAt.map { $0 + shutdownTimeout }
            switch (unavailable, stopping) {
            case (let a?, let b?): return min(a, b)
            case (let a?, nil): return a
            case (nil, let b?): return b
            case (nil, nil): return nil
            }
        }
    }

    /// Whether the time to wait is up.
    var isOver: Bool { deadline.map { ContinuousClock.now >= $0 } ?? false }

    /// Kafka did not answer: marks the job unavailable (from the first such failure on).
    func failed(_ reason: String) {
        state.withLock { state in
            if state.since == nil { state.since = .now }
            state.reason = reason
        }
        if !unavailable.exchange(true, ordering: .relaxed) { status.setUnavailable(true) }
    }

    /// Kafka answered.
    func answered() {
        guard unavailable.exchange(false, ordering: .relaxed) else { return }
        state.withLock {
            $0.since = nil
            $0.reason = ""
        }
        status.setUnavailable(false)
    }

    /// The error that ends the job once the time to wait is up: what was being done, for how long Kafka has not
    /// answered, and its last error.
    func givingUp(_ what: String, _ error: KafkaError?) -> RuntimeError {
        let (since, reason, stopping) = state.withLock { ($0.since, $0.reason, $0.stopAt != nil) }
        let silent = since.map { ContinuousClock.now - $0 } ?? .zero
        let limit = stopping
            ? "kafka.shutdown_timeout_s (\(shutdownTimeout.seconds) s) after the stop"
            : "kafka.unavailable_timeout_s (\(unavailableTimeout.seconds) s)"
        var message = "\(what): Kafka has not answered for \(String(format: "%.1f", silent.seconds)) s, past \(limit)"
        if let error { message += ": \(error.message)" } else if !reason.isEmpty { message += ": \(reason)" }
        return RuntimeError(.kafka, message, underlying: error)
    }

    /// Runs `call` (given the longest it may wait) until it succeeds. A failure that another try may mend
    /// (``KafkaError/isRetriable``, a time-out, no broker answering) is retried with backoff until ``deadline``;
    /// any other failure, or the last retriable one, becomes a ``RuntimeError`` naming `what`.
    func retrying<Value>(
        _ what: @autoclosure () -> String, attempt: Duration = .seconds(5),
        _ call: (Duration) throws(KafkaError) -> Value
    ) throws(RuntimeError) -> Value {
        var backoff = Duration.milliseconds(100)
        while true {
            let left = deadline.map { $0 - ContinuousClock.now }
            do {
                let value = try call(max(.milliseconds(100), min(attempt, left ?? attempt)))
                answered()
                return value
            } catch {
                guard Self.mayRetry(error) else { throw RuntimeError.kafka(error, what()) }
                failed("\(what()): \(error.message)")
                if isOver { throw givingUp(what(), error) }
                pause(backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    /// Whether another try may succeed: the brokers are away or slow, not refusing what was asked.
    static func mayRetry(_ error: KafkaError) -> Bool {
        !error.isFatal && (error.isRetriable || error.code == .timedOut || error.code == .brokersUnreachable)
    }

    /// Sleeps up to `duration`, less when the deadline comes first.
    func pause(_ duration: Duration) {
        let until = min(ContinuousClock.now + duration, deadline ?? .now + duration)
        let left = until - ContinuousClock.now
        if left > .zero { Thread.sleep(forTimeInterval: left.seconds) }
    }

    /// `duration`, or less when the deadline comes first (at least 100 ms): for a single call that must not
    /// outlast the bound (closing a client, aborting a transaction).
    func bounded(_ duration: Duration) -> Duration {
        guard let deadline else { return duration }
        return max(.milliseconds(100), min(duration, deadline - ContinuousClock.now))
    }

    /// Whether to check the brokers now: at most once a second, while unavailable or `idle`.
    func probeDue(idle: Bool) -> Bool {
        guard isUnavailable || idle else { return false }
        return state.withLock { state in
            if let last = state.lastProbe, ContinuousClock.now - last < .seconds(1) { return false }
            state.lastProbe = .now
            return true
        }
    }
}
