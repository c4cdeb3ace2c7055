import StreamJobs
import OnlineLearning
public import KafkaRuntime
import Foundation
public import Simulation
internal import Yams

/// A runnable proof in one file (`Scenarios/*.yaml`, documented in `Scenarios/README.md`): a stream or an
/// environment from `Simulation`, one or several jobs of `streamlearn run` (the agents), the seeds to run them
/// over, and what must hold afterwards. ``ScenarioRunner`` runs it end to end through Kafka.
public struct Scenario: Sendable {
    /// Where the job's input comes from.
    public enum Source: Sendable {
        case fraud(Fraud)
        case bandit(Bandit)
        case environment(Environment)
    }

    /// A card-fraud stream produced to the events topic: ``FraudStreamGenerator``'s (`generator: fraud`), or raw
    /// transactions from ``CardNetworkGenerator`` (`generator: card-network`, labels days late in event time).
    public struct Fraud: Sendable, Hashable {
        public enum Generator: Sendable, Hashable {
            case fraud
            case cardNetwork(cards: Int, merchants: Int, days: Int)
        }
        public var generator = Generator.fraud
        public var events = 20_000
        /// The drifts, in order (the generator's phases).
        public var drifts: [FraudStreamGenerator.Phase] = []
        /// Positions by which labels trail their events (0: inline in the event).
        public var labelDelay = 0
        /// Labels on a labels topic of their own (`true`), or as label lines in the events topic.
        public var labelsTopic = true
    }

    /// A bandit testbed played through decision requests and rewards.
    public struct Bandit: Sendable, Hashable {
        public enum Testbed: String, Sendable, CaseIterable {
            /// Bernoulli arms with means uniform in [0, 1), re-drawn at each of `shifts`.
            case bernoulli
            /// A linear contextual bandit: reward = θₐ·x + noise, `dimension` context features.
            case contextual
        }
        public var testbed: Testbed = .bernoulli
        public var arms = 10
        public var pulls = 10_000
        public var shifts: [Int] = []
        public var dimension = 8
        /// Decisions requested before their rewards are sent (rewards arrive a batch late, as in production).
        public var batch = 50
    }

    /// A Gymnasium-faithful environment, its episodes played through action requests and transitions.
    public struct Environment: Sendable, Hashable {
        public enum Name: String, Sendable, CaseIterable {
            case frozenlake, taxi, cliffwalking
            /// Your own, from a dynamics file (`file`).
            case mdp
            case blackjack
            /// Continuous observations (the job needs `model.observations`).
            case mountaincar, cartpole
        }
        public var name: Name
        /// The dynamics file of `mdp` (Gymnasium's P-table shape, ``TransitionTable/init(gymnasiumJSON:)``).
        public var file: String?
        public var map: String = "4x4"
        /// FrozenLake's slippery ice (default true), or CliffWalking's `is_slippery` (default false).
        public var slippery = true
        /// Taxi's `is_rainy`.
        public var rainy = false
        /// Taxi's `fickle_passenger`.
        public var ficklePassenger = false
        /// Blackjack's `sab` (default true, as `gym.make` sets it) and `natural`.
        public var sab = true
        public var natural = false
        public var episodes = 1_000
        /// Environments stepped side by side, each round one request per environment (the round trip through
        /// Kafka is paid once per round).
        public var parallel = 50
        /// Greedy episodes played with the policy the job published at the end.
        public var evaluationEpisodes = 1_000

        /// A fresh environment (resets are seeded by the runner).
        func make() throws(SimulationError) -> DrivenEnvironment {
            switch name {
            case .frozenlake:
                return .tabular(try Environments.frozenLake(map: Environments.frozenLakeMap(map), slippery: slippery))
            case .taxi: return .tabular(ficklePassenger ? FickleTaxi(rainy: rainy) : Environments.taxi(rainy: rainy))
            case .blackjack: return .tabular(Blackjack(natural: natural, sab: sab))
            case .cliffwalking: return .tabular(Environments.cliffWalking(slippery: slippery))
            case .mdp: return .tabular(try TabularEnvironment.load(dynamicsFile: file ?? ""))
            case .mountaincar: return .continuous(MountainCar())
            case .cartpole: return .continuous(CartPole())
            }
        }
    }

