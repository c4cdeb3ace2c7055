public import StreamJobs

/// A job's output that keeps what it is given: drives a job without Kafka (the runtime's output sends the same
/// calls to the outputs, policy and dead-letter topics).
public final class RecordingOutput: JobOutput {
    /// Answers (values), in order.
    public private(set) var answers: [String] = []
    /// Answers' keys, in order.
    public private(set) var keys: [String] = []
    /// Messages published to other topics, in order.
    public private(set) var published: [(topic: String, key: String, value: [UInt8])] = []
    /// Dead letters, in order, with the origin each was sent with.
    public private(set) var deadLetters: [DeadLetterReason] = []

    public init() {}

    public func answer(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        keys.append(String(decoding: key, as: UTF8.self))
        answers.append(String(decoding: value, as: UTF8.self))
    }

    public func publish(topic: String, key: String, value: [UInt8]) { published.append((topic, key, value)) }

    public func origin() -> [UInt8] { [] }

    public func deadLetter(origin: [UInt8], _ reason: DeadLetterReason) { deadLetters.append(reason) }
}

@available(*, unavailable)
extension RecordingOutput: Sendable {}

/// Feeds messages to a job in process, as the runtime would: one ``JobMessage`` per line, numbered from 1.
public struct JobDriver {
    public let job: any StreamJob
    public let output: RecordingOutput
    private var record = 0

    public init(_ job: any StreamJob, output: RecordingOutput = RecordingOutput()) {
        self.job = job
        self.output = output
    }

    /// Processes `lines` in order as `role` messages of `topic` partition 0; each one's dead-letter reason (`nil`:
    /// processed).
    @discardableResult
    public mutating func feed(
        _ lines: [String], role: JobMessage.Role = .requests, topic: String = "requests"
    ) throws -> [DeadLetterReason?] {
        var reasons: [DeadLetterReason?] = []
        reasons.reserveCapacity(lines.count)
        for line in lines {
            record += 1
            let record = self.record
            let reason = try Array(line.utf8).withUnsafeBytes { bytes in
                try job.process(
                    JobMessage(
                        role: role, value: bytes, record: record, topic: topic, partition: 0, offset: Int64(record - 1),
                        received: .now),
                    output)
            }
            reasons.append(reason)
        }
        return reasons
    }
}

@available(*, unavailable)
extension JobDriver: Sendable {}
