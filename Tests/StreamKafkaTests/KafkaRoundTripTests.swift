import Foundation
import Logging
import StreamKafka
import Testing

@Suite("Produce and consume through the embedded broker")
struct KafkaRoundTripTests {
    @Test("100,000 keyed messages over 16 partitions: none lost, none duplicated, keys stick to partitions")
    func hundredThousandKeyedMessages() throws {
        let topic = TestBroker.unique("roundtrip")
        try TestBroker.shared.createTopic(topic, partitions: 16)
        let total = 100_000
        let producer = try TestBroker.producer()
        for index in 0..<total {
            try producer.send(topic: topic, key: "key-\(index % 1000)", value: "\(index)")
            if index % 1000 == 0 { producer.poll() }
        }
        let report = try producer.close()
        #expect(report.delivered == total)
        #expect(report.failed == 0)

        let consumer = try TestBroker.consumer(group: TestBroker.unique("roundtrip-group"))
        try consumer.subscribe(topics: [topic])
        let reads = try consumer.read(total, commit: true)
        // Nothing more arrives: no duplicates beyond the total.
        let extra = try consumer.poll(timeout: .seconds(1))
        try consumer.close()

        #expect(reads.count == total)
        #expect(extra.isEmpty)
        let values = reads.map { Int($0.value)! }
        #expect(Set(values).count == total)
        #expect(Set(values) == Set(0..<total))
        // Offsets per partition are contiguous from 0, and all 16 partitions got data.
        let byPartition = Dictionary(grouping: reads, by: \.partition)
        #expect(byPartition.count == 16)
        for (_, partitionReads) in byPartition {
            #expect(partitionReads.map(\.offset) == Array(0..<Int64(partitionReads.count)))
        }
        // Same key, same partition: value v has key v % 1000.
        var partitionOfKey: [Int: Int32] = [:]
        for read in reads {
            let key = Int(read.value)! % 1000
            #expect(partitionOfKey[key, default: read.partition] == read.partition)
            partitionOfKey[key] = read.partition
        }
    }

    @Test("Headers, keys and timestamps survive the trip; copies outlive the poll")
    func headersAndKeys() throws {
        let topic = TestBroker.unique("headers")
        try TestBroker.shared.createTopic(topic, partitions: 1)
        let producer = try TestBroker.producer()
        try producer.send(
            topic: topic, key: "k1", value: "{\"a\":1}",
            headers: [KafkaHeader(name: "trace", value: "abc"), KafkaHeader(name: "empty", value: nil)])
        try producer.send(topic: topic, key: nil, value: "second")
        try producer.close()

        let consumer = try TestBroker.consumer(group: TestBroker.unique("headers-group"))
        try consumer.assign([TopicPartitionOffset(topic, 0, offset: 0)])
        var messages: [KafkaMessage] = []
        while messages.count < 2 {
            messages += try consumer.poll(timeout: .seconds(1))
        }
        try consumer.close()
        #expect(messages[0].keyString == "k1")
        #expect(messages[0].valueString == "{\"a\":1}")
        #expect(messages[0].headers == [KafkaHeader(name: "trace", value: "abc"), KafkaHeader(name: "empty", value: nil)])
        #expect(messages[0].topic == topic)
        #expect(messages[0].timestampMilliseconds != nil)
        #expect(messages[1].key == nil)
        #expect(messages[1].valueString == "second")
        #expect(messages[1].offset == 1)
    }
}

@Suite("Offsets: commit, restart, seek, start offsets, pause")
struct KafkaOffsetTests {
    /// Sends `count` messages with values "p:i" to each partition explicitly.
    func fill(_ topic: String, partitions: Int32, perPartition count: Int) throws {
        let producer = try TestBroker.producer()
        for partition in 0..<partitions {
            for index in 0..<count {
                try producer.send(topic: topic, partition: partition, key: nil, value: "\(partition):\(index)")
            }
        }
        try producer.close()
    }

