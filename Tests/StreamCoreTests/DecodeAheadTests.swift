import StreamCore
import Testing

/// `DecodeAhead` hands every line over in order, decoded exactly as inline, through batch boundaries, partial
/// flushes and ring wrap-around, and stops cleanly on either side's error.
@Suite struct DecodeAheadTests {
    /// What the consumer saw of one line: its number, and its decoded features or its rejection.
    struct Seen: Equatable {
        var line: Int
        var numeric: [String: Double]
        var label: Int8?
        var keyShape: Bool
        var rejection: EventDecodingError?
    }

    /// 2,000 lines with a changing key order every 300 lines, a rejection every 37th and a flush every 50th.
    static let lines: [[UInt8]] = (1...2_000).map { line in
        if line % 37 == 0 { return Array("{\"a\":1,\"a\":2}".utf8) }  // duplicate key
        if (line / 300) % 2 == 0 {
            return Array("{\"id\":\(line),\"a\":\(Double(line) / 8),\"b\":\(line % 5),\"label\":\(line % 2)}".utf8)
        }
        return Array("{\"b\":\(line % 7),\"a\":-\(line).25,\"c\":null,\"label\":\(line % 3 == 0 ? 1 : 0)}".utf8)
    }

    static func seen(_ line: Int, _ event: DecodedEvent, _ rejection: EventDecodingError?) -> Seen {
        var numeric: [String: Double] = [:]
        for feature in event.numeric { numeric[event.string(feature.name)] = feature.value }
        return Seen(
            line: line, numeric: rejection == nil ? numeric : [:], label: event.label, keyShape: event.keyShape != 0,
            rejection: rejection)
    }

    static func replay(
        threaded: Bool, batchSize: Int, depth: Int, sharing: DecodeAhead.Sharing = .adaptive
    ) throws -> [Seen] {
        var configuration = DecodeAhead.Configuration()
        configuration.threaded = threaded
        configuration.sharing = sharing
        configuration.batchSize = batchSize
        configuration.depth = depth
        var seen: [Seen] = []
        let read = try DecodeAhead.run(decoder: EventDecoder(), configuration: configuration) { reader in
            for (index, line) in lines.enumerated() {
                try line.withUnsafeBytes { try reader.decode(index + 1, bytes: $0, end: Int64(index + 1) * 3) }
                if index % 50 == 49 { reader.flush() }
            }
            return lines.count
        } consume: { line, end, event, rejection in
            #expect(end == Int64(line) * 3)  // each line's end crosses with it
            seen.append(Self.seen(line, event, rejection))
        }
        #expect(read == lines.count)
        return seen
    }

