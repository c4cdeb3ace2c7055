import Foundation
import StreamCore
import Testing

@Suite("Feature hashing, schema and standardisation")
struct FeatureTests {
    @Test("MurmurHash3 x86_32 matches the reference vectors (and Python's mmh3)", arguments: [
        ("", UInt32(0), UInt32(0)),
        ("", 1, 0x514E_28B7),
        ("", 0xFFFF_FFFF, 0x81F1_6F39),
        ("\0\0\0\0", 0, 0x2362_F9DE),
        ("aaaa", 0x9747_B28C, 0x5A97_808A),
        ("Hello, world!", 0x9747_B28C, 0x2488_4CBA),
        ("The quick brown fox jumps over the lazy dog", 0x9747_B28C, 0x2FA8_26CD),
        ("country=FR", 0, 0xB8D2_2113),
        ("abc", 0, 0xB3DD_93FA),
        ("abcd", 0, 0x43ED_676A),
        ("abcde", 42, 0xAEDA_2BF0),
    ])
    func murmurReference(text: String, seed: UInt32, expected: UInt32) {
        #expect(MurmurHash3.hash32(Array(text.utf8), seed: seed) == expected)
    }

    func decode(_ text: String, _ decoder: EventDecoder = EventDecoder()) throws -> DecodedEvent {
        let event = DecodedEvent()
        try decoder.decode(Array(text.utf8), into: event)
        return event
    }

    @Test("Numeric features get dense indices in order of appearance; missing ones are NaN, not zero")
    func learnedSchema() throws {
        var vectorizer = FeatureVectorizer()
        var vector = FeatureVector()
        vectorizer.vectorize(try decode("{\"amount\":12.5,\"age\":3,\"flag\":true}"), into: &vector)
        #expect(vectorizer.schema.names == ["amount", "age", "flag"])
        #expect(vector.dense == [12.5, 3, 1])
        vectorizer.vectorize(try decode("{\"age\":4,\"velocity\":2,\"amount\":null}"), into: &vector)
        #expect(vectorizer.schema.names == ["amount", "age", "flag", "velocity"])
        #expect(vector.dense[0].isNaN)
        #expect(vector.dense[1] == 4)
        #expect(vector.dense[2].isNaN)
        #expect(vector.dense[3] == 2)
        #expect(vector.missingCount == 2)
    }

    @Test("A fixed schema keeps its indices; other numeric names are hashed by name")
    func fixedSchema() throws {
        var configuration = FeatureSpaceConfiguration()
        configuration.numericFeatures = ["b", "a"]
        configuration.hashBits = 10
        var vectorizer = FeatureVectorizer(configuration: configuration)
        var vector = FeatureVector()
        vectorizer.vectorize(try decode("{\"a\":1,\"b\":2,\"c\":3}"), into: &vector)
        #expect(vector.dense == [2, 1])
        #expect(vector.hashedIndices == [MurmurHash3.hash32(Array("c".utf8), seed: 0) & 1023])
        #expect(vector.hashedValues == [3])
        #expect(vectorizer.schema.names == ["b", "a"])
    }

