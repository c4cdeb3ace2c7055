// Allocations per event on StreamLearn's hot paths, counted by ordo-one's malloc-interposer.
// Run: make bench-allocations (LD_PRELOADs the interposer; without it every count reads 0).
import DriftDetection
import Foundation
import MallocInterposerSwift
import OnlineLearning
import Simulation
import StreamCore
import StreamPipeline

let events = 100_000
var generator = TransactionGenerator(seed: 1)
let documents: [[UInt8]] = (0..<events).map { _ in Array(generator.next().json.utf8) }

/// Runs `body` once to warm up, then counts mallocs over a second pass; returns mallocs per event.
func allocationsPerEvent(_ body: () throws -> Void) rethrows -> Double {
    try body()
    MallocInterposerSwift.initialize()
    MallocInterposerSwift.hook()
    try body()
    MallocInterposerSwift.unhook()
    return Double(MallocInterposerSwift.getStatistics().mallocCount) / Double(events)
}

let decoder = EventDecoder()
let event = DecodedEvent()
var vectorizer = FeatureVectorizer()
var standardizer = OnlineStandardizer()
var vector = FeatureVector()

let foundation = try allocationsPerEvent {
    for document in documents.prefix(events) {
        _ = try JSONSerialization.jsonObject(with: Data(document))
    }
}
let decode = try allocationsPerEvent {
    for document in documents {
        try document.withUnsafeBytes { try decoder.decode($0, into: event) }
    }
}
let full = try allocationsPerEvent {
    for document in documents {
        try document.withUnsafeBytes { try decoder.decode($0, into: event) }
        vectorizer.vectorize(event, into: &vector)
        standardizer.update(vector)
        standardizer.standardize(&vector)
    }
}
// The same events as Avro in the Confluent wire format, through the runtime's decoder and a schema held in memory.
let avroFields = ["{\"name\":\"id\",\"type\":\"long\"}"] + ["amt", "hr", "age", "v1h", "v24h", "dist", "cp"]
    .map { "{\"name\":\"\($0)\",\"type\":\"double\"}" } + (1...13).map { "{\"name\":\"x\($0)\",\"type\":\"double\"}" }
