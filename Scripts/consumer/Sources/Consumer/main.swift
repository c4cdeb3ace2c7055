// Uses StreamLearn from another package: a learner, the engine on events in memory, and a job driven without
// Kafka. Prints what each did; `make consumer-check` compares it with the expected lines.
import Alerting
import OnlineLearning
import StreamCore
import StreamJobs
import StreamPipeline
import StreamTestKit

// A learner on its own: one dense feature, the label its sign.
var model = try LogisticRegression()
var random = SeededRandom(seed: 7)
var vector = FeatureVector()
for _ in 0..<2_000 {
    let x = random.nextUnitDouble() * 2 - 1
    vector.dense = [x]
    try model.learn(LabeledExample(features: vector, label: x > 0))
}
vector.dense = [0.9]
print("learner: p(0.9) > 0.5: \(model.predict(vector) > 0.5)")

// The engine: events with inline labels, each scored then learned.
var configuration = LearningPipelineConfiguration()
configuration.labelJoin = nil
let pipeline = try LearningPipeline(
    configuration: configuration, raiser: AlertRaiser(model: Alert.Model(name: "consumer", version: "1")))
let lines = (0..<1_000).map { index in
    let x = Double(index % 100) / 50 - 1
    return #"{"id":"e\#(index)","label":\#(x > 0 ? 1 : 0),"features":{"x":\#(x)}}"#
}
_ = try pipeline.run(InMemorySource(lines: lines), decoder: EventDecoder(), threaded: false)
print("engine: learned \(pipeline.state.labelled) events")

// A bandit job, driven without Kafka.
var driver = JobDriver(
    try BanditJob(
        .init(policy: BanditSettings(policy: .ucb1, arms: 3)), context: JobContext(name: "consumer"), payload: nil))
let reasons = try driver.feed((1...5).map { #"{"id":"d\#($0)"}"# })
print("job: \(driver.output.answers.count) decisions, \(reasons.compactMap { $0 }.count) dead letters")
