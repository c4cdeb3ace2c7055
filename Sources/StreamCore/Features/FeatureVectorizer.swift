/// A feature's value as an event carried it, for explanations.
public enum FeatureValue: Sendable, Hashable, CustomStringConvertible {
    case number(Double)
    case text(String)
    case missing

    public var description: String {
        switch self {
        case .number(let value):
            value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
        case .text(let text): text
        case .missing: "null"
        }
    }
}

/// Turns decoded events into ``FeatureVector``s: dense numeric features by schema index, hashed categorical
/// features and crosses. A value type whose state (the schema) is `Codable` for snapshots.
public struct FeatureVectorizer: Sendable, Codable {
    public let configuration: FeatureSpaceConfiguration
    public private(set) var schema: FeatureSchema
    private let mask: UInt32
    private let crosses: [Cross]
    /// `name=value` bytes for hashing; reused, never encoded.
    private var scratch: [UInt8] = []
    /// The hashed features' names as first met (bounded; never encoded).
    public private(set) var hashedNames = HashedNames()
    /// The key shape (``DecodedEvent/keyShape``) whose names `shapeIndices` resolves, and per name start offset in
    /// it: the dense index, `notDense` (hashed instead) or `unresolved`. A cache, never encoded: with it, a name
    /// written by the decoder's shape costs one array read instead of a schema lookup.
    private var shape: UInt64 = 0
    private var shapeIndices: [Int32] = []
    private static let unresolved: Int32 = -2
    private static let notDense: Int32 = -1

    /// A cross's fields (two or three), with their names' FNV-1a hashes.
    struct Cross: Sendable, Codable {
        var names: [[UInt8]]
        var hashes: [UInt64]
    }

    public init(configuration: FeatureSpaceConfiguration = FeatureSpaceConfiguration()) {
        self.configuration = configuration
        schema = FeatureSchema(names: configuration.numericFeatures ?? [])
        // Aggregates are dense features the classifier fills: their slots exist from the start.
        for spec in configuration.aggregation?.aggregates ?? [] where schema.index(of: spec.name) == nil {
            _ = schema.append(Array(spec.name.utf8))
        }
        mask = UInt32((UInt64(1) << UInt64(min(max(configuration.hashBits, 1), 30))) - 1)
        crosses = configuration.interactions.compactMap { fields in
            guard (2...3).contains(fields.count) else { return nil }
            let names = fields.map { Array($0.utf8) }
            return Cross(names: names, hashes: names.map { name in name.withUnsafeBytes { fnv1a64($0) } })
        }
        scratch.reserveCapacity(256)
    }

    enum CodingKeys: String, CodingKey {
        case configuration, schema
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(configuration: try container.decode(FeatureSpaceConfiguration.self, forKey: .configuration))
        schema = try container.decode(FeatureSchema.self, forKey: .schema)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(configuration, forKey: .configuration)
        try container.encode(schema, forKey: .schema)
    }

    /// Fills `vector` from `event` (its previous content is replaced).
    ///
    /// - Complexity: O(features); no allocation once `vector` and the schema have grown to the stream's size.
    public mutating func vectorize(_ event: DecodedEvent, into vector: inout FeatureVector) {
        let learning = configuration.numericFeatures == nil
        if vector.dense.count == schema.count {
            vector.dense.withUnsafeMutableBufferPointer { $0.update(repeating: .nan) }
        } else {
            vector.dense.removeAll(keepingCapacity: true)
            vector.dense.append(contentsOf: repeatElement(Double.nan, count: schema.count))
        }
        vector.hashedIndices.removeAll(keepingCapacity: true)
        vector.hashedValues.removeAll(keepingCapacity: true)

        if event.keyShape != shape {
            // A new shape (rare: the stream's keys changed order or set): its names are resolved as they come.
            shape = event.keyShape
            shapeIndices = Array(repeating: Self.unresolved, count: event.keyShapeLength)
        }
        let shapeLength = shapeIndices.count
        let numeric = event.numeric
        // The usual event: every name resolved by its shape to a dense slot. Plain pointers, no per-value checks;
        // the first other name ends this loop and the general one below takes over from there.
        var resolvedPrefix = 0
        if shapeLength > 0 {
            shapeIndices.withUnsafeBufferPointer { indices in
                vector.dense.withUnsafeMutableBufferPointer { dense in
                    while resolvedPrefix < numeric.count {
                        let feature = numeric[resolvedPrefix]
                        guard Int(feature.name.end) <= shapeLength else { break }
                        let index = Int(indices[Int(feature.name.start)])
                        guard index >= 0 else { break }
                        dense[index] = feature.value
                        resolvedPrefix &+= 1
                    }
                }
            }
        }
        for feature in numeric[resolvedPrefix...] {
            let start = Int(feature.name.start)
            var index = shapeLength > 0 && Int(feature.name.end) <= shapeLength ? shapeIndices[start] : Self.unresolved
            if index == Self.unresolved {
                // The schema only grows: a name's index, or its absence from a full or fixed schema, is final.
                let resolved = denseIndex(event.bytes(feature.name), hash: feature.nameHash, learning: learning, vector: &vector)
                index = resolved.map { Int32($0) } ?? Self.notDense
                if Int(feature.name.end) <= shapeLength { shapeIndices[start] = index }
            }
            if index >= 0 {
                vector.dense[Int(index)] = feature.value
            } else {
                appendHashed(event.bytes(feature.name), value: nil, weight: feature.value, into: &vector)
            }
        }
        // A missing feature keeps (or gets) its dense slot, left NaN.
        for feature in event.missing {
            _ = denseIndex(event.bytes(feature.name), hash: feature.nameHash, learning: learning, vector: &vector)
        }
        for feature in event.categorical {
            appendHashed(event.bytes(feature.name), value: event.bytes(feature.value), weight: 1, into: &vector)
        }
        for cross in crosses {
            appendCross(cross, event: event, into: &vector)
        }
    }

