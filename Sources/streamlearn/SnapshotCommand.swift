import ArgumentParser
import Foundation
import OnlineLearning
import StreamCore

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Inspect a snapshot directory or file (checksums verified).",
        discussion: """
            Examples:
              streamlearn snapshot list .streamlearn/snapshots/fraud
              streamlearn snapshot show .streamlearn/snapshots/fraud/snapshot-00000003.json --json
            """,
        subcommands: [SnapshotList.self, SnapshotShow.self]
    )
}

struct SnapshotList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the snapshots of a directory, newest first, each verified (length and CRC-32).",
        discussion: """
            Example:
              streamlearn snapshot list snapshots/
            """
    )

    @Argument(help: "The snapshot directory.")
    var directory: String

    @Flag(help: "Print one JSON object per snapshot.")
    var json = false

    func run() async throws {
        guard FileManager.default.fileExists(atPath: directory) else {
            Output.error("error: no snapshot directory '\(directory)'")
            throw ExitCode(66)
        }
        let store = try SnapshotStore(directory: directory)
        for path in store.files() {
            let name = (path as NSString).lastPathComponent
            let entry: SnapshotStore.Entry
            do {
                entry = try SnapshotStore.read(path)
            } catch {
                if json {
                    let object: [String: Any] = ["file": name, "ok": false, "reason": error.reason]
                    Output.line(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
                } else {
                    Output.line("\(name)  REFUSED: \(error.reason)")
                }
                continue
            }
            if json {
                let object: [String: Any] = [
                    "file": name, "sequence": entry.header.sequence, "reason": entry.header.reason,
                    "created_at": ISO8601DateFormatter().string(from: entry.header.createdAt),
                    "length": entry.header.length, "crc32": entry.header.crc32, "ok": true,
                ]
                Output.line(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } else {
                Output.line("\(name)  #\(entry.header.sequence)  \(entry.header.reason)  \(ISO8601DateFormatter().string(from: entry.header.createdAt))  \(entry.header.length) bytes  crc32 \(entry.header.crc32)  ok")
            }
        }
    }
}

struct SnapshotShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Verify one snapshot file and print its header and the learner it holds.",
        discussion: """
            Exit 65 when the file is refused (the reason names what is wrong).

            Example:
              streamlearn snapshot show snapshots/snapshot-00000012.json --json
            """
    )

    @Argument(help: "The snapshot file.")
    var path: String

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() async throws {
        let entry: SnapshotStore.Entry
        do {
            entry = try SnapshotStore.read(path)
        } catch {
            Output.error("error: \(error)")
            throw ExitCode(65)
        }
        let payload = (try? JSONSerialization.jsonObject(with: entry.payload)) as? [String: Any] ?? [:]
        let kind = payload["kind"] as? String ?? "unknown"
        let kindVersion = payload["kind_version"] as? Int ?? 0
        if json {
            let object: [String: Any] = [
                "file": path, "sequence": entry.header.sequence, "reason": entry.header.reason,
                "created_at": ISO8601DateFormatter().string(from: entry.header.createdAt), "length": entry.header.length,
                "crc32": entry.header.crc32, "kind": kind, "kind_version": kindVersion,
                "positions": (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(entry.header.positions))) ?? [],
            ]
            Output.line(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
        } else {
            Output.line("file        \(path)")
            Output.line("sequence    \(entry.header.sequence) (\(entry.header.reason))")
            Output.line("created     \(ISO8601DateFormatter().string(from: entry.header.createdAt))")
            Output.line("payload     \(entry.header.length) bytes, crc32 \(entry.header.crc32) verified")
            Output.line("holds       \(kind) (kind_version \(kindVersion))")
            Output.line("positions   \(entry.header.positions.map(Self.describe).joined(separator: ", "))")
        }
    }

    /// A position in words: `file:PATH line N (byte B)` or `TOPIC/PARTITION offset N`.
    static func describe(_ position: SourcePosition) -> String {
        switch position {
        case .file(let file): "\(position.key) line \(file.line) (byte \(file.byteOffset))"
        case .kafka(let kafka): "\(position.key) offset \(kafka.offset)"
        }
    }
}