    @Test("Threaded decoding hands over every line in order, as decoded inline", arguments: [(1, 2), (7, 2), (256, 4)])
    func threadedEqualsInline(batchSize: Int, depth: Int) throws {
        let inline = try Self.replay(threaded: false, batchSize: batchSize, depth: depth)
        let threaded = try Self.replay(threaded: true, batchSize: batchSize, depth: depth, sharing: .off)
        #expect(inline.count == 2_000)
        #expect(inline.map(\.line) == Array(1...2_000))
        #expect(inline.filter { $0.rejection != nil }.count == 2_000 / 37)
        #expect(inline[0] == Seen(line: 1, numeric: ["a": 0.125, "b": 1], label: 1, keyShape: false, rejection: nil))
        #expect(inline[400].numeric == ["a": -401.25, "b": 2])
        #expect(threaded.count == inline.count)
        let firstDifference = zip(threaded, inline).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstDifference == nil, "first difference: \(firstDifference.map { (threaded[$0], inline[$0]) }.debugDescription)")
    }

    @Test(
        "Lines the calling thread decodes itself are decoded as inline, in order: every line, every third, adaptive",
        arguments: [DecodeAhead.Sharing.every(1), .every(3), .adaptive, .off], [(7, 2), (256, 4)])
    func sharedDecodingEqualsInline(sharing: DecodeAhead.Sharing, layout: (batchSize: Int, depth: Int)) throws {
        let inline = try Self.replay(threaded: false, batchSize: layout.batchSize, depth: layout.depth)
        let shared = try Self.replay(
            threaded: true, batchSize: layout.batchSize, depth: layout.depth, sharing: sharing)
        // Whether an event came from a key-shape cache depends on which decoder (each thread has one) saw the
        // shape first; everything decoded is the same.
        func decoded(_ seen: [Seen]) -> [Seen] { seen.map { var seen = $0; seen.keyShape = false; return seen } }
        #expect(shared.count == 2_000)
        let firstDifference = zip(decoded(shared), decoded(inline)).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(firstDifference == nil, "first difference at \(firstDifference.map(\.offset).debugDescription)")
    }

    @Test("Two decoders number the same key shape alike; another order gets another number")
    func shapesNumberedAcrossDecoders() throws {
        let first = EventDecoder(), second = EventDecoder()
        let event = DecodedEvent()
        func shape(_ decoder: EventDecoder, _ document: String) throws -> UInt64 {
            // The second document of a shape is decoded on the cache the first one built.
            try decoder.decode(Array(document.utf8), into: event)
            try decoder.decode(Array(document.utf8), into: event)
            return event.keyShape
        }
        let ab = try shape(first, "{\"shape-a\":1,\"shape-b\":2}")
        #expect(ab != 0)
        #expect(try shape(second, "{\"shape-a\":3,\"shape-b\":4}") == ab)
        let ba = try shape(second, "{\"shape-b\":4,\"shape-a\":3}")
        #expect(ba != 0 && ba != ab)
        #expect(try shape(first, "{\"shape-b\":1,\"shape-a\":2}") == ba)
        // Names that split differently are another shape, though their bytes run the same.
        #expect(try shape(first, "{\"shape-ash\":1,\"ape-b\":2}") != ab)
        #expect(try shape(second, "{\"shape-a\":3,\"shape-b\":4}") == ab)
    }

    struct Stop: Error, Equatable { var line: Int }

    @Test("A consumer's error stops the reader and is rethrown; no line after it is consumed")
    func consumerErrorStops() throws {
        var configuration = DecodeAhead.Configuration()
        configuration.batchSize = 16
        configuration.depth = 2
        var consumed: [Int] = []
        var readerSawStop = false
        #expect(throws: Stop(line: 100)) {
            try DecodeAhead.run(decoder: EventDecoder(), configuration: configuration) { reader in
                // An endless input: only the consumer's stop ends it.
                var line = 0
                while !reader.isStopped {
                    line += 1
                    try Array("{\"x\":\(line)}".utf8).withUnsafeBytes { try reader.decode(line, bytes: $0) }
                }
                readerSawStop = true
            } consume: { line, _, _ in
                if line == 100 { throw Stop(line: line) }
                consumed.append(line)
            }
        }
        #expect(consumed == Array(1...99))
        #expect(readerSawStop)
    }

    @Test("A reader's error is rethrown after every line read before it was consumed", arguments: [true, false])
    func readerErrorAfterLines(threaded: Bool) throws {
        var configuration = DecodeAhead.Configuration()
        configuration.threaded = threaded
        configuration.batchSize = 8
        var consumed: [Int] = []
        #expect(throws: Stop(line: 21)) {
            try DecodeAhead.run(decoder: EventDecoder(), configuration: configuration) { reader in
                for line in 1...20 {
                    try Array("{\"x\":\(line)}".utf8).withUnsafeBytes { try reader.decode(line, bytes: $0) }
                }
                throw Stop(line: 21)
            } consume: { line, event, _ in
                #expect(event.numeric.first?.value == Double(line))
                consumed.append(line)
            }
        }
        #expect(consumed == Array(1...20))
    }
}
