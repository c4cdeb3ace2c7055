public import Foundation
public import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Durable snapshots in one directory: each written to a temporary file, fsynced, renamed into place, and the
/// directory fsynced, so a crash leaves either the old set or the new one; each file carries a CRC-32 of its
/// payload; `manifest.json` lists them; old ones are pruned.
///
/// A file is one JSON header line, then the payload (for learners, a ``Snapshot`` document):
///
/// ```
/// {"created_at":"…","crc32":"9f1c0a2b","format":"streamlearn-snapshot-file","length":48213,"positions":[{"kafka":{"offset":1200,"partition":0,"topic":"events"}}],"reason":"periodic","sequence":12,"version":2}
/// {"format":"streamlearn-snapshot", …}
/// ```
///
/// Retention: the newest `keepLast` snapshots are kept, and every alert snapshot until it is older than
/// `keepAlertSnapshotsFor`. ``newestGood()`` verifies length and checksum and skips (naming them) files that are
/// truncated, altered or unreadable, so a corrupt snapshot is refused and the previous good one is used.
///
/// A single snapshot file (``writeFile(_:to:reason:positions:at:)``, `learn --save-snapshot`) has the same format,
/// so every command that takes a snapshot reads either. Temporary files that a killed writer left behind are
/// removed when a store is opened.
public struct SnapshotStore: Sendable {
    public enum Reason: Sendable, Hashable, Codable, CustomStringConvertible {
        case periodic
        case shutdown
        /// Written when the state moves to another instance (a consumer-group rebalance).
        case handover
        /// Written for a critical alert (its id).
        case alert(String)

        public var description: String {
            switch self {
            case .periodic: "periodic"
            case .shutdown: "shutdown"
            case .handover: "handover"
            case .alert(let id): "alert:\(id)"
            }
        }

        init(_ text: String) {
            if text == "periodic" {
                self = .periodic
            } else if text == "shutdown" {
                self = .shutdown
            } else if text == "handover" {
                self = .handover
            } else {
                self = .alert(String(text.dropFirst("alert:".count)))
            }
        }
    }

    /// Whose state a snapshot holds: the job's name and kind, and the settings that shaped the model (by their
    /// configuration key paths), so that a restart refuses another job's snapshot and a changed setting is never
    /// silently ignored.
    public struct Identity: Sendable, Hashable, Codable {
        public var job: String
        public var kind: String
        public var settings: [String: String]

        public init(job: String, kind: String, settings: [String: String]) {
            self.job = job
            self.kind = kind
            self.settings = settings
        }
    }

    /// A snapshot file's header.
    public struct Header: Sendable, Hashable, Codable {
        public var format: String
        public var version: Int
        public var sequence: Int
        public var reason: String
        public var createdAt: Date
        public var length: Int
        public var crc32: String
        /// What the snapshot's state had consumed of each source.
        public var positions: [SourcePosition]
        /// The job it belongs to (absent in snapshots written by `learn`, and by versions before it was kept).
        public var identity: Identity?

        enum CodingKeys: String, CodingKey {
            case format, version, sequence, reason, createdAt = "created_at", length, crc32, positions, identity
        }

        init(
            format: String, version: Int, sequence: Int, reason: String, createdAt: Date, length: Int, crc32: String,
            positions: [SourcePosition], identity: Identity?
        ) {
            self.format = format
            self.version = version
            self.sequence = sequence
            self.reason = reason
            self.createdAt = createdAt
            self.length = length
            self.crc32 = crc32
            self.positions = positions
            self.identity = identity
        }

