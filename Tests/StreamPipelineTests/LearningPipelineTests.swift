import Alerting
import DriftDetection
import Foundation
import OnlineLearning
import Simulation
import StreamCore
import StreamPipeline
import Testing

@Suite("Learning pipeline")
struct LearningPipelineTests {
    /// A fraud stream whose labels come `delay` events late, as label lines.
    static func delayedStream(events: Int, delay: Int, seed: UInt64 = 3) -> [String] {
        var configuration = FraudStreamGenerator.Configuration()
        configuration.seed = seed
        configuration.labelDelay = delay
        var generator = FraudStreamGenerator(configuration: configuration)
        var lines: [String] = []
        for _ in 0..<events { lines += generator.next() }
        return lines + generator.finish()
    }

    static func pipeline(
        _ configuration: LearningPipelineConfiguration = LearningPipelineConfiguration(), state: PipelineState? = nil,
        sink: InMemoryAlertSink? = nil
    ) throws -> LearningPipeline {
        let dispatcher = sink.map { AlertDispatcher(sinks: [$0]) }
        return try LearningPipeline(
            configuration: configuration, state: state,
            raiser: AlertRaiser(model: .init(name: "test", version: "1"), dispatcher: dispatcher))
    }

    static func run(_ pipeline: LearningPipeline, _ lines: [String], threaded: Bool = false) throws {
        _ = try pipeline.run(InMemorySource(lines: lines), decoder: EventDecoder(), threaded: threaded)
    }

    @Test("Late labels are joined: the model equals a reference loop that holds each event's features until its label line")
    func lateLabelsJoin() throws {
        let lines = Self.delayedStream(events: 4_000, delay: 50)
        var configuration = LearningPipelineConfiguration()
        configuration.features.hashBits = 12
        configuration.model.hashBits = 12
        let pipeline = try Self.pipeline(configuration)
        try Self.run(pipeline, lines, threaded: true)

        // The reference: the classifier alone, with a dictionary of held features.
        var reference = try ProgressiveClassifier(features: configuration.features, model: configuration.model, window: nil)
        var held: [String: (FeatureVector, Double)] = [:]
        let decoder = EventDecoder()
        let event = DecodedEvent()
        for line in lines {
            try decoder.decode(Array(line.utf8), into: event)
            let id = event.idString!
            if let label = event.label {
                let (features, score) = held.removeValue(forKey: id)!
                try reference.learn(features, label: label != 0, score: score)
            } else {
                let score = try reference.score(event)
                held[id] = (reference.lastVector, score)
            }
        }
        #expect(try Snapshot.encode(pipeline.state.classifier) == Snapshot.encode(reference))
        let counts = try #require(pipeline.state.join?.counts)
        #expect(counts.joined == 4_000)
        #expect(counts.expired == 0 && counts.orphans == 0 && counts.duplicates == 0)
        #expect(pipeline.counts.labelLines == 4_000)
        #expect(pipeline.counts.unlabeled == 0)
        #expect(pipeline.state.classifier.metrics.cumulative.count == 4_000)
        #expect(pipeline.state.join?.waitingCount == 0)
    }

