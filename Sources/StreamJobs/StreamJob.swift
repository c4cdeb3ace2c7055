import Alerting
public import Foundation
public import OnlineLearning
import StreamCore

/// One input message as a job sees it, valid only during ``StreamJob/process(_:_:)``.
public struct JobMessage {
    /// Which input the message came from.
    public enum Role: Sendable {
        /// Events, decision requests or action requests: each gets an answer on the outputs topic.
        case requests
        /// Labels, rewards or transitions: learned from, never answered.
        case feedback
    }

    public var role: Role
    public var value: UnsafeRawBufferPointer
    /// A running count of messages processed by this instance (1-based); for alerts.
    public var record: Int
    /// Where it came from.
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// When the runtime received the message (for `latency_us`).
    public var received: ContinuousClock.Instant

    public init(
        role: Role, value: UnsafeRawBufferPointer, record: Int, topic: String, partition: Int32, offset: Int64,
        received: ContinuousClock.Instant
    ) {
        self.role = role
        self.value = value
        self.record = record
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.received = received
    }
}

/// Why a message went to the dead-letter topic: what Kafka Connect's `__connect.errors.*` headers carry.
public struct DeadLetterReason: Error, Sendable, Hashable {
    /// The counter it is counted under (`invalid-json`, `orphan-label`, …).
    public var kind: String
    /// `__connect.errors.stage`: where it failed (`VALUE_CONVERTER` for undecodable, `TASK_PUT` for refused).
    public var stage: String
    /// `__connect.errors.exception.message`.
    public var message: String

    public init(kind: String, stage: Stage, message: String) {
        self.kind = kind
        self.stage = stage.rawValue
        self.message = message
    }

    /// Kafka Connect's stage names.
    public enum Stage: String, Sendable {
        /// The message could not be decoded (Connect's converter stage).
        case decode = "VALUE_CONVERTER"
        /// Decoded, but refused by the job (Connect's sink task stage).
        case process = "TASK_PUT"
    }
}

/// Where a job writes what it answers: the outputs topic and alerts. The runtime decides whether the write is
/// real (inside the current transaction) or suppressed (a message re-learned after a restart, whose answer an
/// earlier transaction already committed).
public protocol JobOutput: AnyObject {
    /// Sends one answer (key and value bytes are copied at once). Throws when Kafka does not take it (the job's
    /// call then fails with it).
    func answer(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws
    /// Sends one message to another output topic of the job (the reinforcement policy).
    func publish(topic: String, key: String, value: [UInt8]) throws
    /// The message being processed, as bytes that ``deadLetter(origin:_:)`` can send later (for feedback held
    /// before what it is about arrives).
    func origin() -> [UInt8]
    /// Sends a message kept with ``origin()`` to the dead-letter topic.
    func deadLetter(origin: [UInt8], _ reason: DeadLetterReason) throws
}

/// What a job kind does: answer and learn from messages, and save its whole state. The ``StreamRuntime`` owns the
/// Kafka side (offsets, transactions, dead letters, snapshots); a job knows nothing of Kafka.
public protocol StreamJob: AnyObject {
    /// Processes one message: answers it through `output` and learns; `nil`, or why it is a dead letter (nothing
    /// was learned from it then).
    func process(_ message: JobMessage, _ output: any JobOutput) throws -> DeadLetterReason?

    /// The whole state at this moment, to be encoded later, on another thread, while the job goes on (a copy:
    /// value types share their storage until the job next writes to it).
    func captureState() -> JobState

    /// A snapshot a critical alert asked for since the last call (the runtime writes it after the transaction
    /// that covers the alert's message commits).
    func takeSnapshotRequest() -> SnapshotStore.Reason?

    /// Called after each snapshot is written, with an output that publishes (the reinforcement policy).
    func snapshotWritten(_ output: any JobOutput) throws

    /// Items waiting in the job's join (events for labels, decisions for rewards).
    var waiting: Int { get }

    /// Feedback held because it came before what it is about (labels read ahead of their events).
    var heldFeedback: Int { get }

    /// Counters for the status line and the summary (`joined`, `expired`, …).
    var counters: [(String, Int)] { get }

    /// Alerts raised so far.
    var alerts: Int { get }

    /// Updates learned: the `model_version` in answers.
    var modelVersion: Int { get }

    /// Recent quality figures for `/model` (ROC-AUC, F1, …), by name.
    var recentMetrics: [(String, Double)] { get }

    /// A frozen copy of the model for synchronous scoring (`POST /score`), if the job scores.
    func liveModel() -> LiveModel?

    /// The model's largest weights by feature name, for `/model` (none for jobs without named weights).
    var largestWeights: [(feature: String, weight: Double)] { get }
}

extension StreamJob {
    /// The whole state, as a ``Snapshot`` payload, encoded now.
    public func encodeState() throws -> Data { try captureState().encode() }

    public func snapshotWritten(_ output: any JobOutput) throws {}
    public var heldFeedback: Int { 0 }
    public var recentMetrics: [(String, Double)] { [] }
    public func liveModel() -> LiveModel? { nil }

    public var largestWeights: [(feature: String, weight: Double)] { [] }
}

/// A job's state as it was when captured: encodes to a ``Snapshot`` payload on any thread.
public struct JobState: Sendable {
    private let encoder: @Sendable () throws -> Data

    /// The state `value` holds now.
    public init<State: Snapshotable>(_ value: State) {
        encoder = { try Snapshot.encode(value) }
    }

    /// The ``Snapshot`` payload.
    public func encode() throws -> Data { try encoder() }
}

/// A byte buffer that JSON answers are written into and reused across messages (no allocation once warm).
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// `[{"feature","value","contribution"}, …]`: a score's explanation.
    public mutating func contributions(_ list: [ProgressiveClassifier.Contribution]) {
        raw("[")
        for (index, item) in list.enumerated() {
            raw(index == 0 ? "{\"feature\":" : ",{\"feature\":")
            string(item.feature)
            raw(",\"value\":")
            switch item.value {
            case .number(let value): double(value)
            case .text(let text): string(text)
            case .missing: raw("null")
            }
            raw(",\"contribution\":")
            double(item.contribution)
            raw("}")
        }
        raw("]")
    }

    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Bytes written as they are (text already in its final form).
    public mutating func raw(_ text: [UInt8]) {
        bytes.append(contentsOf: text)
    }

    /// A JSON string (quotes and escapes added).
    public mutating func string(_ raw: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        for byte in raw {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case 0..<0x20:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string(UnsafeRawBufferPointer($0)) }
    }

    public mutating func int(_ value: Int) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for index in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[index]) }
        }
    }

    /// A finite double, exact to the bit (`%.17g`); non-finite values are written as `null`.
    public mutating func double(_ value: Double) {
        guard value.isFinite else {
            raw("null")
            return
        }
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 32) { buffer in
            let length = Int(formatDouble(buffer.baseAddress!, value))
            buffer.withMemoryRebound(to: UInt8.self) { bytes.append(contentsOf: $0[0..<length]) }
        }
    }

    public mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func formatDouble(_ buffer: UnsafeMutablePointer<CChar>, _ value: Double) -> Int32 {
    withVaList([value]) { vsnprintf(buffer, 32, "%.17g", $0) }
}

/// A JobMessage points into the consumer's buffer, valid only during the call that hands it out.
@available(*, unavailable)
extension JobMessage: Sendable {}