    @Test("Names resolved by key shape land where a schema lookup puts them, across shapes, decoders and kinds")
    func keyShapeResolution() throws {
        var configuration = FeatureSpaceConfiguration()
        configuration.maxDenseFeatures = 4  // the fifth numeric name is hashed
        configuration.hashBits = 12
        var vectorizer = FeatureVectorizer(configuration: configuration)
        let first = EventDecoder(), second = EventDecoder()
        let firstEvent = DecodedEvent(), secondEvent = DecodedEvent()
        var vector = FeatureVector()
        var random = SeededRandom(seed: 17)
        let orders = [["a", "b", "c", "d", "e"], ["e", "d", "c", "b", "a"], ["c", "a", "e", "b", "d"]]
        var shapes = Set<UInt64>()
        for step in 0..<600 {
            // Each decoder keeps a shape for a while, then moves to another order; `b` is sometimes null and `d`
            // sometimes a string, so the same shape carries different kinds under the same names.
            let (decoder, event) = step % 2 == 0 ? (first, firstEvent) : (second, secondEvent)
            let keys = orders[(step / 50 + (step % 2)) % orders.count]
            var values: [String: Double] = [:]
            let members = keys.map { key -> String in
                if key == "b" && random.next() % 5 == 0 { return "\"b\":null" }
                if key == "d" && random.next() % 5 == 0 { return "\"d\":\"x\"" }
                let value = Double(random.next() % 1_000)
                values[key] = value
                return "\"\(key)\":\(Int(value))"
            }
            try decoder.decode(Array("{\(members.joined(separator: ","))}".utf8), into: event)
            if event.keyShape != 0 { shapes.insert(event.keyShape) }
            vectorizer.vectorize(event, into: &vector)
            for (position, name) in vectorizer.schema.names.enumerated() {
                if let value = values[name] {
                    #expect(vector.dense[position] == value, "step \(step): \(name)")
                } else {
                    #expect(vector.dense[position].isNaN, "step \(step): \(name) missing")
                }
            }
            let hashedName = keys.first { !vectorizer.schema.names.contains($0) }
            if let hashedName, let value = values[hashedName] {
                let bucket = MurmurHash3.hash32(Array(hashedName.utf8), seed: 0) & 4095
                #expect(zip(vector.hashedIndices, vector.hashedValues).contains { $0 == bucket && $1 == value })
            }
        }
        #expect(vectorizer.schema.names.count == 4)
        #expect(shapes.count == 3)  // two decoders, three orders: each order one number in both decoders
    }

    @Test("Categorical features hash name=value with MurmurHash3 into 2^k buckets; signed hashing uses bit 31")
    func categoricalHashing() throws {
        var vectorizer = FeatureVectorizer()
        var vector = FeatureVector()
        vectorizer.vectorize(try decode("{\"country\":\"FR\",\"device\":\"ios\"}"), into: &vector)
        let mask: UInt32 = (1 << 20) - 1
        #expect(vector.hashedIndices == [0xB8D2_2113 & mask, MurmurHash3.hash32(Array("device=ios".utf8), seed: 0) & mask])
        #expect(vector.hashedValues == [1, 1])

        var signed = FeatureSpaceConfiguration()
        signed.signedHashing = true
        var signedVectorizer = FeatureVectorizer(configuration: signed)
        signedVectorizer.vectorize(try decode("{\"country\":\"FR\"}"), into: &vector)
        #expect(vector.hashedValues == [-1])  // 0xB8D22113 has bit 31 set
    }