let avroSchemaText = "{\"type\":\"record\",\"name\":\"T\",\"fields\":[\(avroFields.joined(separator: ","))]}"
let avroEncoder = AvroEncoder(schema: try AvroSchema.parse(avroSchemaText))
let avroMessages: [[UInt8]] = try documents.map { try AvroEncoder.wireFormat(schemaID: 1, payload: avroEncoder.encode(JSONValue.parse($0))) }
let avroDecoder = MessageDecoder(format: .avro, configuration: EventDecoderConfiguration(), schemas: SchemaTable([RegisteredSchema(id: 1, kind: .avro, text: avroSchemaText)]))
let avroDecode = try allocationsPerEvent {
    for message in avroMessages {
        try message.withUnsafeBytes { try avroDecoder.decode($0, into: event) }
    }
}
let avroFull = try allocationsPerEvent {
    for message in avroMessages {
        try message.withUnsafeBytes { try avroDecoder.decode($0, into: event) }
        vectorizer.vectorize(event, into: &vector)
        standardizer.update(vector)
        standardizer.standardize(&vector)
    }
}
// Learners: predict + learn on the decoded vectors, per optimizer; bandits; tabular agents.
var labeled = LogisticStreamGenerator(seed: 2)
let labeledDocuments: [[UInt8]] = (0..<events).map { _ in Array(labeled.next().json.utf8) }
var vectors: [FeatureVector] = []
var labels: [Bool] = []
var labelVectorizer = FeatureVectorizer()
for document in labeledDocuments {
    try document.withUnsafeBytes { try decoder.decode($0, into: event) }
    var v = FeatureVector()
    labelVectorizer.vectorize(event, into: &v)
    v.hashedIndices = [UInt32(vectors.count % 1000), UInt32(vectors.count % 777 + 5000)]
    v.hashedValues = [1, 0.5]
    vectors.append(v)
    labels.append(event.label == 1)
}
var learnerRows: [(String, Double)] = []
for optimizer in [Optimizer.defaultSGD, .defaultAdaGrad, .defaultFTRL] {
    var configuration = LogisticRegressionConfiguration()
    configuration.optimizer = optimizer
    var model = try LogisticRegression(configuration: configuration)
    learnerRows.append(("logistic regression, \(optimizer.name)", try allocationsPerEvent {
        for index in 0..<events { _ = try model.predictThenLearn(vectors[index], label: labels[index]) }
    }))
}
var classifier = try ProgressiveClassifier(window: 1_000)
learnerRows.append(("learn path: decode + vectorize + learn + metrics", try allocationsPerEvent {
    for document in labeledDocuments {
        try document.withUnsafeBytes { try decoder.decode($0, into: event) }
        try classifier.process(event)
    }
}))
// Drift: rolling PSI over the 20 dense inputs of the learn path (as `learn --input-psi-window`: the first 10,000
// events are the reference, then a window of 10,000 every 5,000; the warm-up pass takes the reference), one
// numeric PSI (the score's), and rolling F1.
var watchedClassifier = try ProgressiveClassifier()
var inputPSI: RollingPSIGroup? = nil
var psiSum = 0.0
learnerRows.append(("learn path + rolling PSI over its 20 inputs", try allocationsPerEvent {
    for document in labeledDocuments {
        try document.withUnsafeBytes { try decoder.decode($0, into: event) }
        try watchedClassifier.process(event)
        watchedClassifier.withLastDenseValues(updating: &inputPSI) { row, psi in
            if psi == nil { psi = try? RollingPSIGroup(features: row.count) }
            psi?.observe(row) { _, evaluation in psiSum += evaluation.psi }
        }
    }
}))
var scorePSI = try RollingPSI(kind: .numeric)
var f1 = try RollingF1()
var drawn = SeededRandom(seed: 4)
// Keyed aggregates: score + learn over raw card-network transactions (labels inline) with six aggregates and two
// crosses, explain off. The warm-up pass takes the first half of the stream and the counted pass the second, so that
// event time moves on as in a stream (the same events again would all be late).
var network = CardNetworkGenerator(configuration: {
    var settings = CardNetworkGenerator.Configuration()
    settings.events = 2 * events
    return settings
}())
var rawLines: [String] = []
while network.emitted < 2 * events { rawLines += network.next() }
rawLines += network.finish()
var rawLabels: [Int: Int] = [:]
for line in rawLines where !line.contains("\"card\"") {
    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    rawLabels[object["id"] as! Int] = object["label"] as? Int
}
let rawDocuments: [[UInt8]] = rawLines.filter { $0.contains("\"card\"") }.map { line in
    let id = Int(line.dropFirst(6).prefix { $0.isNumber })!
    return Array((line.dropLast() + ",\"label\":\(rawLabels[id] ?? 0)}").utf8)
}
var aggregateFeatures = FeatureSpaceConfiguration()
aggregateFeatures.aggregation = AggregationConfiguration(aggregates: [
    AggregateSpec(name: "card_count_10m", key: ["card"], function: .count, windowMilliseconds: 600_000),
    AggregateSpec(name: "card_amount_z_30d", key: ["card"], function: .zscore, field: "amount", windowMilliseconds: 30 * 86_400_000),
    AggregateSpec(name: "card_merchants_1h", key: ["card"], function: .distinct, field: "merchant", windowMilliseconds: 3_600_000),
    AggregateSpec(name: "card_new_country", key: ["card"], function: .firstSeen, field: "country", windowMilliseconds: 30 * 86_400_000),
    AggregateSpec(name: "card_since_last_s", key: ["card"], function: .sinceLast, windowMilliseconds: 30 * 86_400_000),
    AggregateSpec(name: "merchant_fraud_rate_30d", key: ["merchant"], function: .targetRate, windowMilliseconds: 30 * 86_400_000),
])
aggregateFeatures.interactions = [["card", "device"], ["card", "country"]]
var aggregateClassifier = try ProgressiveClassifier(features: aggregateFeatures, window: nil)
var rawHalf = 0
learnerRows.append(("learn with six aggregates and two crosses", try allocationsPerEvent {
    for document in rawDocuments[(rawHalf * events)..<((rawHalf + 1) * events)] {
        try document.withUnsafeBytes { try decoder.decode($0, into: event) }
        try aggregateClassifier.process(event)
    }
    rawHalf += 1
}))
learnerRows.append(("drift: rolling PSI of one value + rolling F1", allocationsPerEvent {
    for index in 0..<events {
        let score = drawn.nextUnitDouble()
        psiSum += scorePSI.observe(score)?.psi ?? 0
        psiSum += f1.observe(probability: score, label: labels[index])?.f1 ?? 0
    }
}))
precondition(psiSum.isFinite)
@MainActor func banditAllocations<Policy: BanditPolicy>(_ name: String, _ policy: Policy, context: BanditContext = .none) throws {
    var policy = policy
    var random = SeededRandom(seed: 1)
    learnerRows.append(("bandit \(name)", try allocationsPerEvent {
        for _ in 0..<events {
            let arm = policy.predict(context).arm
            try policy.learn(BanditFeedback(arm: arm, reward: random.nextUnitDouble() < 0.5 ? 1 : 0, context: context))
        }
    }))
}
try banditAllocations("epsilon-greedy", EpsilonGreedy(arms: 10, seed: 1))
try banditAllocations("ucb1", UCB1(arms: 10))
try banditAllocations("thompson", ThompsonSampling(arms: 10, seed: 1))
try banditAllocations("exp3", EXP3(arms: 10, seed: 1))
try banditAllocations("linucb", LinUCB(arms: 10, dimension: 8), context: BanditContext((0..<8).map { Double($0) }))
for algorithm in TabularAgent.Algorithm.allCases {
    var agent = try TabularAgent(algorithm: algorithm, states: 64, actions: 4, seed: 1)
    var random = SeededRandom(seed: 2)
    learnerRows.append(("tabular \(algorithm.rawValue), act + learn", try allocationsPerEvent {
        for _ in 0..<events {
            let state = Int(random.next() % 64)
            let action = agent.predict(state)
            try agent.learn(
                Transition(
                    state: state, action: action, reward: 1, nextState: Int(random.next() % 64),
                    terminated: random.next() % 20 == 0, nextAction: Int(random.next() % 4)))
        }
    }))
}

