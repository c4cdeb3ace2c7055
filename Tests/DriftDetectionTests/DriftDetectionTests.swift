import DriftDetection
import Foundation
import OnlineLearning
import Simulation
import StreamCore
import Testing

@Suite("Population stability index")
struct PSITests {
    static func small() -> PSIConfiguration {
        var configuration = PSIConfiguration()
        configuration.referenceSize = 10
        configuration.windowSize = 10
        configuration.step = 10
        configuration.bins = 4
        return configuration
    }

    @Test("Quantile edges follow numpy's linear method")
    func edges() {
        // numpy.quantile([1..10], [0.25, 0.5, 0.75]) == [3.25, 5.5, 7.75]
        #expect(PopulationStability.edges(sorted: (1...10).map(Double.init), bins: 4) == [3.25, 5.5, 7.75])
        // Values printed by numpy 2.4.6 (repr), to the bit.
        #expect(PopulationStability.edges(sorted: [0, 0, 0, 1, 5], bins: 5) == [0, 0, 0.3999999999999999, 1.8000000000000007])
        #expect(
            PopulationStability.edges(sorted: [0.1, 0.2, 0.3, 0.33, 0.7, 0.8, 0.9], bins: 7) == [
                0.18571428571428572, 0.2714285714285714, 0.3171428571428571, 0.4885714285714285, 0.7285714285714285,
                0.8142857142857143,
            ])
        #expect(PopulationStability.quantile(sorted: [0.1, 0.2, 0.3, 0.33, 0.7, 0.8, 0.9], 3.0 / 10) == 0.27999999999999997)
        #expect(PopulationStability.bin(of: 5.5, edges: [3.25, 5.5, 7.75]) == 2)  // an edge goes to the upper bin
        #expect(PopulationStability.bin(of: 3.2, edges: [3.25, 5.5, 7.75]) == 0)
        #expect(PopulationStability.bin(of: 100, edges: [3.25, 5.5, 7.75]) == 3)
        #expect(PopulationStability.bin(of: 0, edges: [0, 0, 0.4]) == 2)  // repeated edges: past all equal ones
    }

    @Test("PSI equals the hand-computed value exactly, with values on edges and an empty bin")
    func handComputed() throws {
        var detector = try RollingPSI(kind: .numeric, configuration: Self.small())
        for value in 1...10 { #expect(detector.observe(Double(value)) == nil) }
        #expect(detector.edges == [3.25, 5.5, 7.75])
        #expect(detector.referenceProportions == [0.3, 0.2, 0.2, 0.3, 0])
        // Bins: (−∞, 3.25) none → ε; [3.25, 5.5) 3.25, 4; [5.5, 7.75) 5.5, 5.5; [7.75, ∞) 7.75, 8, 9, 9, 10, 12.
        let current: [Double] = [5.5, 5.5, 7.75, 8, 9, 9, 10, 12, 3.25, 4]
        var evaluation: PSIEvaluation?
        for value in current { evaluation = detector.observe(value) }
        let expected =
            (1e-4 - 0.3) * log(1e-4 / 0.3) + (0.2 - 0.2) * log(0.2 / 0.2) + (0.2 - 0.2) * log(0.2 / 0.2)
            + (0.6 - 0.3) * log(0.6 / 0.3) + (1e-4 - 1e-4) * log(1e-4 / 1e-4)
        #expect(evaluation == PSIEvaluation(start: 10, end: 20, psi: expected))
        #expect(PopulationStability.index(reference: [0.3, 0.2, 0.2, 0.3, 0], current: [0, 0.2, 0.2, 0.6, 0]) == expected)
    }

    @Test("Categorical PSI: the reference's top categories plus other, and missing in its own bin")
    func categorical() throws {
        var configuration = Self.small()
        configuration.topCategories = 2
        var detector = try RollingPSI(kind: .categorical, configuration: configuration)
        func observe(_ category: String?) -> PSIEvaluation? {
            guard let category else { return detector.observe(category: nil) }
            return Array(category.utf8).withUnsafeBytes { detector.observe(category: $0) }
        }
        for category in ["FR", "FR", "FR", "DE", "DE", "US", "GB", nil, "FR", "DE"] { _ = observe(category) }
        #expect(detector.categories == ["FR", "DE"])
        #expect(detector.referenceProportions == [0.4, 0.3, 0.2, 0.1])
        var evaluation: PSIEvaluation?
        for category in ["FR", "FR", "FR", "FR", "FR", "FR", "DE", "IT", "IT", "IT"] { evaluation = observe(category) }
        let expected =
            (0.6 - 0.4) * log(0.6 / 0.4) + (0.1 - 0.3) * log(0.1 / 0.3) + (0.3 - 0.2) * log(0.3 / 0.2)
            + (1e-4 - 0.1) * log(1e-4 / 0.1)
        #expect(evaluation?.psi == expected)
    }

    /// Feeds `count` fraud-stream events' fields to one detector each; returns every evaluation by feature.
    static func run(
        _ generator: FraudStreamGenerator, count: Int, configuration: PSIConfiguration = .init()
    ) throws -> [String: [PSIEvaluation]] {
        var generator = generator
        let numeric: [(String, KeyPath<FraudStreamGenerator.Record, Double>)] = [
            ("amount", \.amount), ("distance_km", \.distanceKilometres), ("ip_risk", \.ipRisk),
            ("merchant_risk", \.merchantRisk),
        ]
        let integers: [(String, KeyPath<FraudStreamGenerator.Record, Int>)] = [
            ("hour", \.hour), ("customer_age_days", \.customerAgeDays), ("txn_count_1h", \.transactionsLastHour),
            ("txn_count_24h", \.transactionsLastDay), ("card_present", \.cardPresent),
            ("failed_logins_24h", \.failedLogins),
        ]
        let categorical: [(String, KeyPath<FraudStreamGenerator.Record, String>)] = [
            ("merchant_category", \.merchantCategory), ("country", \.country), ("device", \.device),
            ("channel", \.channel),
        ]
        var numericDetectors = try (numeric.map(\.0) + integers.map(\.0)).map { _ in
            try RollingPSI(kind: .numeric, configuration: configuration)
        }
        var categoricalDetectors = try categorical.map { _ in try RollingPSI(kind: .categorical, configuration: configuration) }
        var evaluations: [String: [PSIEvaluation]] = [:]
        for _ in 0..<count {
            let record = generator.nextRecord()
            let values = numeric.map { record[keyPath: $0.1] } + integers.map { Double(record[keyPath: $0.1]) }
            for (index, value) in values.enumerated() {
                if let evaluation = numericDetectors[index].observe(value) {
                    evaluations[index < numeric.count ? numeric[index].0 : integers[index - numeric.count].0, default: []]
                        .append(evaluation)
                }
            }
            for (index, field) in categorical.enumerated() {
                let evaluation = Array(record[keyPath: field.1].utf8).withUnsafeBytes { categoricalDetectors[index].observe(category: $0) }
                if let evaluation { evaluations[field.0, default: []].append(evaluation) }
            }
        }
        return evaluations
    }

    @Test("A stationary stream of 1,000,000 events raises no critical alert with defaults (14 features)")
    func stationaryIsQuiet() throws {
        let evaluations = try Self.run(FraudStreamGenerator(configuration: .init()), count: 1_000_000)
        #expect(evaluations.count == 14)
        var alerts = 0
        var worst = 0.0
        for (_, list) in evaluations {
            #expect(list.count == (1_000_000 - 10_000 - 10_000) / 5_000 + 1)
            var tracker = AlertTracker(policy: .psi)
            for evaluation in list {
                worst = max(worst, evaluation.psi)
                if case .fired(let severity, _) = tracker.evaluate(evaluation.psi) {
                    #expect(severity != .critical)
                    alerts += 1
                }
            }
        }
        #expect(alerts == 0, "worst PSI \(worst)")
        #expect(worst < 0.05)
    }

    @Test("An abrupt covariate shift raises a critical PSI alert within one window")
    func abruptShiftDetected() throws {
        var configuration = FraudStreamGenerator.Configuration()
        configuration.driftAt = 100_000
        configuration.drift = .covariate
        let evaluations = try Self.run(FraudStreamGenerator(configuration: configuration), count: 150_000)
        for feature in ["amount", "distance_km", "hour", "country"] {
            var tracker = AlertTracker(policy: .psi)
            var firstCritical: Int?
            for evaluation in evaluations[feature]! {
                let change = tracker.evaluate(evaluation.psi)
                if tracker.state == .critical && firstCritical == nil { firstCritical = evaluation.end }
                if evaluation.end <= 100_000 { #expect(change == nil, "\(feature) fired before the drift") }
            }
            #expect(firstCritical != nil && firstCritical! <= 100_000 + 10_000, "\(feature): \(String(describing: firstCritical))")
        }
    }
}

@Suite("Alert lifecycle, rolling F1, Page-Hinkley")
struct AlertLifecycleTests {
    @Test("One sustained drift gives one alert and one resolution; noise at the threshold gives no storm")
    func hysteresis() {
        var tracker = AlertTracker(policy: .psi)
        var changes: [AlertChange] = []
        let episode = [0.01, 0.02, 0.15, 0.25, 0.3, 0.19, 0.22, 0.09, 0.05, 0.03, 0.02, 0.12, 0.01, 0.01]
        for value in episode { if let change = tracker.evaluate(value) { changes.append(change) } }
        // 0.15 fires a warning, 0.25 escalates it; 0.09 is not below 0.08; 0.05, 0.03 resolve; the cooldown
        // swallows 0.02 and 0.12.
        #expect(changes == [.fired(.warning, episode: 1), .escalated(episode: 1), .resolved(episode: 1)])
        var noisy = AlertTracker(policy: .psi)
        var fired = 0
        var resolved = 0
        for step in 0..<200 {
            switch noisy.evaluate(step % 2 == 0 ? 0.095 : 0.105) {
            case .fired: fired += 1
            case .resolved: resolved += 1
            default: break
            }
        }
        #expect(fired == 1 && resolved == 0)
        // A second, separate episode is a second alert.
        for value in [0.01, 0.01, 0.01, 0.01, 0.3] { _ = tracker.evaluate(value) }
        #expect(tracker.episodes == 2 && tracker.state == .critical)
    }

    @Test("Concept drift makes the model's rolling F1 fall and raises an F1 alert within two windows")
    func conceptDriftDetected() throws {
        var configuration = FraudStreamGenerator.Configuration()
        configuration.driftAt = 40_000
        configuration.drift = .concept
        configuration.seed = 3
        var generator = FraudStreamGenerator(configuration: configuration)
        var model = LogisticRegressionConfiguration()
        model.positiveClassWeight = 10
        var classifier = try ProgressiveClassifier(model: model, window: nil)
        var f1Configuration = RollingF1.Configuration()
        f1Configuration.referenceSize = 10_000
        f1Configuration.windowSize = 5_000
        f1Configuration.step = 1_000
        var detector = try RollingF1(configuration: f1Configuration)
        var tracker: AlertTracker?
        var firedAt: Int?
        var baselineSeen = 0.0
        let decoder = EventDecoder()
        let event = DecodedEvent()
        for _ in 0..<60_000 {
            let line = generator.next()[0]
            try decoder.decode(Array(line.utf8), into: event)
            let label = event.label == 1
            let probability = try classifier.process(event)
            guard let evaluation = detector.observe(probability: probability, label: label) else { continue }
            baselineSeen = evaluation.baseline
            if tracker == nil { tracker = AlertTracker(policy: detector.policy!) }
            let change = tracker!.evaluate(evaluation.f1)
            if evaluation.end <= 40_000 { #expect(change == nil, "F1 alert before the drift: \(evaluation)") }
            if case .fired = change, firedAt == nil { firedAt = evaluation.end }
        }
        #expect(baselineSeen > 0.1, "baseline F1 \(baselineSeen)")
        #expect(firedAt != nil && firedAt! <= 40_000 + 2 * 5_000, "fired at \(String(describing: firedAt))")
    }

    @Test("On a stationary imbalanced stream (about 2% fraud) rolling F1 raises no alert: its threshold is chosen on the reference and drops are judged against the window's noise")
    func imbalancedStationaryQuiet() throws {
        var configuration = FraudStreamGenerator.Configuration()
        configuration.seed = 1
        var generator = FraudStreamGenerator(configuration: configuration)
        var classifier = try ProgressiveClassifier(window: nil)
        var f1Configuration = RollingF1.Configuration()
        f1Configuration.referenceSize = 5_000
        f1Configuration.windowSize = 5_000
        f1Configuration.step = 1_000
        var detector = try RollingF1(configuration: f1Configuration)
        var tracker: AlertTracker?
        var evaluations = 0
        let decoder = EventDecoder()
        let event = DecodedEvent()
        for index in 0..<300_000 {
            try decoder.decode(Array(generator.next()[0].utf8), into: event)
            let probability = try classifier.process(event)
            guard index >= 10_000, let evaluation = detector.observe(probability: probability, label: event.label == 1) else { continue }
            evaluations += 1
            if tracker == nil { tracker = AlertTracker(policy: detector.policy!) }
            #expect(tracker!.evaluate(evaluation.f1) == nil, "F1 alert on a stationary stream: \(evaluation)")
        }
        #expect(evaluations > 250)
        // The chosen threshold is far below 0.5, and the baseline well above the F1 at 0.5 (about 0.01–0.03).
        #expect(detector.threshold < 0.3)
        #expect((detector.baseline ?? 0) > 0.1, "baseline \(String(describing: detector.baseline))")
        #expect(detector.noise > 0)
    }

    @Test("The reference's threshold is the one that maximises its F1")
    func bestThreshold() throws {
        var configuration = RollingF1.Configuration()
        configuration.referenceSize = 6
        configuration.windowSize = 2
        var detector = try RollingF1(configuration: configuration)
        // Scores and labels: at 0.6 precision 2/2, recall 2/3 (F1 0.8); at 0.3 3/4 and 3/3 (F1 0.857); at 0.1 3/6.
        for (score, label) in [(0.9, true), (0.6, true), (0.3, true), (0.3, false), (0.1, false), (0.1, false)] {
            _ = detector.observe(probability: score, label: label)
        }
        #expect(detector.threshold == 0.3)
        #expect(abs(detector.baseline! - 6.0 / 7.0) < 1e-12)
        var fixed = configuration
        fixed.threshold = 0.5
        #expect(try RollingF1(configuration: fixed).threshold == 0.5)
    }

    @Test("Page-Hinkley detects a rise and a fall of the mean, and stays quiet on a stable stream")
    func pageHinkley() {
        var random = SeededRandom(seed: 1)
        var detector = PageHinkley(delta: 0.005, threshold: 20)
        var changes: [(Int, PageHinkley.Change)] = []
        for step in 0..<6_000 {
            let mean = step < 2_000 ? 0.0 : (step < 4_000 ? 1.0 : -1.0)
            if let change = detector.update(mean + 0.2 * random.nextGaussian()) { changes.append((step, change)) }
        }
        #expect(changes.count == 2)
        #expect(changes.first?.1 == .increase && (2_000..<2_100).contains(changes.first!.0))
        #expect(changes.last?.1 == .decrease && (4_000..<4_100).contains(changes.last!.0))
    }
}

@Suite("ADWIN")
struct ADWINTests {
    @Test("Detects a mean shift of the error stream within 150 values, keeps only the new regime, stays quiet when stable")
    func meanShift() {
        var random = SeededRandom(seed: 7)
        var adwin = ADWIN()
        var detectedAt: [Int] = []
        for step in 0..<6_000 {
            let error: Double = random.nextUnitDouble() < (step < 3_000 ? 0.1 : 0.4) ? 1 : 0
            if adwin.update(error) { detectedAt.append(step) }
        }
        #expect(detectedAt.count >= 1)
        #expect(detectedAt.allSatisfy { $0 >= 3_000 })
        #expect(detectedAt.first.map { $0 < 3_150 } == true, "\(detectedAt)")
        #expect(abs(adwin.mean - 0.4) < 0.05)
        #expect(adwin.width < 3_200)

        var stable = ADWIN()
        var falseAlarms = 0
        for _ in 0..<50_000 where stable.update(random.nextUnitDouble() < 0.2 ? 1 : 0) { falseAlarms += 1 }
        #expect(falseAlarms == 0)
        #expect(stable.width == 50_000)
    }
}

@Suite("PSI group")
struct PSIGroupTests {
    @Test("A group of detectors evaluates exactly as the detectors one by one; short rows count as missing", arguments: [10, 40])
    func groupMatchesSingles(bins: Int) throws {
        var configuration = PSIConfiguration()
        configuration.referenceSize = 100
        configuration.windowSize = 50
        configuration.step = 25
        configuration.bins = bins
        var group = try RollingPSIGroup(features: 4, configuration: configuration)
        var singles = try (0..<4).map { _ in try RollingPSI(kind: .numeric, configuration: configuration) }
        var random = SeededRandom(seed: 12)
        var fromGroup: [[PSIEvaluation]] = [[], [], [], []]
        var fromSingles: [[PSIEvaluation]] = [[], [], [], []]
        for step in 0..<400 {
            // Feature 3 is missing throughout the reference, then present.
            let row = step % 10 == 0
                ? [random.nextGaussian()]
                : [random.nextGaussian(), Double(step % 7), step > 250 ? 5 : random.nextUnitDouble(), step < 100 ? .nan : Double(step % 3)]
            row.withUnsafeBufferPointer { buffer in group.observe(buffer) { fromGroup[$0].append($1) } }
            for feature in 0..<4 {
                if let evaluation = singles[feature].observe(feature < row.count ? row[feature] : .nan) {
                    fromSingles[feature].append(evaluation)
                }
            }
        }
        #expect(fromGroup == fromSingles)
        #expect(fromGroup[2].last!.psi > 1)  // the shifted feature
        #expect(fromGroup[3].last!.psi > 1)  // missing in the reference, present now
        #expect(fromGroup.allSatisfy { $0.count == (400 - 100 - 50) / 25 + 1 })
    }
}

@Suite("PSI window")
struct PSIWindowTests {
    /// Window and step pairs that keep the window as blocks (a common divisor of at least twice the bins) and as a
    /// ring (none), including a step longer than the window.
    static let shapes: [(window: Int, step: Int)] = [(50, 25), (50, 20), (20, 50), (30, 7), (12, 12)]

    /// A reference of 40 events and 4 bins, with the shape's window and step.
    static func configuration(_ shape: (window: Int, step: Int)) -> PSIConfiguration {
        var configuration = PSIConfiguration()
        configuration.referenceSize = 40
        configuration.windowSize = shape.window
        configuration.step = shape.step
        configuration.bins = 4
        return configuration
    }

    @Test("Every evaluation equals the PSI recomputed from the last window's values, kept as blocks or as a ring", arguments: shapes)
    func matchesRecomputation(shape: (window: Int, step: Int)) throws {
        let configuration = Self.configuration(shape)
        var group = try RollingPSIGroup(features: 2, configuration: configuration)
        var single = try RollingPSI(kind: .numeric, configuration: configuration)
        var random = SeededRandom(seed: 21)
        var values: [[Double]] = []
        var fromGroup: [PSIEvaluation] = []
        var fromSingle: [PSIEvaluation] = []
        for step in 0..<400 {
            // Feature 0 shifts halfway; feature 1 is discrete, so values fall on its edges.
            let row = [random.nextGaussian() + (step > 200 ? 1 : 0), Double(random.next() % 5)]
            values.append(row)
            row.withUnsafeBufferPointer { buffer in group.observe(buffer) { if $0 == 0 { fromGroup.append($1) } } }
            if let evaluation = single.observe(row[0]) { fromSingle.append(evaluation) }
        }
        let reference = values.prefix(40).map { $0[0] }.sorted()
        let edges = PopulationStability.edges(sorted: reference, bins: 4)
        func proportions(_ window: some Collection<Double>) -> [Double] {
            var counts = [Double](repeating: 0, count: 5)
            for value in window { counts[PopulationStability.bin(of: value, edges: edges)] += 1 }
            return counts.map { $0 / Double(window.count) }
        }
        let referenceProportions = proportions(reference)
        var expected: [PSIEvaluation] = []
        var end = 40 + shape.window
        while end <= 400 {
            let current = proportions(values[(end - shape.window)..<end].map { $0[0] })
            expected.append(
                PSIEvaluation(
                    start: end - shape.window, end: end,
                    psi: PopulationStability.index(reference: referenceProportions, current: current)))
            end += shape.step
        }
        #expect(!expected.isEmpty)
        #expect(fromGroup == expected)
        #expect(fromSingle == expected)
    }

    @Test("A group snapshot taken mid-block continues identically; counts that do not add up are refused by key", arguments: shapes)
    func snapshotMidBlock(shape: (window: Int, step: Int)) throws {
        let configuration = Self.configuration(shape)
        var group = try RollingPSIGroup(features: 3, configuration: configuration)
        var random = SeededRandom(seed: 22)
        // The third feature is missing throughout the reference (NaN values, then NaN edges), and infinite once.
        let rows = (0..<300).map { index in
            [random.nextGaussian(), index == 10 || index == 90 ? .infinity : random.nextUnitDouble(), index < 40 ? .nan : Double(random.next() % 3)]
        }
        // A snapshot during the reference, one after it; each continues as the detector that was never stopped.
        for row in rows.prefix(20) { row.withUnsafeBufferPointer { group.observe($0) { _, _ in } } }
        var early = try JSONDecoder().decode(RollingPSIGroup.self, from: JSONEncoder().encode(group))
        for row in rows[20..<137] {
            row.withUnsafeBufferPointer { buffer in
                group.observe(buffer) { _, _ in }
                early.observe(buffer) { _, _ in }
            }
        }
        let data = try JSONEncoder().encode(group)
        var restored = try JSONDecoder().decode(RollingPSIGroup.self, from: data)
        var original: [PSIEvaluation] = []
        var continued: [PSIEvaluation] = []
        var fromEarly: [PSIEvaluation] = []
        for row in rows.dropFirst(137) {
            row.withUnsafeBufferPointer { buffer in
                group.observe(buffer) { original.append($1) }
                restored.observe(buffer) { continued.append($1) }
                early.observe(buffer) { fromEarly.append($1) }
            }
        }
        #expect(original == fromEarly)
        #expect(!original.isEmpty)
        #expect(original == continued)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(try encoder.encode(group) == encoder.encode(restored))

        // One count changed: refused, naming the key.
        var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        var window = object["window"] as! [String: Any]
        var counts = window["counts"] as! [Int]
        counts[1] += 1
        window["counts"] = counts
        object["window"] = window
        let tampered = try JSONSerialization.data(withJSONObject: object)
        #expect {
            _ = try JSONDecoder().decode(RollingPSIGroup.self, from: tampered)
        } throws: { error in
            "\(error)".contains("counts") && "\(error)".contains("do not add up")
        }
    }
}