    @Test("Crosses: numeric × numeric is the product; a categorical side hashes its value")
    func crosses() throws {
        var configuration = FeatureSpaceConfiguration()
        configuration.interactions = [["a", "b"], ["a", "country"], ["a", "absent"]]
        var vectorizer = FeatureVectorizer(configuration: configuration)
        var vector = FeatureVector()
        vectorizer.vectorize(try decode("{\"a\":2,\"b\":3,\"country\":\"FR\"}"), into: &vector)
        let mask: UInt32 = (1 << 20) - 1
        #expect(vector.hashedIndices == [
            0xB8D2_2113 & mask,
            MurmurHash3.hash32(Array("a×b".utf8), seed: 0) & mask,
            MurmurHash3.hash32(Array("a×country=FR".utf8), seed: 0) & mask,
        ])
        #expect(vector.hashedValues == [1, 6, 2])
    }

    @Test("Welford's running mean and variance equal the two-pass figures; NaN is skipped")
    func welford() {
        var random = SeededRandom(seed: 3)
        var standardizer = OnlineStandardizer()
        var values: [Double] = []
        var vector = FeatureVector()
        for step in 0..<10_000 {
            let x = 1_000 + 250 * random.nextGaussian()
            values.append(x)
            vector.dense = [x, step % 10 == 0 ? .nan : 5]
            standardizer.update(vector)
        }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        #expect(abs(standardizer.means[0] - mean) < 1e-9 * abs(mean))
        #expect(abs(standardizer.variance(at: 0) - variance) < 1e-9 * variance)
        #expect(standardizer.counts[1] == 9_000)
        #expect(standardizer.variance(at: 1) == 0)

        vector.dense = [mean + 2 * variance.squareRoot(), 5, .nan]
        standardizer.standardize(&vector)
        #expect(abs(vector.dense[0] - 2) < 1e-9)
        #expect(vector.dense[1] == 0)  // constant feature
        #expect(vector.dense[2].isNaN)  // missing stays missing
    }

    @Test("The four-lane standardiser update equals Welford's formulas one feature at a time, bit for bit")
    func standardiserLanesMatchScalar() {
        var random = SeededRandom(seed: 5)
        var standardizer = OnlineStandardizer()
        let features = 7  // one full group of four lanes and a tail of three
        var counts = Array(repeating: 0.0, count: features), means = counts, squares = counts, inverses = counts
        var vector = FeatureVector()
        for _ in 0..<5_000 {
            vector.dense = (0..<features).map { i in
                random.next() % 6 == 0 ? .nan : Double(i * 100) + Double(i + 1) * random.nextGaussian()
            }
            standardizer.update(vector)
            for (i, x) in vector.dense.enumerated() where !x.isNaN {
                counts[i] += 1
                let delta = x - means[i]
                means[i] += delta / counts[i]
                squares[i] += delta * (x - means[i])
                let inverse = (counts[i] / squares[i]).squareRoot()
                inverses[i] = counts[i] >= 2 && squares[i] > 0 && inverse.isFinite ? inverse : 0
            }
        }
        #expect(standardizer.counts == counts)
        #expect(standardizer.means.map(\.bitPattern) == means.map(\.bitPattern))
        #expect(standardizer.squaredDeviations.map(\.bitPattern) == squares.map(\.bitPattern))
        #expect(standardizer.inverseDeviations.map(\.bitPattern) == inverses.map(\.bitPattern))
        #expect(counts.allSatisfy { $0 > 4_000 && $0 < 5_000 })

        // Scaling four at a time: each value as `scaled(_:at:)` gives it, NaN kept, features beyond the tracked
        // ones 0.
        vector.dense = [1, .nan, 250, -3, 400, 555, .nan, 8, .nan]
        let expected = vector.dense.enumerated().map { $1.isNaN ? $1 : standardizer.scaled($1, at: $0) }
        standardizer.standardize(&vector)
        #expect(vector.dense.map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(vector.dense[7] == 0 && vector.dense[8].isNaN && vector.dense[2] != 0)
    }

    @Test("Vectorizer and standardiser state survive a Codable round trip and continue identically")
    func codableRoundTrip() throws {
        var vectorizer = FeatureVectorizer()
        var standardizer = OnlineStandardizer()
        var vector = FeatureVector()
        let decoder = EventDecoder()
        let event = DecodedEvent()
        for index in 0..<100 {
            try decoder.decode(Array("{\"a\":\(index),\"b\":\(index * index),\"c\":\"x\(index % 3)\"}".utf8), into: event)
            vectorizer.vectorize(event, into: &vector)
            standardizer.update(vector)
        }
        let encoder = JSONEncoder()
        var restoredVectorizer = try JSONDecoder().decode(FeatureVectorizer.self, from: encoder.encode(vectorizer))
        var restoredStandardizer = try JSONDecoder().decode(OnlineStandardizer.self, from: encoder.encode(standardizer))
        #expect(restoredStandardizer == standardizer)
        var restoredVector = FeatureVector()
        for index in 100..<200 {
            try decoder.decode(Array("{\"d\":1,\"a\":\(index),\"c\":\"x\(index % 3)\"}".utf8), into: event)
            vectorizer.vectorize(event, into: &vector)
            restoredVectorizer.vectorize(event, into: &restoredVector)
            standardizer.update(vector)
            restoredStandardizer.update(restoredVector)
            standardizer.standardize(&vector)
            restoredStandardizer.standardize(&restoredVector)
            #expect(vector.dense.map(\.bitPattern) == restoredVector.dense.map(\.bitPattern))
            #expect(vector.hashedIndices == restoredVector.hashedIndices)
        }
        #expect(restoredVectorizer.schema == vectorizer.schema)
        #expect(restoredStandardizer == standardizer)
    }
}
