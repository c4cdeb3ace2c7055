import Foundation
import OnlineLearning
import StreamCore
import Testing

@Suite("Snapshot format")
struct SnapshotTests {
    static func header(of data: Data) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    @Test("The envelope names format, versions and kind; keys are sorted; packed arrays are base64 little-endian")
    func envelope() throws {
        var model = try LogisticRegression()
        var vector = FeatureVector()
        vector.dense = [0.25, -3]
        try model.learn(LabeledExample(features: vector, label: true))
        let data = try Snapshot.encode(model)
        let object = try Self.header(of: data)
        #expect(object["format"] as? String == "streamlearn-snapshot")
        #expect(object["format_version"] as? Int == 1)
        #expect(object["kind"] as? String == "logistic-regression")
        #expect(object["kind_version"] as? Int == 1)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.hasPrefix("{\"format\":\"streamlearn-snapshot\",\"format_version\":1,\"kind\":"))
        // The intercept's weight, read back the way a Python reader would.
        let state = object["state"] as! [String: Any]
        let intercept = state["intercept"] as! [String: Any]
        let bytes = Data(base64Encoded: intercept["weights"] as! String)!
        let bits = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        #expect(Double(bitPattern: bits) == model.bias)
    }

    @Test("Newer versions, other kinds, other formats and corrupt state are refused with clear messages")
    func refusals() throws {
        let model = try UCB1(arms: 3)
        let good = String(decoding: try Snapshot.encode(model), as: UTF8.self)
        func refusal(_ text: String) -> String? {
            do {
                _ = try Snapshot.decode(UCB1.self, from: Data(text.utf8))
                return nil
            } catch {
                return error.description
            }
        }
        #expect(refusal(good) == nil)
        #expect(refusal(good.replacingOccurrences(of: "\"kind_version\":1", with: "\"kind_version\":2"))?
            .contains("kind_version 2 is not readable by this build, which reads version 1; upgrade streamlearn") == true)
        #expect(refusal(good.replacingOccurrences(of: "\"format_version\":1", with: "\"format_version\":0"))?
            .contains("format_version 0 is not readable") == true)
        #expect(refusal(good.replacingOccurrences(of: "bandit-ucb1", with: "bandit-exp3"))?
            .contains("it holds a 'bandit-exp3', expected a 'bandit-ucb1'") == true)
        #expect(refusal(good.replacingOccurrences(of: "streamlearn-snapshot", with: "other"))?
            .contains("format is 'other'") == true)
        #expect(refusal(String(good.prefix(good.count / 2)))?.contains("not a StreamLearn snapshot") == true)
        #expect(refusal(good.replacingOccurrences(of: "\"exploration\"", with: "\"explorations\""))?
            .contains("missing key 'exploration' at state") == true)
        // A decoded weight that is not finite never reaches a model.
        var logistic = try LogisticRegression()
        var vector = FeatureVector()
        vector.dense = [1]
        try logistic.learn(LabeledExample(features: vector, label: true))
        let text = String(decoding: try Snapshot.encode(logistic), as: UTF8.self)
        let nanWeights = Data(repeating: 0xFF, count: 8).base64EncodedString()
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        var state = object["state"] as! [String: Any]
        var dense = state["dense"] as! [String: Any]
        dense["weights"] = nanWeights
        state["dense"] = dense
        var corrupted = object
        corrupted["state"] = state
        let corruptedData = try JSONSerialization.data(withJSONObject: corrupted)
        #expect(throws: LearningError.self) { try Snapshot.decode(LogisticRegression.self, from: corruptedData) }
    }
}
