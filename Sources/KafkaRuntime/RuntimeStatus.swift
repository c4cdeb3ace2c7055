import StreamCore
package import StreamJobs
import Synchronization

/// What the runtime's loop shows the ops endpoint: its phase, its progress through a recovery, the model's
/// description for `/model`, and the model `POST /score` uses. Written by the loop, read by HTTP handlers.
public final class RuntimeStatus: Sendable {
    public enum Phase: String, Sendable, CaseIterable {
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
        /// Why the job waits for something other than Kafka (the schema registry), shown by `/readyz`.
        var waitingFor: String?
    }

    private let state = Mutex(State())
    /// The models `POST /score` reads, by task (-1: the one model of `kafka.assignment: all`), and the number
    /// of tasks in the group (`nil` for `all`).
    private let live = Mutex<(models: [Int: LiveModel], tasks: Int?)>(([:], nil))

    public init() {}

    package func set(_ phase: Phase, remaining: Int = 0) {
        state.withLock {
            $0.phase = phase
            $0.remaining = remaining
            $0.lastLoop = .now
        }
    }

    package func setUnavailable(_ unavailable: Bool) {
        state.withLock {
            $0.unavailable = unavailable
            $0.lastLoop = .now
        }
    }

    /// The schema registry stopped answering (`reason`) or answers again (`nil`).
    package func setRegistryUnavailable(_ reason: String?) {
        state.withLock {
            $0.waitingFor = reason
            $0.lastLoop = .now
        }
    }

    /// Why the job is unavailable, when something other than Kafka keeps it so.
    package var unavailableReason: String? { state.withLock { $0.waitingFor } }

    package func loopTurned(model: [UInt8]? = nil) {
        state.withLock {
            $0.lastLoop = .now
            if let model { $0.model = model }
        }
    }

    package func publish(_ models: [Int: LiveModel], tasks: Int?) { live.withLock { $0 = (models, tasks) } }

    /// The model that scores an event with this id: the only one, or (in a group) that of the partition the
    /// id's key goes to (CRC-32, as librdkafka's default partitioner), if this instance holds it.
    package func liveModel(id: UnsafeRawBufferPointer?) -> Result<LiveModel, ModelUnavailable> {
        let (models, tasks) = live.withLock { $0 }
        guard let tasks else { return models[-1].map { .success($0) } ?? .failure(.starting) }
        guard let id else { return .failure(.needsID) }
        let task = Int(CRC32.checksum(id) % UInt32(tasks))
        return models[task].map { .success($0) } ?? .failure(.elsewhere(task))
    }

    package enum ModelUnavailable: Error {
        case starting
        case needsID
        /// The partition's task is on another instance.
        case elsewhere(Int)
    }

    package var phase: (phase: Phase, remaining: Int, sinceLoop: Duration) {
        state.withLock {
            (($0.unavailable || $0.waitingFor != nil) && $0.phase != .stopping ? .unavailable : $0.phase, $0.remaining,
             .now - $0.lastLoop)
        }
    }

    package var modelDocument: [UInt8] { state.withLock { $0.model } }
}