    /// What each hashed entry of `event`'s vector stands for, in the vector's order: the field's name and its
    /// value as the event carried it (a cross: its fields' names and values joined by `×`). For explanations:
    /// allocates.
    public func hashedNames(_ event: DecodedEvent) -> [(feature: String, value: FeatureValue)] {
        var names: [(feature: String, value: FeatureValue)] = []
        for feature in event.numeric where schema.lookup(event.bytes(feature.name), hash: feature.nameHash) == nil {
            names.append((event.string(feature.name), .number(feature.value)))
        }
        for feature in event.categorical {
            names.append((event.string(feature.name), .text(event.string(feature.value))))
        }
        for cross in crosses {
            var parts: [String] = []
            var values: [String] = []
            for part in cross.names.indices {
                guard let side = Self.find(cross.names[part], hash: cross.hashes[part], in: event) else { break }
                parts.append(String(decoding: cross.names[part], as: UTF8.self))
                switch side {
                case .number(let value): values.append(FeatureValue.number(value).description)
                case .text(let range): values.append(event.string(range))
                }
            }
            guard parts.count == cross.names.count else { continue }
            names.append((parts.joined(separator: "×"), .text(values.joined(separator: "×"))))
        }
        return names
    }

    private mutating func denseIndex(
        _ name: UnsafeRawBufferPointer, hash: UInt64, learning: Bool, vector: inout FeatureVector
    ) -> Int? {
        let canLearn = learning && schema.count < configuration.maxDenseFeatures
        guard let index = schema.index(of: name, hash: hash, learn: canLearn) else { return nil }
        while vector.dense.count <= index { vector.dense.append(.nan) }
        return index
    }

    /// Hashes `name` (or `name=value`) and appends the bucket with `weight` (signed when configured).
    private mutating func appendHashed(
        _ name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?, weight: Double, into vector: inout FeatureVector
    ) {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: name)
        if let value {
            scratch.append(UInt8(ascii: "="))
            scratch.append(contentsOf: value)
        }
        appendScratch(weight: weight, into: &vector)
    }

    private mutating func appendScratch(weight: Double, into vector: inout FeatureVector) {
        let hash = scratch.withUnsafeBytes { MurmurHash3.hash32($0, seed: configuration.hashSeed) }
        let sign: Double = configuration.signedHashing && hash & 0x8000_0000 != 0 ? -1 : 1
        if hashedNames.count < HashedNames.capacity {
            scratch.withUnsafeBytes { hashedNames.note(hash & mask, $0) }
        }
        vector.hashedIndices.append(hash & mask)
        vector.hashedValues.append(sign * weight)
    }

    private mutating func appendCross(_ cross: Cross, event: DecodedEvent, into vector: inout FeatureVector) {
        // Every side is looked up before anything is written: a cross missing a field adds nothing.
        for part in cross.names.indices {
            guard Self.find(cross.names[part], hash: cross.hashes[part], in: event) != nil else { return }
        }
        scratch.removeAll(keepingCapacity: true)
        var weight = 1.0
        for part in cross.names.indices {
            if part > 0 { scratch.append(contentsOf: "×".utf8) }
            scratch.append(contentsOf: cross.names[part])
            switch Self.find(cross.names[part], hash: cross.hashes[part], in: event)! {
            case .number(let value): weight *= value
            case .text(let range):
                scratch.append(UInt8(ascii: "="))
                scratch.append(contentsOf: event.bytes(range))
            }
        }
        appendScratch(weight: weight, into: &vector)
    }

    private enum Side {
        case number(Double)
        case text(TextRange)
    }

    private static func find(_ name: [UInt8], hash: UInt64, in event: DecodedEvent) -> Side? {
        for feature in event.numeric where feature.nameHash == hash && event.bytes(feature.name).elementsEqual(name) {
            return .number(feature.value)
        }
        for feature in event.categorical where feature.nameHash == hash && event.bytes(feature.name).elementsEqual(name) {
            return .text(feature.value)
        }
        return nil
    }
}
