import Alerting
import Foundation
import StreamKafka

/// A consumed message kept whole for the dead-letter topic, in a compact binary form (kept with each label that
/// waits for its event, so encoding it must be cheap).
struct DeadLetterOrigin {
    var topic: String
    var partition: Int32
    var offset: Int64
    var key: [UInt8]?
    /// `nil` for a null value (a tombstone), which is dead-lettered as one.
    var value: [UInt8]?
    var headers: [KafkaHeader]
    var timestampMilliseconds: Int64?

    init(_ message: KafkaMessageView) {
        topic = message.topic
        partition = message.partition
        offset = message.offset
        key = message.key.map { Array($0) }
        value = message.valueIsNull ? nil : Array(message.value)
        headers = message.headers
        timestampMilliseconds = message.timestampMilliseconds
    }

    /// The message's bytes: topic, partition, offset, timestamp, key, value and headers, length-prefixed.
    static func encode(_ message: KafkaMessageView) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(message.value.count + (message.key?.count ?? 0) + 64)
        func integer<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        func blob(_ data: UnsafeRawBufferPointer?) {
            guard let data else { return integer(Int32(-1)) }
            integer(Int32(data.count))
            bytes.append(contentsOf: data)
        }
        var topic = message.topic
        topic.withUTF8 { blob(UnsafeRawBufferPointer($0)) }
        integer(message.partition)
        integer(message.offset)
        integer(message.timestampMilliseconds ?? .min)
        blob(message.key)
        blob(message.valueIsNull ? nil : message.value)
        let headers = message.headers
        integer(Int32(headers.count))
        for header in headers {
            var name = header.name
            name.withUTF8 { blob(UnsafeRawBufferPointer($0)) }
            if let value = header.value { value.withUnsafeBytes { blob($0) } } else { blob(nil) }
        }
        return bytes
    }

    init?(decoding bytes: [UInt8]) {
        var position = 0
        func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard position + MemoryLayout<T>.size <= bytes.count else { return nil }
            var value = T.zero
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes[position..<position + MemoryLayout<T>.size]) }
            position += MemoryLayout<T>.size
            return T(littleEndian: value)
        }
        func blob() -> [UInt8]?? {
            guard let length = integer(Int32.self) else { return nil }
            if length < 0 { return .some(nil) }
            guard position + Int(length) <= bytes.count else { return nil }
            defer { position += Int(length) }
            return .some(Array(bytes[position..<position + Int(length)]))
        }
        guard let topic = blob(), let topic, let partition = integer(Int32.self), let offset = integer(Int64.self),
            let timestamp = integer(Int64.self), let key = blob(), let value = blob(),
            let count = integer(Int32.self), count >= 0
        else { return nil }
        var headers: [KafkaHeader] = []
        for _ in 0..<count {
            guard let name = blob(), let name, let headerValue = blob() else { return nil }
            headers.append(KafkaHeader(name: String(decoding: name, as: UTF8.self), value: headerValue))
        }
        self.topic = String(decoding: topic, as: UTF8.self)
        self.partition = partition
        self.offset = offset
        self.timestampMilliseconds = timestamp == .min ? nil : timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }
}

extension DeadLetterOrigin {
    /// The bytes a producer counts against `message.max.bytes` for this message with `extra` headers.
    func size(with extra: [KafkaHeader]) -> Int {
        (key?.count ?? 0) + (value?.count ?? 0) + (headers + extra).reduce(0) { $0 + $1.name.utf8.count + ($1.value?.count ?? 0) + 8 }
    }

    /// Cuts the message down to `limit` bytes (with the `extra` headers it will carry), so that a producer whose
    /// `message.max.bytes` is `limit` plus record overhead takes it: the value's tail first, then the original
    /// headers, then the key's tail. Each cut is named in a header with the original size
    /// (`streamlearn.truncated.value`, `.headers`, `.key`), so a dead letter is always written and never silently
    /// altered. Returns those headers.
    mutating func fit(within limit: Int, extra: [KafkaHeader]) -> [KafkaHeader] {
        var notes: [KafkaHeader] = []
        func note(_ part: String, _ original: Int) {
            notes.append(KafkaHeader(name: "streamlearn.truncated.\(part)", value: Array(String(original).utf8)))
        }
        // Room for the notes themselves (three at most, each under 64 bytes).
        let budget = limit - 192
        if size(with: extra) > budget, let original = value {
            let keep = max(0, original.count - (size(with: extra) - budget))
            value = Array(original.prefix(keep))
            note("value", original.count)
        }
        if size(with: extra) > budget, !headers.isEmpty {
            note("headers", headers.count)
            headers = []
        }
        if size(with: extra) > budget, let original = key {
            key = Array(original.prefix(max(0, original.count - (size(with: extra) - budget))))
            note("key", original.count)
        }
        return notes
    }
}

/// The header naming the job and the input message an output answers (`name/topic:partition:offset`).
let sourceHeader = "streamlearn.source"
