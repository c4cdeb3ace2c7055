import Foundation
import OnlineLearning
import StreamCore
import Testing

@Suite("Snapshot store")
struct SnapshotStoreTests {
    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
    }

    @Test("Writes are durable files with a verified CRC-32, listed newest first, with a manifest; old ones pruned")
    func writeListPrune() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SnapshotStore(directory: path, keepLast: 3, keepAlertSnapshotsFor: .seconds(3_600))
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        try store.write(Data("alert state".utf8), reason: .alert("m/drift.psi/amount/1"), at: start)
        for index in 0..<5 {
            try store.write(Data("state \(index)".utf8), reason: .periodic, positions: [.kafka(KafkaPosition(topic: "events", partition: 0, offset: Int64(index * 100)))], at: start + Double(index))
        }
        let names = store.files().map { ($0 as NSString).lastPathComponent }
        // The newest three, and the alert snapshot (younger than an hour).
        #expect(names == ["snapshot-00000006.json", "snapshot-00000005.json", "snapshot-00000004.json", "snapshot-00000001.json"])
        let newest = try SnapshotStore.read(store.files()[0])
        #expect(newest.payload == Data("state 4".utf8))
        #expect(newest.header.positions == [.kafka(KafkaPosition(topic: "events", partition: 0, offset: 400))])
        #expect(newest.header.crc32 == "6a7ceaf5")  // zlib.crc32(b"state 4")
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: path + "/manifest.json"))) as? [String: [[String: Any]]]
        #expect(manifest?["snapshots"]?.count == 4)
        #expect(!FileManager.default.fileExists(atPath: path + "/snapshot-00000002.json"))
        #expect(manifest?["snapshots"]?.first?["file_size"] as? Int
            == (try FileManager.default.attributesOfItem(atPath: store.files()[0])[.size] as? NSNumber)?.intValue)
        // Entries are verified once and carried over while the file keeps its size; a file that changed size is
        // verified again at the next write (here: truncated, so refused).
        let truncated = path + "/snapshot-00000005.json"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: truncated))
        try bytes.prefix(bytes.count - 2).write(to: URL(fileURLWithPath: truncated))
        try store.write(Data("state 5".utf8), reason: .periodic, at: start + 5)
        let after = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: path + "/manifest.json"))) as? [String: [[String: Any]]]
        let rows = after?["snapshots"] ?? []
        #expect(rows.map { $0["file"] as? String } == [
            "snapshot-00000007.json", "snapshot-00000006.json", "snapshot-00000005.json", "snapshot-00000001.json",
        ])
        #expect((rows[2]["refused"] as? String)?.contains("truncated") == true)
        #expect(rows[1]["refused"] == nil && rows[1]["crc32"] != nil)
        // Past its age the alert snapshot goes too.
        try store.write(Data("late".utf8), reason: .periodic, at: start + 7_200)
        #expect(!store.files().contains { $0.hasSuffix("snapshot-00000001.json") })
        #expect(store.files().count == 3)
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: path).allSatisfy { !$0.contains(".tmp") })
    }

    @Test("CRC-32 is zlib's")
    func crc() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SnapshotStore(directory: path)
        // zlib.crc32(b"123456789") == 0xcbf43926
        try store.write(Data("123456789".utf8), reason: .shutdown, at: Date(timeIntervalSince1970: 0))
        #expect(try SnapshotStore.read(store.files()[0]).header.crc32 == "cbf43926")
    }

    @Test("A truncated or altered snapshot is refused, naming the file, and the previous good one is used")
    func corruption() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SnapshotStore(directory: path)
        for index in 1...3 {
            try store.write(Data(String(repeating: "payload \(index) ", count: 50).utf8), reason: .periodic, at: Date(timeIntervalSince1970: Double(index)))
        }
        let files = store.files()
        // Newest: truncated. Second: one flipped byte in the payload.
        let newest = try Data(contentsOf: URL(fileURLWithPath: files[0]))
        try newest.prefix(newest.count - 10).write(to: URL(fileURLWithPath: files[0]))
        var second = try Data(contentsOf: URL(fileURLWithPath: files[1]))
        second[second.count - 5] ^= 0x01
        try second.write(to: URL(fileURLWithPath: files[1]))

        let (entry, refused) = store.newestGood()
        #expect(entry?.path == files[2])
        #expect(entry?.payload == Data(String(repeating: "payload 1 ", count: 50).utf8))
        #expect(refused.count == 2)
        #expect(refused[0].description.contains("snapshot '\(files[0])' refused: truncated or padded"))
        #expect(refused[1].description.contains("snapshot '\(files[1])' refused: checksum mismatch"))
        #expect(throws: SnapshotStoreError.self) { try SnapshotStore.read(path + "/missing.json") }
    }

    @Test("Temporary files a killed writer left behind are removed when the store is opened; a live writer's are kept")
    func staleTemporaries() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try SnapshotStore(directory: path)
        // A process that has exited: its pid is free (until reused, which the store then leaves alone).
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let dead = path + "/snapshot-00000003.json.tmp-\(finished.processIdentifier)"
        let deadManifest = path + "/manifest.json.tmp-\(finished.processIdentifier)"
        let mine = path + "/snapshot-00000004.json.tmp-\(getpid())"
        for file in [dead, deadManifest, mine] { try Data("partial".utf8).write(to: URL(fileURLWithPath: file)) }
        let store = try SnapshotStore(directory: path)
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(!FileManager.default.fileExists(atPath: deadManifest))
        #expect(FileManager.default.fileExists(atPath: mine))
        #expect(store.files().isEmpty)
        // A path that is a file, not a directory, is refused by name.
        let file = path + "/plain"
        try Data().write(to: URL(fileURLWithPath: file))
        #expect(throws: SnapshotStoreError(directory: file, reason: "is not a directory")) { _ = try SnapshotStore(directory: file) }
    }
}