    /// One job: a named `streamlearn run` configuration whose topics, name and snapshot directory the runner
    /// sets, and whose model seed follows the run's seed.
    public struct Agent: Sendable {
        public var name: String
        public var configuration: RuntimeConfiguration
    }

    /// What the report draws.
    public struct Report: Sendable, Hashable {
        /// Events per window of the quality charts (default 2,000), pulls per point of the regret chart (default
        /// 1% of the pulls), or episodes of the returns' moving average (default 2% of the episodes).
        public var window: Int?
    }

    public var name: String
    public var description: String = ""
    public var seed: UInt64 = 1
    /// Runs per agent, seeds `seed`, `seed + 1`, …
    public var seeds = 1
    /// `nil`: an embedded broker in this process; otherwise a bootstrap list.
    public var brokers: String?
    public var source: Source
    public var agents: [Agent]
    public var expectations: [Expectation]
    public var report = Report()

    /// Reads a scenario file; errors name the file and the key's path.
    public static func load(file: String) throws(ConfigurationError) -> Scenario {
        try ConfigTable.load(file: file, parse: parse(yaml:))
    }

    /// Reads a scenario from YAML text.
    public static func parse(yaml: String) throws(ConfigurationError) -> Scenario {
        let root = try ConfigTable.parse(yaml: yaml)
        let name = try root.requiredString("name")
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_".contains($0) }) else {
            throw ConfigurationError(path: "name", reason: "may hold letters, digits, '-' and '_' only, got '\(name)'")
        }
        let description = try root.string("description") ?? ""
        let seed = UInt64(try root.int("seed", min: 0) ?? 1)
        let seeds = try root.int("seeds", min: 1, max: 100) ?? 1
        let broker = try root.string("broker") ?? "embedded"

        let kinds = ["stream", "bandit", "environment"].filter(root.has)
        guard kinds.count == 1 else {
            throw ConfigurationError(
                path: kinds.count > 1 ? kinds[1] : "",
                reason: kinds.isEmpty ? "one of 'stream', 'bandit' or 'environment' is required" : "only one of 'stream', 'bandit' or 'environment' may be given")
        }
        let source: Source
        let job: JobKind
        switch kinds[0] {
        case "stream":
            source = .fraud(try readFraud(try root.table("stream")))
            job = .scoring
        case "bandit":
            source = .bandit(try readBandit(try root.table("bandit")))
            job = .bandit
        default:
            source = .environment(try readEnvironment(try root.table("environment")))
            job = .reinforcement
        }

        var agents: [Agent] = []
        if let single = root.rawNode("job") {
            agents.append(Agent(name: name, configuration: try agentConfiguration(single, job: job, name: name, path: "job")))
        }
        if let list = root.rawNode("agents") {
            guard case .sequence(let items) = list, !items.isEmpty else {
                throw ConfigurationError(path: "agents", reason: "must be a non-empty list of {name, job}")
            }
            for (index, item) in items.enumerated() {
                let table = try ConfigTable(item, path: "agents[\(index)]")
                let agentName = try table.requiredString("name")
                guard agentName.allSatisfy({ $0.isLetter || $0.isNumber || "-_".contains($0) }) else {
                    throw ConfigurationError(path: table.keyPath("name"), reason: "may hold letters, digits, '-' and '_' only, got '\(agentName)'")
                }
                guard !agents.contains(where: { $0.name == agentName }) else {
                    throw ConfigurationError(path: table.keyPath("name"), reason: "'\(agentName)' names two agents")
                }
                let node = table.rawNode("job") ?? .mapping(.init([]))
                agents.append(Agent(
                    name: agentName,
                    configuration: try agentConfiguration(node, job: job, name: agentName, path: table.keyPath("job"))))
                try table.finish()
            }
        }
        if agents.isEmpty {
            agents.append(Agent(name: name, configuration: try agentConfiguration(.mapping(.init([])), job: job, name: name, path: "job")))
        } else if root.has("job") && root.has("agents") {
            throw ConfigurationError(path: "agents", reason: "give either 'job' (one agent) or 'agents', not both")
        }