    @Test("Commit, close, restart: the next member resumes exactly after the last committed offset")
    func restartResumesAfterCommit() throws {
        let topic = TestBroker.unique("restart")
        try TestBroker.shared.createTopic(topic, partitions: 4)
        try fill(topic, partitions: 4, perPartition: 250)
        let group = TestBroker.unique("restart-group")

        let first = try TestBroker.consumer(group: group)
        try first.subscribe(topics: [topic])
        let firstReads = try first.read(300)
        // Commit exactly what was processed: per partition, the offset after the last read message.
        let processed = Dictionary(grouping: firstReads, by: \.partition).map { partition, reads in
            TopicPartitionOffset(topic, partition, offset: reads.map(\.offset).max()! + 1)
        }
        try first.commit(processed)
        let committed = try first.committedOffsets(for: processed.map(\.topicPartition))
        for entry in processed { #expect(committed[entry.topicPartition] == entry.offset) }
        try first.close()

        let second = try TestBroker.consumer(group: group)
        try second.subscribe(topics: [topic])
        let secondReads = try second.read(1000 - 300)
        let extra = try second.poll(timeout: .seconds(1))
        try second.close()

        #expect(firstReads.count == 300)
        #expect(secondReads.count == 700)
        #expect(extra.isEmpty)
        let all = (firstReads + secondReads).map(\.value)
        #expect(Set(all).count == 1000)
        // The second member started each partition exactly at the committed offset (or read nothing there when
        // the first member had finished it).
        for entry in processed {
            let firstOffset = secondReads.filter { $0.partition == entry.partition }.map(\.offset).min()
            #expect(firstOffset == (entry.offset == 250 ? nil : entry.offset))
        }
    }

    @Test("Seek to explicit offsets replays exactly those messages")
    func seekReplaysExactly() throws {
        let topic = TestBroker.unique("seek")
        try TestBroker.shared.createTopic(topic, partitions: 2)
        try fill(topic, partitions: 2, perPartition: 200)

        let consumer = try TestBroker.consumer(group: TestBroker.unique("seek-group"))
        try consumer.assign([TopicPartitionOffset(topic, 0, offset: 0), TopicPartitionOffset(topic, 1, offset: 0)])
        let everything = try consumer.read(400)
        #expect(everything.count == 400)

        try consumer.seek(to: [TopicPartitionOffset(topic, 0, offset: 50), TopicPartitionOffset(topic, 1, offset: 120)])
        let replay = try consumer.read(150 + 80)
        let extra = try consumer.poll(timeout: .seconds(1))
        try consumer.close()

        let expected = Set((50..<200).map { Read(partition: 0, offset: Int64($0), value: "0:\($0)") })
            .union((120..<200).map { Read(partition: 1, offset: Int64($0), value: "1:\($0)") })
        #expect(replay.count == 230)
        #expect(Set(replay) == expected)
        #expect(extra.isEmpty)
    }

    @Test("Start offsets from a snapshot override the group's committed offsets on assignment")
    func startOffsetsOnAssignment() throws {
        let topic = TestBroker.unique("start")
        try TestBroker.shared.createTopic(topic, partitions: 2)
        try fill(topic, partitions: 2, perPartition: 100)
        let consumer = try TestBroker.consumer(group: TestBroker.unique("start-group"))
        consumer.setStartOffsets([TopicPartitionOffset(topic, 0, offset: 90), TopicPartitionOffset(topic, 1, offset: 75)])
        try consumer.subscribe(topics: [topic])
        let reads = try consumer.read(10 + 25)
        let extra = try consumer.poll(timeout: .seconds(1))
        let events = consumer.takeEvents()
        try consumer.close()
        #expect(Set(reads.map(\.value)) == Set((90..<100).map { "0:\($0)" } + (75..<100).map { "1:\($0)" }))
        #expect(extra.isEmpty)
        #expect(events.contains(.assigned([TopicPartition(topic, 0), TopicPartition(topic, 1)])))
    }

    @Test("Pause stops a partition without losing its messages; resume delivers them")
    func pauseAndResume() throws {
        let topic = TestBroker.unique("pause")
        try TestBroker.shared.createTopic(topic, partitions: 2)
        let consumer = try TestBroker.consumer(group: TestBroker.unique("pause-group"))
        try consumer.assign([TopicPartitionOffset(topic, 0, offset: 0), TopicPartitionOffset(topic, 1, offset: 0)])
        try consumer.pause([TopicPartition(topic, 1)])
        try fill(topic, partitions: 2, perPartition: 20)
        let whilePaused = try consumer.read(40, limit: .seconds(2))
        #expect(whilePaused.count == 20)
        #expect(whilePaused.allSatisfy { $0.partition == 0 })
        try consumer.resume([TopicPartition(topic, 1)])
        let afterResume = try consumer.read(20)
        try consumer.close()
        #expect(Set(afterResume.map(\.value)) == Set((0..<20).map { "1:\($0)" }))
    }

    @Test("Timestamp order: a partition empty when a read began is taken up once another takes in its next batch, not after the whole read")
    func emptyPartitionRejoinsTheRead() throws {
        let steady = TestBroker.unique("steady")
        let quiet = TestBroker.unique("quiet")
        try TestBroker.shared.createTopic(steady, partitions: 1)
        try TestBroker.shared.createTopic(quiet, partitions: 1)
        let producer = try TestBroker.producer()
        let start: Int64 = 1_700_000_000_000
        for index in 0..<2_000 {
            try producer.send(topic: steady, key: nil, value: Array("s\(index)".utf8), timestampMilliseconds: start + Int64(index))
        }
        try producer.flush(timeout: .seconds(10))
        let consumer = try TestBroker.consumer(group: TestBroker.unique("order")) { $0.partitionQueues = true }
        defer { try? consumer.close() }
        let partitions = [TopicPartition(steady, 0), TopicPartition(quiet, 0)]
        try consumer.assign([TopicPartitionOffset(steady, 0, offset: 0), TopicPartitionOffset(quiet, 0, offset: 0)])
        // Wait until the steady partition's messages are fetched.
        let fetched = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < fetched {
            consumer.waitForMessages(timeout: .milliseconds(100))
            if (consumer.cachedWatermarks(topic: steady, partition: 0)?.high ?? 0) >= 2_000 { break }
        }
        Thread.sleep(forTimeInterval: 0.5)
        // One read: the quiet partition has nothing when it begins; a message older than all but the first of the
        // steady one's arrives while the first is handled.
        var order: [String] = []
        try consumer.poll(inTimestampOrder: partitions, maxMessages: 4_096) { message, _ in
            order.append(String(decoding: message.value, as: UTF8.self))
            if order.count == 1 {
                try producer.send(topic: quiet, key: nil, value: Array("q".utf8), timestampMilliseconds: start)
                try producer.flush(timeout: .seconds(10))
                Thread.sleep(forTimeInterval: 1)  // its fetch arrives (fetch.wait.max.ms is far shorter)
            }
        }
        #expect(order.count == 2_001, "\(order.count)")
        // It comes with the steady partition's next batch (512 messages are taken from a queue at a time).
        let position = order.firstIndex(of: "q") ?? -1
        #expect((0...512 + 1).contains(position), "the quiet partition's message came at \(position) (-1: not in this read)")
        let steadyInOrder = order.filter { $0 != "q" }.elementsEqual((0..<2_000).map { "s\($0)" })
        #expect(steadyInOrder, "the steady partition's messages came out of order")
    }
}
