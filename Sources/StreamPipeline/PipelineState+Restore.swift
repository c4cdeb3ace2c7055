import Foundation
public import OnlineLearning
public import StreamCore

extension PipelineState {
    /// A state read back from a snapshot file, with where its sources stood.
    public struct Restored: Sendable {
        public var state: PipelineState
        public var positions: [SourcePosition]
        /// The file it came from.
        public var path: String
        /// Newer files that were refused on the way (truncated, altered, unreadable), with the reasons.
        public var refused: [SnapshotStoreError]
    }

    /// The state of one snapshot file (`--save-snapshot`'s, or one of a store's): verified, then decoded. A bare
    /// classifier's snapshot (kind `progressive-classifier`) starts a state with no detectors.
    public static func load(file path: String) throws(PipelineError) -> Restored {
        let entry: SnapshotStore.Entry
        do {
            entry = try SnapshotStore.read(path)
        } catch {
            throw PipelineError(.snapshotRefused, "\(error)")
        }
        return Restored(state: try decode(entry), positions: entry.header.positions, path: path, refused: [])
    }

    /// The newest snapshot of a store directory that verifies; newer ones that do not are named in `refused`.
    /// Throws when the directory is missing or holds no usable snapshot (the error lists what was refused).
    public static func loadNewest(in directory: String) throws(PipelineError) -> Restored {
        guard FileManager.default.fileExists(atPath: directory) else {
            throw PipelineError(.cannotOpenInput, "no snapshot directory '\(directory)'")
        }
        let store: SnapshotStore
        do {
            store = try SnapshotStore(directory: directory)
        } catch {
            throw PipelineError(.cannotOpenInput, "\(error)")
        }
        // A state that does not decode is refused like a damaged file, and the next older snapshot is tried.
        var refused: [SnapshotStoreError] = []
        let found = store.newestUsable(refused: &refused) { entry in
            Result { () throws(LearningError) in try decodeState(entry.payload) }
                .mapError { SnapshotStoreError(path: entry.path, reason: "its state cannot be loaded: \($0)") }
        }
        guard let (entry, state) = found else {
            let reasons = refused.map { "\n  \($0)" }.joined()
            throw PipelineError(.cannotOpenInput, "no usable snapshot in '\(directory)'\(reasons)")
        }
        return Restored(state: state, positions: entry.header.positions, path: entry.path, refused: refused)
    }

    static func decode(_ entry: SnapshotStore.Entry) throws(PipelineError) -> PipelineState {
        do {
            return try decodeState(entry.payload)
        } catch {
            throw PipelineError(.snapshotRefused, "snapshot '\(entry.path)' refused: its state cannot be loaded: \(error)")
        }
    }

    /// A pipeline state, or a bare classifier's (kind `progressive-classifier`) as a state with no detectors.
    static func decodeState(_ payload: Data) throws(LearningError) -> PipelineState {
        if let kind = (try? JSONSerialization.jsonObject(with: payload) as? [String: Any])?["kind"] as? String,
            kind == ProgressiveClassifier.snapshotKind
        {
            return PipelineState(classifier: try Snapshot.decode(ProgressiveClassifier.self, from: payload))
        }
        return try Snapshot.decode(PipelineState.self, from: payload)
    }
}