        var expectations: [Expectation] = []
        if let list = root.rawNode("expect") {
            guard case .sequence(let items) = list else {
                throw ConfigurationError(path: "expect", reason: "must be a list of expectations")
            }
            for (index, item) in items.enumerated() {
                expectations.append(
                    try Expectation.read(item, path: "expect[\(index)]", agents: agents.map(\.name), job: job))
            }
        }

        try checkSizes(source: source, agents: agents, path: root.has("agents") ? "agents" : "job")
        for (index, expectation) in expectations.enumerated() {
            if case .beats = expectation.check, seeds < 2 {
                throw ConfigurationError(
                    path: "expect[\(index)].beats",
                    reason: "needs seeds: 2 or more (it is decided by a test on the difference over seeds; one seed has no spread)")
            }
            if case .figure(_, _, _, _, let pulls?) = expectation.check, case .bandit(let bandit) = source,
                pulls > bandit.pulls
            {
                throw ConfigurationError(
                    path: "expect[\(index)].regret.pulls",
                    reason: "is \(pulls), past the scenario's \(bandit.pulls) pulls (bandit.pulls)")
            }
        }

        var report = Report()
        let reportTable = try root.table("report")
        report.window = try reportTable.int("window", min: 10) ?? report.window
        try reportTable.finish()
        try root.finish()

