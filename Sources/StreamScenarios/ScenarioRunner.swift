import KafkaRuntime
import StreamPipeline
public import Foundation
public import Logging
import OnlineLearning
import Simulation
import StreamCore
import StreamKafka
import Synchronization

/// Runs a ``Scenario`` end to end through Kafka: for each agent and seed, a ``StreamRuntime`` job on its own
/// topics, fed by a driver (the fraud generator; a bandit testbed or an environment that waits for each answer),
/// then reads what the job wrote back (scores, alerts, the published policy) and judges the expectations.
public final class ScenarioRunner: Sendable {
    public struct Options: Sendable {
        /// Overrides the scenario's first seed.
        public var seed: UInt64?
        /// Overrides a stream scenario's event count (a shorter run of a long scenario).
        public var events: Int?
        /// Where runs keep their snapshots (a temporary directory, removed afterwards, when `nil`).
        public var workDirectory: URL?
        /// Called from the driving threads with the progress of the whole scenario.
        public var progress: @Sendable (ScenarioProgress) -> Void = { _ in }

        public init() {}
    }

    public let scenario: Scenario
    public let options: Options
    let logger: Logger

    public init(scenario: Scenario, options: Options = Options(), logger: Logger) {
        self.scenario = scenario
        self.options = options
        self.logger = logger
    }

    /// The seeds the runs use.
    public var seeds: [UInt64] {
        let first = options.seed ?? scenario.seed
        return (0..<UInt64(scenario.seeds)).map { first &+ $0 }
    }

    /// The work a run does over all agents and seeds (events scored, pulls, episodes), for a progress display.
    public var plannedWork: (total: Int, unit: String) {
        (scenario.agents.count * seeds.count * Self.work(effectiveSource), Self.unit(effectiveSource))
    }

    private var effectiveSource: Scenario.Source {
        if case .fraud(var fraud) = scenario.source, let events = options.events {
            fraud.events = events
            return .fraud(fraud)
        }
        return scenario.source
    }

    /// Runs every agent on every seed and judges the expectations. Throws when a run cannot run (a broker that
    /// cannot be reached, a job that stops with an error); expectations that fail are in the result.
    public func run() async throws -> ScenarioResult {
        let started = ContinuousClock.now
        let source = effectiveSource
        let work = options.workDirectory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("streamlearn-scenario-\(scenario.name)-\(UUID().uuidString)")
        defer { if options.workDirectory == nil { try? FileManager.default.removeItem(at: work) } }

        var embedded: EmbeddedBroker?
        let brokers: String
        if let external = scenario.brokers {
            brokers = external
        } else {
            do {
                embedded = try EmbeddedBroker(topics: [], logger: logger)
            } catch {
                throw RuntimeError(.kafka, "cannot start the embedded broker: \(error)")
            }
            brokers = embedded!.bootstrapServers
        }
        defer { embedded?.close() }

        let units = scenario.agents.flatMap { agent in seeds.map { (agent, $0) } }
        let tracker = ProgressTracker(total: units.count * Self.work(source), unit: Self.unit(source), report: options.progress)
        // Stream jobs are CPU-bound: one at a time. Closed loops wait on round trips: several at once.
        let width = if case .fraud = source { 1 } else { min(units.count, 5) }
        let runID = String(UUID().uuidString.prefix(8)).lowercased()
        let broker = embedded
        let tag = scenario.brokers == nil ? "" : ".\(runID)"
        // Each run blocks (its job's loop, a driver waiting for answers): it gets a thread of its own, and this
        // task waits for it without holding a thread of the concurrency pool.
        let runs = try await withThrowingTaskGroup(of: (Int, ScenarioResult.Run).self) { group in
            var runs = [ScenarioResult.Run?](repeating: nil, count: units.count)
            var next = 0
            func start() {
                let index = next
                let (agent, seed) = units[index]
                next += 1
                let unit = Unit(
                    scenario: scenario, source: source, agent: agent, seed: seed, brokers: brokers, broker: broker,
                    directory: work.appendingPathComponent("\(agent.name)-s\(seed)"), tag: tag, tracker: tracker,
                    logger: logger)
                group.addTask { (index, try await runOnDedicatedThread(name: "scenario-run") { try unit.run() }) }
            }
            while next < min(width, units.count) { start() }
            while let (index, run) = try await group.next() {
                runs[index] = run
                if next < units.count { start() }
            }
            return runs.map { $0! }
        }

        var result = ScenarioResult(
            scenario: scenario.name, description: scenario.description, kind: Self.kind(source), seeds: seeds,
            agents: scenario.agents.map(\.name), runs: runs, window: Self.window(scenario, source))
        switch source {
        case .fraud(let fraud): result.driftPoints = fraud.drifts.map(\.at)
        case .bandit(let bandit): result.shifts = bandit.shifts
        case .environment: break
        }
        result.verdicts = scenario.expectations.map { $0.judge(result) }
        result.seconds = (ContinuousClock.now - started).seconds
        return result
    }

    static func kind(_ source: Scenario.Source) -> ScenarioResult.Kind {
        switch source {
        case .fraud: .fraud
        case .bandit: .bandit
        case .environment: .environment
        }
    }

    static func work(_ source: Scenario.Source) -> Int {
        switch source {
        case .fraud(let fraud): fraud.events
        case .bandit(let bandit): bandit.pulls
        case .environment(let environment): environment.episodes
        }
    }

    static func unit(_ source: Scenario.Source) -> String {
        switch source {
        case .fraud: "events"
        case .bandit: "pulls"
        case .environment: "episodes"
        }
    }

    /// The report's window: events per quality point, pulls per regret point, episodes of the moving average.
    static func window(_ scenario: Scenario, _ source: Scenario.Source) -> Int {
        if let window = scenario.report.window { return window }
        switch source {
        case .fraud(let fraud): return max(min(2_000, fraud.events / 10), 10)
        case .bandit(let bandit): return max(bandit.pulls / 100, 1)
        case .environment(let environment): return max(environment.episodes / 50, 10)
        }
    }
}

/// How far a scenario has come: work done over all runs (events scored, pulls, episodes).
public struct ScenarioProgress: Sendable {
    public var done: Int
    public var total: Int
    public var unit: String
}

/// Sums the progress of runs on several threads.
final class ProgressTracker: Sendable {
    private let done = Mutex(0)
    let total: Int
    let unit: String
    private let report: @Sendable (ScenarioProgress) -> Void

    init(total: Int, unit: String, report: @escaping @Sendable (ScenarioProgress) -> Void) {
        self.total = total
        self.unit = unit
        self.report = report
    }

    func advance(_ amount: Int) {
        guard amount > 0 else { return }
        let now = done.withLock {
            $0 += amount
            return $0
        }
        report(ScenarioProgress(done: now, total: total, unit: unit))
    }
}

