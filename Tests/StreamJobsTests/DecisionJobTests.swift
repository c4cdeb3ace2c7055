import Foundation
import OnlineLearning
import StreamJobs
import StreamTestKit
import Testing

@Suite("Decision jobs driven without Kafka")
struct DecisionJobTests {
    @Test("A default reward the policy refuses is not counted as learned on expiry; a context no model can learn is refused at the request")
    func countersCountWhatHappened() throws {
        var join = JobConfiguration.Join()
        join.maxAgeMessages = 1
        join.defaultReward = 5
        let job = try BanditJob(
            .init(policy: BanditSettings(policy: .exp3, arms: 2), join: join),
            context: JobContext(name: "counts", sharesFeedbackTopic: true), payload: nil)
        var driver = JobDriver(job)
        let output = driver.output
        let reasons = try driver.feed((1...4).map { #"{"id":"d\#($0)"}"# })
        #expect(reasons.allSatisfy { $0 == nil })
        #expect(output.answers.count == 4)
        let counters = Dictionary(uniqueKeysWithValues: job.counters)
        #expect(counters["expired"] == 2, "\(counters)")
        #expect(counters["expired_learned"] == 0, "EXP3 refuses a reward of 5: \(counters)")

        var settings = BanditSettings(policy: .linucb, arms: 2)
        settings.dimension = 2
        let linucb = try BanditJob(.init(policy: settings), context: JobContext(name: "contexts"), payload: nil)
        var linucbDriver = JobDriver(linucb)
        let refused = try linucbDriver.feed([#"{"id":"c1","context":[1e308,1]}"#, #"{"id":"c2","context":[1,1]}"#])
        #expect(refused[0]?.kind == "refused-values")
        #expect(refused[0]?.message.contains("context[0] = 1e+308") == true, "\(refused[0]?.message ?? "")")
        #expect(refused[1] == nil)
    }
}
