import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A graceful stop asked for by SIGTERM or SIGINT. Commands that read a stream check it between lines and finish
/// cleanly (final snapshot, summary, flushed sinks) instead of dying mid-stream; a second signal exits at once
/// (status 128 + signal), as an impatient Ctrl-C expects.
final class ShutdownRequest: Sendable {
    private let received = Atomic<Int32>(0)

    /// The signal received (0: none yet).
    var signal: Int32 { received.load(ordering: .relaxed) }

    /// Whether a stop was asked for. One relaxed atomic load: cheap enough to check per line.
    var isRequested: Bool { signal != 0 }

    /// The signal's conventional name.
    var signalName: String { signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)" }

    private init() {}

    /// Traps SIGTERM and SIGINT through swift-service-lifecycle's `UnixSignalsSequence` (their default action,
    /// termination, no longer applies) and returns the request they set.
    static func trap() async -> ShutdownRequest {
        let request = ShutdownRequest()
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        Task.detached {
            for await signal in signals {
                let (exchanged, _) = request.received.compareExchange(
                    expected: 0, desired: signal.rawValue, ordering: .relaxed)
                if !exchanged { exit(128 + signal.rawValue) }
            }
        }
        return request
    }
}
