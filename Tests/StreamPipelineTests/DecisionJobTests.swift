import Foundation
import OnlineLearning
import StreamPipeline
import Testing

/// A job's output that keeps what it is given, for driving a job without Kafka.
final class RecordingOutput: JobOutput {
    var answers: [String] = []
    var deadLetters: [DeadLetterReason] = []

    func answer(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        answers.append(String(decoding: value, as: UTF8.self))
    }

    func publish(topic: String, key: String, value: [UInt8]) {}

    func origin() -> [UInt8] { [] }

    func deadLetter(origin: [UInt8], _ reason: DeadLetterReason) { deadLetters.append(reason) }
}

@Suite("Decision jobs driven without Kafka")
struct DecisionJobTests {
    /// Feeds `lines` to `job` as requests, returning each one's dead-letter reason (nil: answered).
    static func feed(_ job: any StreamJob, _ lines: [String], output: RecordingOutput) throws -> [DeadLetterReason?] {
        try lines.enumerated().map { index, line in
            try Array(line.utf8).withUnsafeBytes { bytes in
                try job.process(
                    JobMessage(
                        role: .requests, value: bytes, record: index + 1, topic: "requests", partition: 0,
                        offset: Int64(index), received: .now),
                    output)
            }
        }
    }

    @Test("A default reward the policy refuses is not counted as learned on expiry; a context no model can learn is refused at the request")
    func countersCountWhatHappened() throws {
        let configuration = try RuntimeConfiguration.parse(yaml: """
            job: bandit
            name: counts
            topics: {requests: r, rewards: r, decisions: d}
            model: {policy: exp3, arms: 2}
            join: {max_age_messages: 1, default_reward: 5}
            """)
        let job = try BanditJob(configuration: configuration, payload: nil)
        let output = RecordingOutput()
        let reasons = try Self.feed(job, (1...4).map { #"{"id":"d\#($0)"}"# }, output: output)
        #expect(reasons.allSatisfy { $0 == nil })
        #expect(output.answers.count == 4)
        let counters = Dictionary(uniqueKeysWithValues: job.counters)
        #expect(counters["expired"] == 2, "\(counters)")
        #expect(counters["expired_learned"] == 0, "EXP3 refuses a reward of 5: \(counters)")

        let linucb = try BanditJob(configuration: try RuntimeConfiguration.parse(yaml: """
            job: bandit
            name: contexts
            topics: {requests: r, rewards: w, decisions: d}
            model: {policy: linucb, arms: 2, dimension: 2}
            """), payload: nil)
        let refused = try Self.feed(linucb, [#"{"id":"c1","context":[1e308,1]}"#, #"{"id":"c2","context":[1,1]}"#], output: output)
        #expect(refused[0]?.kind == "refused-values")
        #expect(refused[0]?.message.contains("context[0] = 1e+308") == true, "\(refused[0]?.message ?? "")")
        #expect(refused[1] == nil)
    }
}
