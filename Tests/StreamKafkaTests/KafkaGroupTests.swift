import StreamKafka
import Testing

@Suite("Consumer groups")
struct KafkaGroupTests {
    /// Two members split 8 partitions; B processes and commits, then leaves; A takes over B's partitions.
    ///
    /// Eager strategies revoke every partition when B leaves, and the embedded broker refuses the commits that
    /// revokes attempt while the group rebalances ("rebalance in progress"), so messages may be read again: at
    /// least once, never lost. Cooperative-sticky keeps A's partitions and B's revoke commits cleanly: exactly
    /// once, with A starting each of B's partitions right after B's last message.
    @Test(
        "Two members split the partitions; when one leaves after committing, the other takes over, nothing lost",
        arguments: [AssignmentStrategy.cooperativeSticky, .roundRobin])
    func twoMembersSplitAndTakeOver(strategy: AssignmentStrategy) throws {
        let topic = TestBroker.unique("group")
        let partitions: Int32 = 8
        try TestBroker.shared.createTopic(topic, partitions: Int(partitions))
        let group = TestBroker.unique("group-members")
        let all = Set((0..<partitions).map { TopicPartition(topic, $0) })

        let a = try TestBroker.consumer(group: group) { $0.assignmentStrategy = strategy }
        let b = try TestBroker.consumer(group: group) { $0.assignmentStrategy = strategy }
        try a.subscribe(topics: [topic])
        try b.subscribe(topics: [topic])

        // Both members must poll to take part in the rebalance; wait until they hold disjoint halves.
        var deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            _ = try a.poll(timeout: .milliseconds(100)) { _ in }
            _ = try b.poll(timeout: .milliseconds(100)) { _ in }
            if a.assignment.count == 4, b.assignment.count == 4, a.assignment.union(b.assignment) == all { break }
        }
        #expect(a.assignment.isDisjoint(with: b.assignment))
        #expect(a.assignment.union(b.assignment) == all)
        let partitionsOfB = b.assignment

        let producer = try TestBroker.producer()
        for index in 0..<8000 {
            try producer.send(topic: topic, partition: Int32(index % 8), key: nil, value: "\(index)")
        }
        try producer.close()

        // Each member processes and commits batch by batch (effects durable, then commit).
        var readByA: [Read] = []
        var readByB: [Read] = []
        deadline = ContinuousClock.now + .seconds(60)
        while readByB.count < 2000, ContinuousClock.now < deadline {
            readByA += try a.read(100, limit: .milliseconds(100), commit: true)
            readByB += try b.read(100, limit: .milliseconds(100), commit: true)
        }
        #expect(readByB.count >= 2000)
        try b.close()
        #expect(b.takeEvents().contains { if case .revoked = $0 { true } else { false } })

        // A takes over B's partitions from B's committed offsets and finishes the topic.
        deadline = ContinuousClock.now + .seconds(60)
        while Set((readByA + readByB).map(\.value)).count < 8000, ContinuousClock.now < deadline {
            readByA += try a.read(1000, limit: .milliseconds(500), commit: true)
        }
        let extra = try a.poll(timeout: .seconds(1))
        #expect(a.assignment == all)
        try a.close()

        let values = (readByA + readByB).map { Int($0.value)! }
        #expect(Set(values) == Set(0..<8000), "nothing lost")
        if strategy == .cooperativeSticky {
            #expect(values.count == 8000, "exactly once: no message read twice")
            #expect(extra.isEmpty)
            // B committed what it processed: A starts each of B's partitions right after B's last message.
            for partition in partitionsOfB {
                let lastOfB = readByB.filter { $0.partition == partition.partition }.map(\.offset).max() ?? -1
                let firstOfA = readByA.filter { $0.partition == partition.partition }.map(\.offset).min()
                #expect(firstOfA == (lastOfB == 999 ? nil : lastOfB + 1))
            }
        } else {
            // At least once: anything still arriving is a re-read of a message already seen, never a new one.
            #expect(extra.allSatisfy { Set(values).contains(Int($0.valueString)!) })
        }
    }
}