        return Scenario(
            name: name, description: description, seed: seed, seeds: seeds, brokers: broker == "embedded" ? nil : broker,
            source: source, agents: agents, expectations: expectations, report: report)
    }

    /// Each agent's model against the environment or testbed it plays, before anything runs: the job must have the
    /// environment's states and actions, the testbed's arms, and (LinUCB) the contextual testbed's dimension.
    /// `path`: `job` for a single agent, `agents` for a list.
    private static func checkSizes(source: Source, agents: [Agent], path: String) throws(ConfigurationError) {
        for (index, agent) in agents.enumerated() {
            let model = path == "agents" ? "agents[\(index)].job.model" : "job.model"
            switch (source, agent.configuration.job) {
            case (.environment(let settings), .reinforcement(let job)):
                let driven: DrivenEnvironment
                do {
                    driven = try settings.make()
                } catch {
                    throw ConfigurationError(path: "environment", reason: "\(error)")
                }
                let name =
                    switch settings.name {
                    case .frozenlake: "frozenlake \(settings.map)"
                    case .mdp: "mdp \(settings.file ?? "")"
                    default: settings.name.rawValue
                    }
                let actions: Int
                switch driven {
                case .tabular(let environment):
                    if job.observations != nil {
                        throw ConfigurationError(
                            path: "\(model).observations", reason: "the environment (\(name)) has states, not continuous observations")
                    }
                    if job.states != environment.stateCount {
                        throw ConfigurationError(
                            path: "\(model).states",
                            reason: "is \(job.states), the environment (\(name)) has \(environment.stateCount) states")
                    }
                    actions = environment.actionCount
                case .continuous(let environment):
                    guard let coder = job.observations else {
                        throw ConfigurationError(
                            path: "\(model).observations",
                            reason: "is required: the environment (\(name)) has continuous observations (observations: \(name))")
                    }
                    if coder.dimensions != environment.observationSize {
                        throw ConfigurationError(
                            path: "\(model).observations",
                            reason: "has \(coder.dimensions) values, the environment (\(name)) observes \(environment.observationSize)")
                    }
                    actions = environment.actionCount
                }
                if job.actions != actions {
                    throw ConfigurationError(
                        path: "\(model).actions", reason: "is \(job.actions), the environment (\(name)) has \(actions) actions")
                }
            case (.bandit(let bandit), .bandit(let job)):
                if job.policy.arms != bandit.arms {
                    throw ConfigurationError(
                        path: "\(model).arms", reason: "is \(job.policy.arms), the testbed has \(bandit.arms) arms (bandit.arms)")
                }
                if job.policy.policy == .linucb {
                    guard bandit.testbed == .contextual else {
                        throw ConfigurationError(
                            path: "\(model).policy",
                            reason: "linucb needs contexts: the bernoulli testbed sends none (bandit.testbed: contextual)")
                    }
                    if job.policy.dimension != bandit.dimension {
                        throw ConfigurationError(
                            path: "\(model).dimension",
                            reason: "is \(job.policy.dimension), the testbed's contexts have \(bandit.dimension) values (bandit.dimension)")
                    }
                }
            default:
                break
            }
        }
    }

    /// The keys the runner sets in every job.
    static let runnerKeys = ["job", "name", "topics", "kafka"]

    /// A job section as a run configuration: the runner's keys added, parsed (and so checked) as `streamlearn
    /// run` would, with errors under `path`.
    private static func agentConfiguration(
        _ node: Node, job: JobKind, name: String, path: String
    ) throws(ConfigurationError) -> RuntimeConfiguration {
        guard case .mapping(var mapping) = node else {
            throw ConfigurationError(path: path, reason: "must be a mapping (a `streamlearn run` configuration)")
        }
        for key in runnerKeys where mapping[Node(key)] != nil {
            throw ConfigurationError(path: "\(path).\(key)", reason: "is set by the scenario runner")
        }
        mapping[Node("job")] = Node(job.rawValue)
        mapping[Node("name")] = Node(name)
        let topics: [String: String] =
            switch job {
            case .scoring: ["events": "e", "labels": "l", "scores": "s", "alerts": "a", "dead_letter": "d"]
            case .bandit: ["requests": "r", "rewards": "r", "decisions": "o", "dead_letter": "d"]
            case .reinforcement: ["requests": "r", "transitions": "r", "decisions": "o", "policy": "p", "dead_letter": "d"]
            }
        mapping[Node("topics")] = Node(topics.sorted { $0.key < $1.key }.map { (Node($0.key), Node($0.value)) })
        do {
            return try RuntimeConfiguration.parse(root: ConfigTable(.mapping(mapping), path: ""))
        } catch {
            var error = error
            error.path = error.path.isEmpty ? path : "\(path).\(error.path)"
            throw error
        }
    }

    private static func readFraud(_ table: ConfigTable) throws(ConfigurationError) -> Fraud {
        var fraud = Fraud()
        let generator = try table.string("generator") ?? "fraud"
        switch generator {
        case "fraud": break
        case "card-network":
            let defaults = CardNetworkGenerator.Configuration()
            fraud.generator = .cardNetwork(
                cards: try table.int("cards", min: 1, max: 10_000_000) ?? defaults.cards,
                merchants: try table.int("merchants", min: 1, max: 10_000_000) ?? defaults.merchants,
                days: try table.int("days", min: 1, max: 3_650) ?? defaults.days)
            for key in ["drift", "label_delay"] where table.has(key) {
                throw ConfigurationError(
                    path: table.keyPath(key), reason: "does not apply to card-network (its labels come days late in event time)")
            }
        default:
            throw ConfigurationError(path: table.keyPath("generator"), reason: "must be 'fraud' or 'card-network', got '\(generator)'")
        }
        fraud.events = try table.int("events", min: 100, max: 100_000_000) ?? fraud.events
        for (index, phase) in try table.list("drift").enumerated() {
            guard let at = try phase.int("at", min: 0) else {
                throw ConfigurationError(path: phase.keyPath("at"), reason: "is required (the first drifted event's index)")
            }
            let kind = try phase.choice("kind", FraudStreamGenerator.Drift.self) ?? .both
            let width = try phase.int("width", min: 0) ?? 0
            if let previous = fraud.drifts.last, at < previous.at {
                throw ConfigurationError(path: phase.keyPath("at"), reason: "must not come before drift[\(index - 1)] (\(previous.at)), got \(at)")
            }
            try phase.finish()
            fraud.drifts.append(.init(at: at, kind: kind, width: width))
        }
        fraud.labelDelay = try table.int("label_delay", min: 0) ?? 0
        switch try table.string("labels") ?? "topic" {
        case "topic": fraud.labelsTopic = true
        case "inline": fraud.labelsTopic = false
        case let other:
            throw ConfigurationError(path: table.keyPath("labels"), reason: "must be 'topic' or 'inline', got '\(other)'")
        }
        try table.finish()
        return fraud
    }

    private static func readBandit(_ table: ConfigTable) throws(ConfigurationError) -> Bandit {
        var bandit = Bandit()
        bandit.testbed = try table.choice("testbed", Bandit.Testbed.self) ?? .bernoulli
        bandit.arms = try table.int("arms", min: 2, max: 1_000) ?? bandit.arms
        bandit.pulls = try table.int("pulls", min: 1, max: 10_000_000) ?? bandit.pulls
        bandit.shifts = try table.ints("shifts", min: 1) ?? []
        if let late = bandit.shifts.firstIndex(where: { $0 > bandit.pulls }) {
            throw ConfigurationError(
                path: table.keyPath("shifts[\(late)]"),
                reason: "is \(bandit.shifts[late]), past the last pull (\(bandit.pulls)): it would never happen")
        }
        if !bandit.shifts.isEmpty && bandit.testbed == .contextual {
            throw ConfigurationError(path: table.keyPath("shifts"), reason: "applies to the bernoulli testbed only")
        }
        bandit.dimension = try table.int("dimension", min: 1, max: 100) ?? bandit.dimension
        if table.has("dimension") && bandit.testbed != .contextual {
            throw ConfigurationError(path: table.keyPath("dimension"), reason: "applies to the contextual testbed only")
        }
        bandit.batch = try table.int("batch", min: 1, max: 10_000) ?? bandit.batch
        try table.finish()
        return bandit
    }

    private static func readEnvironment(_ table: ConfigTable) throws(ConfigurationError) -> Environment {
        guard let name = try table.choice("name", Environment.Name.self) else {
            throw ConfigurationError(path: table.keyPath("name"), reason: "is required (frozenlake, taxi, cliffwalking, mdp, blackjack, mountaincar or cartpole)")
        }
        var environment = Environment(name: name)
        environment.file = try table.string("file")
        if (name == .mdp) != (environment.file != nil) {
            throw ConfigurationError(
                path: table.keyPath("file"), reason: name == .mdp ? "is required (the dynamics file of name: mdp)" : "applies to name: mdp only")
        }
        environment.map = try table.string("map") ?? "4x4"
        if table.has("slippery") && name != .frozenlake && name != .cliffwalking {
            throw ConfigurationError(path: table.keyPath("slippery"), reason: "applies to frozenlake and cliffwalking only")
        }
        environment.slippery = try table.bool("slippery") ?? (name == .frozenlake)
        if table.has("rainy") && name != .taxi {
            throw ConfigurationError(path: table.keyPath("rainy"), reason: "applies to taxi only")
        }
        environment.rainy = try table.bool("rainy") ?? false
        if table.has("fickle_passenger") && name != .taxi {
            throw ConfigurationError(path: table.keyPath("fickle_passenger"), reason: "applies to taxi only")
        }
        environment.ficklePassenger = try table.bool("fickle_passenger") ?? false
        for key in ["sab", "natural"] where table.has(key) && name != .blackjack {
            throw ConfigurationError(path: table.keyPath(key), reason: "applies to blackjack only")
        }
        environment.sab = try table.bool("sab") ?? true
        environment.natural = try table.bool("natural") ?? false
        if environment.natural && environment.sab {
            throw ConfigurationError(path: table.keyPath("natural"), reason: "applies with sab: false (Sutton and Barto's rules pay a natural +1)")
        }
        environment.episodes = try table.int("episodes", min: 1, max: 10_000_000) ?? environment.episodes
        environment.parallel = try table.int("parallel", min: 1, max: 10_000) ?? environment.parallel
        environment.evaluationEpisodes = try table.int("evaluation_episodes", min: 1) ?? environment.evaluationEpisodes
        do {
            _ = try environment.make()
        } catch {
            throw ConfigurationError(path: table.keyPath(name == .mdp ? "file" : "map"), reason: "\(error)")
        }
        try table.finish()
        return environment
    }
}