var lake = try Environments.frozenLake()
var lakeAgent = try TabularAgent(states: 16, actions: 4, seed: 3)
var lakeSteps = 0
let lakeAllocations = try allocationsPerEvent {
    lakeSteps = try Training.train(&lakeAgent, in: &lake, episodes: 3_000, seed: 1).steps
}
learnerRows.append(("frozenlake + q-learning, per step", lakeAllocations * Double(events) / Double(max(lakeSteps, 1))))

// The learning engine, record by record (decode + LearningPipeline.process): labels inline, and labels 200
// events late on label lines (held, joined, learned). Per event: the late stream has two records an event.
@MainActor func pipelineAllocations(_ name: String, labelDelay: Int) throws {
    var configuration = FraudStreamGenerator.Configuration()
    configuration.labelDelay = labelDelay
    var fraud = FraudStreamGenerator(configuration: configuration)
    var lines: [[UInt8]] = []
    for _ in 0..<events { lines += fraud.next().map { Array($0.utf8) } }
    lines += fraud.finish().map { Array($0.utf8) }
    let pipeline = try LearningPipeline(
        configuration: LearningPipelineConfiguration(), raiser: AlertRaiser(model: .init(name: "bench", version: "0")))
    let pipelineDecoder = EventDecoder()
    let record = DecodedEvent()
    var number = 0
    let count = try allocationsPerEvent {
        for line in lines {
            number += 1
            try line.withUnsafeBytes { try pipelineDecoder.decode($0, into: record) }
            try pipeline.process(SourceCursor(record: number, end: 0), record, nil)
        }
    }
    learnerRows.append((name, count))
    if labelDelay > 0 {
        // Decoding alone, to tell the engine's share from the decoder's (two key shapes taking turns).
        learnerRows.append(("  of which decoding its records", try allocationsPerEvent {
            for line in lines { try line.withUnsafeBytes { try pipelineDecoder.decode($0, into: record) } }
        }))
    }
}
try pipelineAllocations("learning pipeline, labels inline", labelDelay: 0)
try pipelineAllocations("learning pipeline, labels 200 events late", labelDelay: 200)

print("allocations per event (\(events) generated events, after one warm-up pass)")
print("  Foundation JSONSerialization            \(String(format: "%.2f", foundation))")
print("  EventDecoder                            \(String(format: "%.2f", decode))")
print("  decode + vectorize + standardise        \(String(format: "%.2f", full))")
print("  Avro (wire format), MessageDecoder      \(String(format: "%.2f", avroDecode))")
print("  Avro decode + vectorize + standardise   \(String(format: "%.2f", avroFull))")
for (name, count) in learnerRows {
    print("  \(name.padding(toLength: 48, withPad: " ", startingAt: 0)) \(String(format: "%.4f", count))")
}