        /// Lenient about `positions`, so that an older version's header is refused by its version, not its keys.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            format = try container.decode(String.self, forKey: .format)
            version = try container.decode(Int.self, forKey: .version)
            sequence = try container.decode(Int.self, forKey: .sequence)
            reason = try container.decode(String.self, forKey: .reason)
            createdAt = try container.decode(Date.self, forKey: .createdAt)
            length = try container.decode(Int.self, forKey: .length)
            crc32 = try container.decode(String.self, forKey: .crc32)
            positions = try container.decodeIfPresent([SourcePosition].self, forKey: .positions) ?? []
            identity = try container.decodeIfPresent(Identity.self, forKey: .identity)
        }
    }

    /// A verified snapshot: its file, header and payload.
    public struct Entry: Sendable {
        public var path: String
        public var header: Header
        public var payload: Data
    }

    public let directory: String
    /// Newest snapshots kept, whatever their reason. Default 5.
    public let keepLast: Int
    /// Alert snapshots are kept at least this long. Default 7 days.
    public let keepAlertSnapshotsFor: Duration

    public static let fileFormat = "streamlearn-snapshot-file"
    /// Version 2 carries typed ``SourcePosition``s; version 1 (string offsets) is refused by name.
    public static let fileVersion = 2

    public init(directory: String, keepLast: Int = 5, keepAlertSnapshotsFor: Duration = .seconds(7 * 86_400)) throws {
        self.directory = directory
        self.keepLast = max(keepLast, 1)
        self.keepAlertSnapshotsFor = keepAlertSnapshotsFor
        try Self.createDirectories(directory)
        Self.removeStaleTemporaries(in: directory)
    }

    /// `mkdir -p`, with the system's reason when it fails (Foundation's says only a domain and a code).
    static func createDirectories(_ directory: String) throws(SnapshotStoreError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw SnapshotStoreError(directory: directory, reason: "is not a directory") }
            return
        }
        var path = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw SnapshotStoreError(
                    directory: directory, reason: "cannot create it: \(path): \(String(cString: strerror(errno)))")
            }
        }
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SnapshotStoreError(directory: directory, reason: "cannot create it: a part of its path is not a directory")
        }
    }

    /// Words for a Foundation error (its localized description, not a domain and code).
    static func reason(_ error: any Error) -> String {
        if let error = error as? SnapshotStoreError { return error.reason }
        if let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return (error as NSError).localizedDescription
    }

    /// Throws, with the system's reason, unless a file can be created in the directory: a read-only directory is
    /// found when a job starts, not at its first snapshot.
    public func checkWritable() throws(SnapshotStoreError) {
        let path = (directory as NSString).appendingPathComponent(".write-check.tmp-\(getpid())")
        let descriptor = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw SnapshotStoreError(directory: directory, reason: "cannot write in it: \(String(cString: strerror(errno)))")
        }
        close(descriptor)
        unlink(path)
    }

    /// Removes `*.tmp-PID` files whose writer (PID) is no longer running: what a SIGKILL mid-write leaves.
    static func removeStaleTemporaries(in directory: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names {
            guard let range = name.range(of: ".tmp-", options: .backwards), let pid = Int32(name[range.upperBound...])
            else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                unlink((directory as NSString).appendingPathComponent(name))
            }
        }
    }

    /// The file name of the snapshot with this sequence number.
    public static func fileName(sequence: Int) -> String { String(format: "snapshot-%08d.json", sequence) }

    /// The highest sequence number on disk (0 when there is no snapshot).
    public var newestSequence: Int { files().compactMap { Self.sequence(of: $0) }.max() ?? 0 }

    /// Snapshot files in the directory, newest (highest sequence) first.
    public func files() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("snapshot-") && $0.hasSuffix(".json") }.sorted(by: >)
            .map { (directory as NSString).appendingPathComponent($0) }
    }

    /// The path the next ``write(_:reason:positions:at:)`` will write.
    public var nextPath: String {
        let sequence = (files().compactMap { Self.sequence(of: $0) }.max() ?? 0) + 1
        return (directory as NSString).appendingPathComponent(Self.fileName(sequence: sequence))
    }

    /// Writes `payload` as the next snapshot, durably; then rewrites the manifest and prunes. Returns its path.
    @discardableResult
    public func write(
        _ payload: Data, reason: Reason, positions: [SourcePosition] = [], identity: Identity? = nil, at date: Date
    ) throws(SnapshotStoreError) -> String {
        let sequence = (files().compactMap { Self.sequence(of: $0) }.max() ?? 0) + 1
        let path = (directory as NSString).appendingPathComponent(Self.fileName(sequence: sequence))
        try Self.write(
            payload, sequence: sequence, reason: reason, positions: positions, identity: identity, at: date, to: path,
            directory: directory)
        do {
            try prune(now: date)
            try writeManifest()
        } catch {
            throw SnapshotStoreError(directory: directory, reason: "cannot update the manifest: \(Self.reason(error))")
        }
        return path
    }

    /// Writes `payload` as one snapshot file at `path`, in the store's format, durably (`--save-snapshot`).
    public static func writeFile(
        _ payload: Data, to path: String, reason: Reason, positions: [SourcePosition] = [], at date: Date
    ) throws(SnapshotStoreError) {
        let directory = (path as NSString).deletingLastPathComponent
        try write(
            payload, sequence: 0, reason: reason, positions: positions, identity: nil, at: date, to: path,
            directory: directory.isEmpty ? "." : directory)
    }

    static func write(
        _ payload: Data, sequence: Int, reason: Reason, positions: [SourcePosition], identity: Identity?, at date: Date,
        to path: String, directory: String
    ) throws(SnapshotStoreError) {
        let header = Header(
            format: fileFormat, version: fileVersion, sequence: sequence, reason: reason.description, createdAt: date,
            length: payload.count, crc32: CRC32.hex(payload), positions: positions, identity: identity)
        var contents: Data
        do {
            contents = try encoder.encode(header)
        } catch {
            throw SnapshotStoreError(path: path, reason: "cannot encode the header: \(error)")
        }
        contents.append(UInt8(ascii: "\n"))
        contents.append(payload)
        try writeDurably(contents, to: path, directory: directory)
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// The sequence number in a snapshot file's name.
    public static func sequence(of path: String) -> Int? {
        let name = (path as NSString).lastPathComponent
        return Int(name.dropFirst("snapshot-".count).dropLast(".json".count))
    }

    /// Reads and verifies one snapshot file; the error names the file and what is wrong.
    public static func read(_ path: String) throws(SnapshotStoreError) -> Entry {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SnapshotStoreError(path: path, reason: "cannot be read")
        }
        guard let newline = data.firstIndex(of: UInt8(ascii: "\n")) else {
            throw SnapshotStoreError(path: path, reason: "has no header line (truncated?)")
        }
        let header: Header
        do {
            header = try decodeHeader(data[data.startIndex..<newline])
        } catch {
            throw SnapshotStoreError(path: path, reason: "header is not valid (\(error))")
        }
        guard header.format == fileFormat, header.version == fileVersion else {
            throw SnapshotStoreError(path: path, reason: "format '\(header.format)' version \(header.version) is not readable")
        }
        let payload = Data(data[(newline + 1)...])
        guard payload.count == header.length else {
            throw SnapshotStoreError(
                path: path, reason: "truncated or padded: payload is \(payload.count) bytes, header says \(header.length)")
        }
        let checksum = CRC32.hex(payload)
        guard checksum == header.crc32 else {
            throw SnapshotStoreError(path: path, reason: "checksum mismatch: crc32 \(checksum), header says \(header.crc32)")
        }
        return Entry(path: path, header: header, payload: payload)
    }

    /// The newest snapshot that verifies, and the files refused on the way (with reasons).
    public func newestGood() -> (entry: Entry?, refused: [SnapshotStoreError]) {
        var refused: [SnapshotStoreError] = []
        let found = newestUsable(refused: &refused) { _ in .success(()) }
        return (found?.entry, refused)
    }

    /// The newest snapshot that verifies and that `use` accepts, with what `use` made of it. Every file refused on
    /// the way — truncated, altered, unreadable, or refused by `use` (`.failure`: a state that does not decode,
    /// another job's) — is added to `refused`, newest first, and the next older one is tried; an error `use`
    /// throws ends the search. Reads one file at a time.
    public func newestUsable<Value, Failure: Error>(
        refused: inout [SnapshotStoreError], _ use: (Entry) throws(Failure) -> Result<Value, SnapshotStoreError>
    ) throws(Failure) -> (entry: Entry, value: Value)? {
        for path in files() {
            let entry: Entry
            do {
                entry = try Self.read(path)
            } catch {
                refused.append(error)
                continue
            }
            switch try use(entry) {
            case .success(let value): return (entry, value)
            case .failure(let error): refused.append(error)
            }
        }
        return nil
    }

    /// Keeps the newest `keepLast` files, and alert snapshots younger than `keepAlertSnapshotsFor`. Reads only
    /// the header lines of the files past `keepLast` (a file whose header cannot be read goes).
    func prune(now: Date) throws {
        let all = files()
        for path in all.dropFirst(keepLast) {
            if let header = Self.readHeader(path), header.reason.hasPrefix("alert:"),
                now.timeIntervalSince(header.createdAt) < Double(keepAlertSnapshotsFor.components.seconds)
            {
                continue
            }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// The header line of a snapshot file, read alone (at most 64 KiB), or nil when it cannot be read or parsed.
    static func readHeader(_ path: String) -> Header? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let prefix = try? handle.read(upToCount: 1 << 16), let newline = prefix.firstIndex(of: UInt8(ascii: "\n")) else {
            return nil
        }
        return try? decodeHeader(prefix[prefix.startIndex..<newline])
    }

    /// A header line's fields (dates in ISO 8601).
    static func decodeHeader(_ line: Data) throws -> Header {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(Header.self, from: line)
    }

    /// `manifest.json`: every snapshot file, newest first, with its header and size, or why it is refused. Each
    /// file is verified in full once, when it first appears; an entry of the previous manifest whose file has the
    /// same size is carried over unread, so a write costs one verification, not one per kept file. (`snapshot
    /// list` and ``newestGood()`` always verify in full.)
    func writeManifest() throws {
        let manifestPath = (directory as NSString).appendingPathComponent("manifest.json")
        var previous: [String: [String: Any]] = [:]
        if let data = FileManager.default.contents(atPath: manifestPath),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let items = object["snapshots"] as? [[String: Any]]
        {
            for item in items { if let name = item["file"] as? String { previous[name] = item } }
        }
        var items: [[String: Any]] = []
        for path in files() {
            let name = (path as NSString).lastPathComponent
            let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? -1
            if let known = previous[name], known["refused"] == nil, (known["file_size"] as? Int) == size {
                items.append(known)
                continue
            }
            do {
                let entry = try Self.read(path)
                items.append([
                    "file": name, "sequence": entry.header.sequence, "reason": entry.header.reason,
                    "created_at": ISO8601DateFormatter().string(from: entry.header.createdAt),
                    "crc32": entry.header.crc32, "length": entry.header.length, "file_size": size,
                ])
            } catch {
                items.append(["file": name, "refused": error.reason])
            }
        }
        let data = try JSONSerialization.data(withJSONObject: ["snapshots": items], options: [.sortedKeys, .prettyPrinted])
        try Self.writeDurably(data, to: manifestPath, directory: directory)
    }

    /// Temporary file, fsync, rename, fsync of the directory (``DurableFile``).
    static func writeDurably(_ data: Data, to path: String, directory: String) throws(SnapshotStoreError) {
        do {
            try DurableFile.write(data, to: path, directory: directory)
        } catch {
            throw SnapshotStoreError(path: error.path, reason: error.reason)
        }
    }
}

/// A snapshot file that cannot be used; names the file.
public struct SnapshotStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var reason: String
    /// Whether `path` is the store's directory (which is not "refused" but unusable).
    public var isDirectory = false

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// A store directory that cannot be used.
    public init(directory: String, reason: String) {
        path = directory
        self.reason = reason
        isDirectory = true
    }

    public var description: String {
        isDirectory ? "snapshot directory '\(path)': \(reason)" : "snapshot '\(path)' refused: \(reason)"
    }
}