    @Test("Orphan and duplicate labels are counted, never learned; the buffer is bounded by count and by age")
    func joinBounds() throws {
        var configuration = LearningPipelineConfiguration()
        configuration.labelJoin!.capacity = 3
        configuration.labelJoin!.maxAge = .events(5)
        let pipeline = try Self.pipeline(configuration)
        var lines = (1...4).map { #"{"id":"e\#($0)","x":\#($0)}"# }  // e1 pushed out by e4 (capacity 3)
        lines += [#"{"id":"e1","label":1}"#, #"{"id":"e2","label":0}"#, #"{"id":"e2","label":0}"#, #"{"id":"zz","label":1}"#]
        lines += [#"{"id":"e3","x":9}"#]  // a duplicate event id: scored, not held
        lines += (5...9).map { #"{"id":"e\#($0)","x":\#($0)}"# }  // each pushes the oldest waiting one out
        lines += [#"{"id":"e4","label":1}"#]
        try Self.run(pipeline, lines)
        let counts = try #require(pipeline.state.join?.counts)
        #expect(counts.joined == 1)  // e2
        #expect(counts.duplicates == 1)  // e2 again
        #expect(counts.orphans == 3)  // e1 (expired), zz (unknown), e4 (expired)
        #expect(counts.duplicateEvents == 1)
        #expect(counts.expired == 5)  // e1, e3, e4, e5, e6: capacity 3 keeps e7…e9
        #expect(pipeline.state.join?.waitingCount == 3)
        #expect(pipeline.state.classifier.metrics.cumulative.count == 1)

        // By age: in events seen since, or in event time.
        var byAge = LearningPipelineConfiguration()
        byAge.labelJoin!.maxAge = .events(2)
        let aging = try Self.pipeline(byAge)
        try Self.run(aging, ["a", "b", "c", "d"].map { #"{"id":"\#($0)","x":1}"# })
        #expect(aging.state.join?.counts.expired == 2)  // a and b are more than 2 events old
        #expect(aging.state.join?.waitingCount == 2)
        byAge.labelJoin!.maxAge = .milliseconds(1_000)
        let timed = try Self.pipeline(byAge)
        try Self.run(timed, [#"{"id":"a","ts":0,"x":1}"#, #"{"id":"b","ts":500,"x":1}"#, #"{"id":"c","ts":1600,"x":1}"#])
        #expect(timed.state.join?.counts.expired == 2)
        #expect(timed.state.join?.waitingCount == 1)

        // Expired events learned with a default label, when configured.
        configuration.labelJoin!.expiry = .learn(label: false)
        let learning = try Self.pipeline(configuration)
        try Self.run(learning, lines)
        #expect(learning.state.join?.counts.expiredLearned == 5)
        #expect(learning.state.classifier.metrics.cumulative.count == 6)
        #expect(learning.state.labelled == 6)
    }

    @Test("A snapshot taken with events waiting continues bit for bit, join buffer and detectors included")
    func snapshotMidJoin() throws {
        let lines = Self.delayedStream(events: 6_000, delay: 300, seed: 11)
        var configuration = LearningPipelineConfiguration()
        configuration.features.hashBits = 12
        configuration.model.hashBits = 12
        configuration.detectors.f1Window = 500
        configuration.detectors.scorePSIWindow = 500
        configuration.detectors.inputPSIWindow = 500
        configuration.detectors.adwin = true
        let oneGo = try Self.pipeline(configuration)
        try Self.run(oneGo, lines)

        let first = try Self.pipeline(configuration)
        try Self.run(first, Array(lines.prefix(5_000)))
        #expect((first.state.join?.waitingCount ?? 0) > 100)
        let restored = try Snapshot.decode(PipelineState.self, from: Snapshot.encode(first.state))
        let second = try Self.pipeline(configuration, state: restored)
        try Self.run(second, Array(lines.dropFirst(5_000)))
        #expect(try Snapshot.encode(second.state) == Snapshot.encode(oneGo.state))
        #expect(second.state.join?.counts == oneGo.state.join?.counts)
    }

    @Test("Records the decoder rejects or the model refuses are reported, never learned")
    func diagnostics() throws {
        let pipeline = try Self.pipeline()
        var seen: [String] = []
        pipeline.diagnostics = { diagnostic in
            switch diagnostic {
            case .rejected(let record, _): seen.append("rejected \(record)")
            case .notLearned(let record, _): seen.append("not learned \(record)")
            }
        }
        try Self.run(pipeline, [#"{"a":1,"label":1}"#, #"{"a":1e999,"label":0}"#, #"{"a":2}"#, "nonsense"])
        #expect(seen == ["rejected 2", "rejected 4"])
        #expect(pipeline.counts.records == 4)
        #expect(pipeline.counts.unlabeled == 1)
        #expect(pipeline.state.classifier.metrics.cumulative.count == 1)
    }

    @Test("A valid but huge value is not learned, naming its feature; every state stays finite and snapshots stay writable")
    func hugeValues() throws {
        let pipeline = try Self.pipeline()
        var reasons: [String] = []
        pipeline.diagnostics = { if case .notLearned(let record, let error) = $0 { reasons.append("\(record): \(error)") } }
        var lines = (0..<300).map { #"{"id":\#($0),"f0":\#(Double($0 % 7) - 3),"f1":\#($0 % 5),"label":\#($0 % 2)}"# }
        lines.insert(#"{"id":9999,"f0":1e160,"label":1}"#, at: 150)
        try Self.run(pipeline, lines)
        #expect(reasons == ["151: input out of range: feature 'f0' = 1e+160: beyond ±1e100, too large to learn safely"])
        #expect(pipeline.state.classifier.metrics.cumulative.count == 300)
        let standardizer = pipeline.state.classifier.model.standardizer
        #expect((standardizer.means + standardizer.inverseDeviations).allSatisfy { $0.isFinite })
        let restored = try Snapshot.decode(PipelineState.self, from: Snapshot.encode(pipeline.state))
        #expect(restored == pipeline.state)
    }

    @Test("Concept drift raises F1 and score alerts after the drift only, each critical one with a snapshot")
    func alertsWithSnapshots() throws {
        var configuration = FraudStreamGenerator.Configuration()
        configuration.seed = 3
        configuration.driftAt = 30_000
        configuration.drift = .concept
        var generator = FraudStreamGenerator(configuration: configuration)
        let lines = (0..<50_000).flatMap { _ in generator.next() }
        var pipelineConfiguration = LearningPipelineConfiguration()
        pipelineConfiguration.model.positiveClassWeight = 10
        pipelineConfiguration.detectors.f1Window = 5_000
        pipelineConfiguration.detectors.scorePSIWindow = 5_000
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sink = InMemoryAlertSink()
        let dispatcher = AlertDispatcher(sinks: [sink])
        let pipeline = try LearningPipeline(
            configuration: pipelineConfiguration, store: SnapshotStore(directory: directory),
            raiser: AlertRaiser(model: .init(name: "fraud", version: "1"), dispatcher: dispatcher))
        try Self.run(pipeline, lines, threaded: true)
        dispatcher.finish()
        let alerts = sink.alerts
        #expect(alerts.count == pipeline.raiser.raised)
        let firstF1 = try #require(alerts.first { $0.kind == "drift.f1" })
        #expect(firstF1.window.start >= 25_000 && firstF1.window.end <= 40_000)
        #expect(alerts.allSatisfy { $0.window.end > 30_000 })
        for alert in alerts where alert.severity == .critical && alert.state == .firing {
            let entry = try SnapshotStore.read(try #require(alert.snapshot))
            #expect(entry.header.reason == "alert:\(alert.id)")
            #expect(try Snapshot.decode(PipelineState.self, from: entry.payload).classifier.scored > 30_000)
        }
    }
}

@Suite("Bounded state")
struct BoundedStateTests {
    @Test("The fixed-memory ROC-AUC stays within its stated bound of the exact one, and its bound is small")
    func binnedAgainstExact() throws {
        var random = SeededRandom(seed: 5)
        var binned = BinnedROCAUC()
        var exact = CumulativeROCAUC()
        for index in 0..<200_000 {
            let label = random.nextUnitDouble() < 0.1
            // Logits of a fair model: positives shifted up, with long tails both ways.
            let logit = random.nextGaussian() * 2.5 + (label ? 2 : -1) + (index % 1000 == 0 ? 30 : 0)
            let score = 1 / (1 + exp(-logit))
            binned.update(score: score, label: label)
            exact.update(score: score, label: label)
        }
        let statistics = try #require(binned.statistics)
        let truth = try #require(exact.statistics)
        #expect(abs(statistics.rocAUC - truth.rocAUC) <= statistics.errorBound)
        #expect(statistics.errorBound < 1e-3)
        #expect(statistics.ks <= truth.ks && truth.ks - statistics.ks < 0.01)
        // Round trip.
        let data = try JSONEncoder().encode(binned)
        #expect(try JSONDecoder().decode(BinnedROCAUC.self, from: data) == binned)
    }

    @Test("Cumulative metrics' snapshot is the same size after 1M and 10M events (within 5%)")
    func metricsStayBounded() throws {
        var random = SeededRandom(seed: 9)
        var metrics = BinaryClassificationMetrics()
        var sizes: [Int] = []
        for checkpoint in [1_000_000, 10_000_000] {
            while metrics.count < checkpoint {
                let label = random.nextUnitDouble() < 0.3
                let logit = random.nextGaussian() * 2 + (label ? 1.5 : -1)
                metrics.update(probability: 1 / (1 + exp(-logit)), label: label)
            }
            sizes.append(try JSONEncoder().encode(metrics).count)
        }
        #expect(Double(sizes[1]) <= 1.05 * Double(sizes[0]), "\(sizes)")
        #expect(sizes[1] < 300_000)
        // The exact one grows with the stream: the option for replays.
        var exact = BinaryClassificationMetrics(exactROCAUC: true)
        for _ in 0..<100_000 { exact.update(probability: random.nextUnitDouble(), label: random.nextUnitDouble() < 0.5) }
        #expect(try JSONEncoder().encode(exact).count > 1_000_000)
    }
}
