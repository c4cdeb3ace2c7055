import StreamPipeline
import ArgumentParser
import DriftDetection
import Foundation
import OnlineLearning
import Simulation
import StreamCore

struct BenchLearn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Predict + learn throughput of every learner on one core; report events/s (best of 3 passes).",
        discussion: """
            Logistic regression on 20 dense features (pre-vectorised, copied into a reused vector per event; on \
            unit scale, or unscaled with online standardisation) and on 20 hashed features, per optimizer; progressive metrics \
            alone; the whole `learn` path from JSON bytes (decode + vectorize + predict + learn + metrics); bandit \
            select + update on a 10-armed Bernoulli bandit; tabular Q-learning updates; FrozenLake + Q-learning \
            steps (environment and agent together).

            Examples:
              make bench-learn
              streamlearn-bench learn --events 200000 --json
            """
    )

    @Option(help: "Events per pass.")
    var events: Int = 1_000_000

    @Option(help: "Measure only the rows whose name contains this text (for profiling one path).")
    var only: String?

    @Flag(help: "Print one JSON object.")
    var json = false

    /// Whether the row `name` is measured this run.
    func selected(_ name: String) -> Bool { only.map { name.contains($0) } ?? true }

    func validate() throws {
        guard events >= 1_000 else { throw ValidationError("--events must be at least 1000, got \(events)") }
    }

    /// The best of three timed passes of `body`, as events per second.
    func rate(_ count: Int, _ body: () throws -> Void) rethrows -> Double {
        try bestRate(of: count, passes: 3, body)
    }

    func run() async throws {
        let featureCount = 20
        var generator = LogisticStreamGenerator(seed: 1, features: featureCount)
        var denseValues = [Double]()
        denseValues.reserveCapacity(events * featureCount)
        var labels = [Bool]()
        labels.reserveCapacity(events)
        var payload = [UInt8]()
        var bounds = [Range<Int>]()
        for _ in 0..<events {
            let (json, _, label) = generator.next()
            let start = payload.count
            payload.append(contentsOf: json.utf8)
            bounds.append(start..<payload.count)
            labels.append(label)
        }
        // The dense values, decoded once outside the timing.
        let decoder = EventDecoder()
        let event = DecodedEvent()
        try payload.withUnsafeBytes { bytes in
            for range in bounds {
                try decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[range]), into: event)
                for feature in event.numeric.prefix(featureCount) { denseValues.append(feature.value) }
            }
        }
        // The rows without online standardisation get the same values put on unit scale with the generator's
        // known means and scales, as a user feeding scaled features would: fed the raw values (scales up to 1,000),
        // plain SGD diverges and the timing would measure `exp` overflowing instead of learning.
        var scaledValues = denseValues
        for index in scaledValues.indices {
            let feature = index % featureCount
            scaledValues[index] = (scaledValues[index] - generator.means[feature]) / generator.scales[feature]
        }
        var random = SeededRandom(seed: 2)
        let hashedIndices = (0..<events * featureCount).map { _ in UInt32(truncatingIfNeeded: random.next()) & 0xF_FFFF }

        var results: [(name: String, rate: Double)] = []
        /// Runs and records `body` as row `name` when selected.
        func measure(_ name: String, _ body: () throws -> Void) rethrows {
            guard selected(name) else { return }
            results.append((name, try rate(events, body)))
        }
        var checksum = 0.0
        let optimizers: [Optimizer] = [.defaultSGD, .defaultAdaGrad, .defaultFTRL]
        for standardize in [false, true] {
            for optimizer in optimizers {
                var configuration = LogisticRegressionConfiguration()
                configuration.optimizer = optimizer
                configuration.standardize = standardize
                var model = try LogisticRegression(configuration: configuration)
                try measure("logreg \(optimizer.name), 20 dense\(standardize ? ", standardised" : "")") {
                    // The vector is local to the pass: captured from outside, it would be copied (three retains
                    // and releases) for every call. The row goes in with one block copy, as a decoder's would.
                    var vector = FeatureVector()
                    vector.dense = Array(repeating: 0, count: featureCount)
                    try (standardize ? denseValues : scaledValues).withUnsafeBufferPointer { values in
                        for index in 0..<events {
                            vector.dense.withUnsafeMutableBufferPointer { dense in
                                dense.baseAddress!.update(from: values.baseAddress! + index * featureCount, count: featureCount)
                            }
                            checksum += try model.predictThenLearn(vector, label: labels[index])
                        }
                    }
                }
            }
        }
        for optimizer in optimizers {
            var configuration = LogisticRegressionConfiguration()
            configuration.optimizer = optimizer
            var model = try LogisticRegression(configuration: configuration)
            try measure("logreg \(optimizer.name), 20 hashed") {
                var vector = FeatureVector()
                vector.hashedIndices = Array(repeating: 0, count: featureCount)
                vector.hashedValues = Array(repeating: 1, count: featureCount)
                try hashedIndices.withUnsafeBufferPointer { indices in
                    for index in 0..<events {
                        vector.hashedIndices.withUnsafeMutableBufferPointer { hashed in
                            hashed.baseAddress!.update(from: indices.baseAddress! + index * featureCount, count: featureCount)
                        }
                        checksum += try model.predictThenLearn(vector, label: labels[index])
                    }
                }
            }
        }

        // Progressive metrics alone (cumulative exact ROC-AUC + a 1,000-event rolling window).
        var metrics = ProgressiveMetrics()
        var scores = [Double]()
        scores.reserveCapacity(events)
        for _ in 0..<events { scores.append(random.nextUnitDouble()) }
        measure("progressive metrics (cumulative + rolling)") {
            for index in 0..<events { metrics.update(probability: scores[index], label: labels[index]) }
        }
        checksum += metrics.cumulative.rocAUC ?? 0
        var cumulativeOnly = BinaryClassificationMetrics()
        measure("metrics: cumulative only (fixed memory)") {
            for index in 0..<events { cumulativeOnly.update(probability: scores[index], label: labels[index]) }
        }
        var rollingOnly = RollingBinaryClassificationMetrics()
        measure("metrics: rolling only (window 1,000)") {
            for index in 0..<events { rollingOnly.update(probability: scores[index], label: labels[index]) }
        }
        var exactOnly = BinaryClassificationMetrics(exactROCAUC: true)
        measure("metrics: cumulative only (exact)") {
            for index in 0..<events { exactOnly.update(probability: scores[index], label: labels[index]) }
        }
        checksum += (cumulativeOnly.rocAUC ?? 0) + (exactOnly.rocAUC ?? 0) + (rollingOnly.rocAUC.value ?? 0)

        // The `learn` command's path from bytes, and its parts.
        try measure("learn path: decode only") {
            try payload.withUnsafeBytes { bytes in
                for range in bounds {
                    try decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[range]), into: event)
                    checksum += event.numeric[0].value
                }
            }
        }
        var vectorizer = FeatureVectorizer()
        var vector = FeatureVector()
        try measure("learn path: decode + vectorize") {
            try payload.withUnsafeBytes { bytes in
                for range in bounds {
                    try decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[range]), into: event)
                    vectorizer.vectorize(event, into: &vector)
                    checksum += vector.dense[0]
                }
            }
        }
        // The learn path alone and watched by rolling PSI over its 20 dense inputs (as `learn --input-psi-window`,
        // default reference, window and step). Two classifiers take the same events in alternating chunks of 10,000
        // (which goes first alternates too), so the VM's drift in speed, which moves whole seconds, lands on both
        // sides alike; the overhead is the median of the chunks' watched / plain time ratios over 3 passes. The
        // detectors persist across passes, as in a long run: their one-off reference (the first 10,000 events) is
        // behind them after the first.
        // The watch is the one `learn --input-psi-window` keeps, called as `learn` calls it, passed in rather than
        // captured (a captured variable would be boxed and checked for exclusive access on every event).
        var inputs: InputWatch? = try InputWatch(names: (0..<featureCount).map { "x\($0)" }, window: 10_000)
        func learnChunk(
            _ chunk: ArraySlice<Range<Int>>, _ classifier: inout ProgressiveClassifier, watch: inout InputWatch?
        ) throws -> Double {
            var sum = 0.0
            try payload.withUnsafeBytes { bytes in
                for range in chunk {
                    try decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[range]), into: event)
                    sum += try classifier.process(event)
                    if watch != nil {
                        let due = classifier.withLastDenseValues(updating: &watch) { row, inputs in inputs!.observe(row) }
                        for (_, evaluation, _) in due { sum += evaluation.psi }
                    }
                }
            }
            return sum
        }
        var bestPlain = Duration.seconds(1_000_000)
        var bestWatched = Duration.seconds(1_000_000)
        var chunkRatios: [Double] = []
        let learnPathName = "learn path: decode + vectorize + learn + cumulative metrics"
        let chunkLength = 10_000
        for _ in 0..<(selected(learnPathName) ? 3 : 0) {
            var plain = try ProgressiveClassifier(window: nil)
            var watched = try ProgressiveClassifier(window: nil)
            var plainTime = Duration.zero
            var watchedTime = Duration.zero
            for (number, start) in stride(from: 0, to: events, by: chunkLength).enumerated() {
                let chunk = bounds[start..<min(start + chunkLength, events)]
                var times = (plain: Duration.zero, watched: Duration.zero)
                for watchedTurn in number % 2 == 0 ? [false, true] : [true, false] {
                    let before = ContinuousClock.now
                    if watchedTurn {
                        checksum += try learnChunk(chunk, &watched, watch: &inputs)
                        times.watched = ContinuousClock.now - before
                    } else {
                        var none: InputWatch?
                        checksum += try learnChunk(chunk, &plain, watch: &none)
                        times.plain = ContinuousClock.now - before
                    }
                }
                plainTime += times.plain
                watchedTime += times.watched
                chunkRatios.append(times.watched.seconds / times.plain.seconds)
            }
            bestPlain = min(bestPlain, plainTime)
            bestWatched = min(bestWatched, watchedTime)
        }
        var psiOverhead: Double?
        if !chunkRatios.isEmpty {
            psiOverhead = (chunkRatios.sorted()[chunkRatios.count / 2] - 1) * 100
            results.append((learnPathName, Double(events) / bestPlain.seconds))
            results.append(("learn path + rolling PSI over the 20 inputs", Double(events) / bestWatched.seconds))
        }

        // The same path as `learn` runs it: lines decoded ahead on a second thread, learned on this one.
        try measure("learn path, decoded ahead on a second thread") {
            var classifier = try ProgressiveClassifier(window: nil)
            try payload.withUnsafeBytes { bytes in
                try DecodeAhead.run(decoder: decoder) { reader in
                    for (index, range) in bounds.enumerated() {
                        try reader.decode(index + 1, bytes: UnsafeRawBufferPointer(rebasing: bytes[range]))
                    }
                } consume: { _, event, rejection in
                    if rejection == nil { checksum += try classifier.process(event) }
                }
            }
        }

        // Bandits: select + update on a 10-armed Bernoulli bandit.
        let arms = 10
        let means = (0..<arms).map { 0.1 + 0.08 * Double($0) }
        func banditRate<Policy: BanditPolicy>(_ name: String, _ policy: Policy, context: BanditContext = .none) throws {
            var policy = policy
            var environment = SeededRandom(seed: 3)
            try measure("bandit \(name), select + update") {
                for _ in 0..<events {
                    let choice = policy.predict(context)
                    let reward: Double = environment.nextUnitDouble() < means[choice.arm] ? 1 : 0
                    try policy.learn(BanditFeedback(arm: choice.arm, reward: reward, context: context))
                }
            }
        }
        try banditRate("epsilon-greedy", EpsilonGreedy(arms: arms, seed: 1))
        try banditRate("ucb1", UCB1(arms: arms))
        try banditRate("thompson (beta)", ThompsonSampling(arms: arms, seed: 1))
        try banditRate("exp3", EXP3(arms: arms, seed: 1))
        let context = BanditContext((0..<10).map { Double($0) / 10 })
        try banditRate("linucb (d = 10)", LinUCB(arms: arms, dimension: 10), context: context)

        // Tabular Q-learning updates over random transitions of a 64-state, 4-action table.
        var agent = try TabularAgent(states: 64, actions: 4, seed: 1)
        var transitions = [Transition]()
        for _ in 0..<events {
            let state = Int(random.next() % 64)
            transitions.append(
                Transition(
                    state: state, action: Int(random.next() % 4), reward: random.nextUnitDouble(),
                    nextState: Int(random.next() % 64), terminated: random.next() % 50 == 0))
        }
        try measure("q-learning update") {
            for transition in transitions { try agent.learn(transition) }
        }
        try measure("q-learning act + update") {
            for transition in transitions {
                let action = agent.predict(transition.state)
                var step = transition
                step.action = action
                try agent.learn(step)
            }
        }
        // Drift detectors: rolling PSI over the 20 dense features (values observed per feature), and rolling F1.
        var psiGroup = try RollingPSIGroup(features: featureCount)
        var psiChecksum = 0.0
        measure("drift: rolling PSI over 20 features (per event)") {
            denseValues.withUnsafeBufferPointer { values in
                for index in 0..<events {
                    let row = UnsafeBufferPointer(rebasing: values[(index * featureCount)..<((index + 1) * featureCount)])
                    psiGroup.observe(row) { _, evaluation in psiChecksum += evaluation.psi }
                }
            }
        }
        var f1Detector = try RollingF1()
        measure("drift: rolling F1") {
            for index in 0..<events {
                if let evaluation = f1Detector.observe(probability: scores[index], label: labels[index]) {
                    psiChecksum += evaluation.f1
                }
            }
        }
        checksum += psiChecksum

        // Environment + agent loop: tabular Q-learning on FrozenLake 4x4 (slippery), acting and learning.
        var lake = try Environments.frozenLake()
        var lakeAgent = try TabularAgent(
            states: 16, actions: 4, exploration: .linear(start: 1, end: 0.01, episodes: 10_000), seed: 1)
        var lakeSteps = 0
        var lakeBest = Duration.seconds(1_000_000)
        let lakeName = "frozenlake 4x4 + q-learning, env + agent steps"
        for pass in 0..<(selected(lakeName) ? 3 : 0) {
            let start = ContinuousClock.now
            let (_, steps) = try Training.train(&lakeAgent, in: &lake, episodes: max(events / 30, 100), seed: UInt64(pass + 1))
            lakeBest = min(lakeBest, ContinuousClock.now - start)
            lakeSteps = steps
        }
        if lakeSteps > 0 { results.append((lakeName, Double(lakeSteps) / lakeBest.seconds)) }
        precondition(checksum.isFinite)

        if json {
            var object: [String: Any] = ["events": events]
            if let psiOverhead { object["psi_overhead_percent"] = (psiOverhead * 10).rounded() / 10 }
            for (name, rate) in results { object[name] = rate.rounded() }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Output.line(String(decoding: data, as: UTF8.self))
        } else {
            Output.line("events per pass  \(events) (best of 3 passes, one core)")
            for (name, rate) in results {
                Output.line("\(name.padding(toLength: 52, withPad: " ", startingAt: 0)) \(Int(rate)) /s")
            }
            if let psiOverhead {
                Output.line(String(format: "rolling PSI over 20 inputs adds %.1f%% to the learn path's per-event time (median of its chunks)", psiOverhead))
            }
        }
    }
}
