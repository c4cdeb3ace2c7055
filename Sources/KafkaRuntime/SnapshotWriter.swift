import StreamJobs
import Foundation
import OnlineLearning
import StreamCore
import Synchronization

/// Writes a task's snapshots off the loop: the loop hands over a captured state (a copy) with the positions it
/// covers and goes on scoring; the encoding, the file, its `fsync` and the manifest happen on the writer's own
/// queue, one snapshot at a time. The loop collects what was written with ``takeWritten()`` on a later turn.
///
/// A crash before a write ends leaves the previous snapshot as the newest: recovery starts there and re-learns
/// more, with the same result (the state is a function of the input).
final class SnapshotWriter: Sendable {
    /// A snapshot on disk.
    struct Written: Sendable {
        var path: String
        var positions: [SourcePosition]
    }

    private struct State {
        /// The sequence being written, if one is.
        var writing: Int?
        var written: [Result<Written, RuntimeError>] = []
    }

    let store: SnapshotStore
    private let queue: DispatchQueue
    private let state = Mutex(State())

    init(store: SnapshotStore, label: String) {
        self.store = store
        queue = DispatchQueue(label: "streamlearn.snapshots.\(label)", qos: .utility)
    }

    /// A snapshot is being written.
    var isBusy: Bool { state.withLock { $0.writing != nil } }

    /// The path the next snapshot handed over will be written to (one being written counts).
    var nextPath: String {
        (store.directory as NSString).appendingPathComponent(SnapshotStore.fileName(sequence: nextSequence))
    }

    private var nextSequence: Int { max(state.withLock { $0.writing } ?? 0, store.newestSequence) + 1 }

    /// Hands `captured` over to be encoded and written with `positions`; the caller checked ``isBusy``.
    func write(
        _ captured: JobState, reason: SnapshotStore.Reason, positions: [SourcePosition],
        identity: SnapshotStore.Identity, at date: Date
    ) {
        let sequence = nextSequence
        state.withLock { $0.writing = sequence }
        let store = store
        queue.async { [self] in
            let outcome: Result<Written, RuntimeError>
            do {
                let payload = try captured.encode()
                do {
                    let path = try store.write(payload, reason: reason, positions: positions, identity: identity, at: date)
                    outcome = .success(Written(path: path, positions: positions))
                } catch {
                    outcome = .failure(RuntimeError(.snapshot, "cannot write a snapshot: \(error)"))
                }
            } catch {
                outcome = .failure(RuntimeError(.snapshot, "cannot encode the state: \(error)"))
            }
            state.withLock { state in
                state.writing = nil
                state.written.append(outcome)
            }
        }
    }

    /// Snapshots written (or failed) since the last call, in order.
    func takeWritten() -> [Result<Written, RuntimeError>] {
        state.withLock { state in
            defer { state.written.removeAll() }
            return state.written
        }
    }

    /// Blocks until the snapshot being written, if any, is on disk (a task closing, a forced snapshot).
    func waitIdle() { queue.sync {} }
}
