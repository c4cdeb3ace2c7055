public import DequeModule
public import Foundation
public import OnlineLearning
public import StreamCore

/// The bandit job's whole state: the policy, the decisions waiting for their reward, and counts.
public struct BanditJobState: Snapshotable, Equatable {
    public static let snapshotKind = "bandit-job"
    public static let snapshotVersion = 1

    public struct Pending: Sendable, Codable, Equatable {
        public var id: String
        public var arm: Int
        public var context: [Double]
        public var arrival: Int
    }

    public var policy: AnyBanditPolicy
    public var pending: Deque<Pending> = []
    public var clock = 0
    public var decisions = 0
    public var rewarded = 0
    public var expired = 0
    public var expiredLearned = 0
    public var random: SeededRandom
}

/// Decision requests → an arm and its propensity; rewards joined by decision id are learned (a default reward
/// on expiry when configured, as decision services do).
///
/// A request: `{"id": "d1", "context": [0.2, 1.0], "arms": [0, 2]}` (`context` for LinUCB, `arms` optional: the
/// arms available this time). A reward: `{"id": "d1", "reward": 1.0}`. A decision:
/// `{"id":"d1","arm":2,"propensity":0.9,"model_version":17}`.
public final class BanditJob: StreamJob {
    @exclusivity(unchecked) public private(set) var state: BanditJobState
    @exclusivity(unchecked) private var index: [String: Int] = [:]  // id → position in `pending` + removed
    @exclusivity(unchecked) private var removed = 0
    private let configuration: JobConfiguration.Bandit
    private let context: JobContext
    @exclusivity(unchecked) private var writer = JSONWriter()

    /// A job over the state in `payload` (a snapshot's), or a fresh one.
    public init(_ configuration: JobConfiguration.Bandit, context: JobContext, payload: Data?) throws {
        self.configuration = configuration
        self.context = context
        if let payload {
            state = try Snapshot.decode(BanditJobState.self, from: payload)
        } else {
            state = BanditJobState(
                policy: try AnyBanditPolicy(configuration.policy), random: SeededRandom(seed: configuration.policy.seed ^ 0x5EED))
        }
        rebuildIndex()
    }

    private func rebuildIndex() {
        index = [:]
        removed = 0
        for (position, pending) in state.pending.enumerated() { index[pending.id] = position }
    }

    public func process(_ message: JobMessage, _ output: any JobOutput) throws -> DeadLetterReason? {
        let object: [String: Any]
        switch parseObject(message.value) {
        case .success(let parsed): object = parsed
        case .failure(let reason): return reason
        }
        guard let id = object["id"] as? String ?? (object["id"] as? NSNumber).map({ "\($0)" }), !id.isEmpty else {
            return DeadLetterReason(kind: "missing-id", stage: .process, message: "no 'id' (the decision id)")
        }
        let arms = configuration.policy.arms
        state.clock += 1
        let isRequest = context.sharesFeedbackTopic ? object["reward"] == nil : message.role == .requests
        if isRequest {
            var context: [Double] = []
            if let raw = object["context"] {
                guard let values = raw as? [Any], case let numbers = values.compactMap(jsonNumber), numbers.count == values.count
                else {
                    return DeadLetterReason(kind: "wrong-type", stage: .process, message: "'context' must be a list of numbers")
                }
                context = numbers
            }
            do {
                // Decided on now, learned when the reward comes: refused now if it could never be learned.
                try LearnableValue.check(context, "context")
            } catch {
                return DeadLetterReason(kind: "refused-values", stage: .process, message: "\(error)")
            }
            if case .linucb(let policy) = state.policy, context.count != policy.dimension {
                return DeadLetterReason(
                    kind: "wrong-context", stage: .process,
                    message: "'context' has \(context.count) values, model.dimension is \(policy.dimension)")
            }
            var available: [Int]?
            if let raw = object["arms"] {
                guard let values = raw as? [NSNumber], !values.isEmpty else {
                    return DeadLetterReason(kind: "wrong-type", stage: .process, message: "'arms' must be a non-empty list of arm numbers")
                }
                let list = values.map(\.intValue)
                if let bad = list.first(where: { !(0..<arms).contains($0) }) {
                    return DeadLetterReason(kind: "unknown-arm", stage: .process, message: "arm \(bad) is not within 0..<\(arms)")
                }
                available = list
            }
            if index[id] != nil {
                return DeadLetterReason(kind: "duplicate-event", stage: .process, message: "decision '\(id)' is already waiting for its reward")
            }
            var choice = state.policy.predict(BanditContext(context))
            var fallback = false
            if let available, !available.contains(choice.arm) {
                // The policy's arm is not offered: a uniform choice among those that are, with its propensity.
                choice = ArmChoice(arm: available[Int(state.random.next() % UInt64(available.count))], propensity: 1 / Double(available.count))
                fallback = true
            }
            state.decisions += 1
            expire()
            if state.pending.count >= configuration.join.capacity { expireOldest() }
            state.pending.append(.init(id: id, arm: choice.arm, context: context, arrival: state.clock))
            index[id] = state.pending.count - 1 + removed
            writer.reset()
            writer.raw("{\"id\":")
            writer.string(id)
            writer.raw(",\"arm\":")
            writer.int(choice.arm)
            writer.raw(",\"propensity\":")
            if let propensity = choice.propensity { writer.double(propensity) } else { writer.raw("null") }
            if fallback { writer.raw(",\"fallback\":true") }
            writer.raw(",\"model_version\":")
            writer.int(state.rewarded)
            writer.raw("}")
            var key = id
            try key.withUTF8 { keyBytes in
                try writer.bytes.withUnsafeBytes { try output.answer(key: UnsafeRawBufferPointer(keyBytes), value: $0) }
            }
            return nil
        }
        guard let reward = jsonNumber(object["reward"]) else {
            return DeadLetterReason(kind: "wrong-type", stage: .process, message: "'reward' must be a number")
        }
        expire()
        guard let position = index.removeValue(forKey: id) else {
            return DeadLetterReason(kind: "orphan-label", stage: .process, message: "no decision '\(id)' is waiting for a reward (never made, expired, or already rewarded)")
        }
        let pending = state.pending[position - removed]
        do {
            try state.policy.learn(BanditFeedback(arm: pending.arm, reward: reward, context: BanditContext(pending.context)))
        } catch {
            index[id] = position
            return DeadLetterReason(kind: "refused-values", stage: .process, message: "\(error)")
        }
        state.rewarded += 1
        // Marked done; dropped from the front when it gets there.
        state.pending[position - removed].arrival = -1
        compactFront()
        return nil
    }

    private func compactFront() {
        while let first = state.pending.first, first.arrival < 0 {
            state.pending.removeFirst()
            removed += 1
        }
    }

    private func expire() {
        let maxAge = configuration.join.maxAgeMessages ?? Int.max
        while let first = state.pending.first, first.arrival >= 0, state.clock - first.arrival > maxAge { expireOldest() }
        compactFront()
    }

    private func expireOldest() {
        compactFront()
        guard let first = state.pending.first else { return }
        index.removeValue(forKey: first.id)
        state.expired += 1
        if let reward = configuration.join.defaultReward,
            (try? state.policy.learn(BanditFeedback(arm: first.arm, reward: reward, context: BanditContext(first.context))))
                != nil
        {
            state.expiredLearned += 1
        }
        state.pending.removeFirst()
        removed += 1
    }

    public func captureState() -> JobState { JobState(state) }
    public func takeSnapshotRequest() -> SnapshotStore.Reason? { nil }
    public var waiting: Int { index.count }
    public var counters: [(String, Int)] {
        [("decisions", state.decisions), ("rewarded", state.rewarded), ("expired", state.expired),
         ("expired_learned", state.expiredLearned)]
    }
    public var alerts: Int { 0 }
    public var modelVersion: Int { state.rewarded }
}

/// The reinforcement job's whole state: a tabular agent or, with continuous observations, a linear one.
public struct ReinforcementJobState: Snapshotable, Equatable {
    public static let snapshotKind = "reinforcement-job"
    public static let snapshotVersion = 1
    /// The tabular agent (`nil` with continuous observations).
    public var agent: TabularAgent?
    /// The tile-coded agent of continuous observations (`nil` for a tabular job).
    public var linearAgent: TileCodedAgent?
    public var actions = 0
    public var updates = 0
    public var episodes = 0
}

/// Action requests (`{"episode": "e1", "state": 3}`) → an action on the decisions topic
/// (`{"episode":"e1","state":3,"action":1,"model_version":42}`: ε-greedy while learning, greedy with
/// `model.evaluation`), and transitions (`{"state":3,"action":1,"reward":0,"next_state":7,"terminated":false,
/// "truncated":false}`, `next_action` for SARSA) → TD updates. The greedy policy is published to the policy topic
/// at each snapshot. With `model.observations`, states are observation vectors: `"observation": [x, v]` in a
/// request (the answer has no `state`) and `"observation"`, `"next_observation"` in a transition.
public final class ReinforcementJob: StreamJob {
    @exclusivity(unchecked) public private(set) var state: ReinforcementJobState
    private let configuration: JobConfiguration.Reinforcement
    private let context: JobContext
    @exclusivity(unchecked) private var writer = JSONWriter()

    /// A job over the state in `payload` (a snapshot's), or a fresh one.
    public init(_ configuration: JobConfiguration.Reinforcement, context: JobContext, payload: Data?) throws {
        self.configuration = configuration
        self.context = context
        let settings = configuration
        if let payload {
            state = try Snapshot.decode(ReinforcementJobState.self, from: payload)
            guard (state.agent == nil) == (settings.observations != nil), (state.agent == nil) != (state.linearAgent == nil) else {
                throw LearningError.invalidSnapshot(
                    "it holds a \(state.agent == nil ? "linear" : "tabular") agent, the job \(settings.observations == nil ? "a tabular" : "a linear") one")
            }
        } else if let coder = settings.observations {
            state = ReinforcementJobState(linearAgent: try TileCodedAgent(
                algorithm: settings.algorithm, coder: coder, actions: settings.actions,
                learningRate: settings.learningRate, discount: settings.discount,
                exploration: settings.exploration ?? .constant(settings.epsilon), stepSizes: settings.stepSizes,
                seed: settings.seed))
        } else {
            state = ReinforcementJobState(agent: try TabularAgent(
                algorithm: settings.algorithm, states: settings.states, actions: settings.actions,
                learningRate: settings.learningRate, discount: settings.discount,
                exploration: settings.exploration ?? .constant(settings.epsilon), stepSizes: settings.stepSizes,
                seed: settings.seed))
        }
    }

    public func process(_ message: JobMessage, _ output: any JobOutput) throws -> DeadLetterReason? {
        let object: [String: Any]
        switch parseObject(message.value) {
        case .success(let parsed): object = parsed
        case .failure(let reason): return reason
        }
        func integer(_ key: String) -> Int? {
            guard let value = jsonNumber(object[key]) else { return nil }
            return value == value.rounded() && abs(value) < 1e15 ? Int(value) : nil
        }
        func flag(_ key: String) -> Bool? {
            guard let number = object[key] as? NSNumber else { return object[key] == nil ? false : nil }
            return String(cString: number.objCType) == "c" ? number.boolValue : nil
        }
        // The agent is used in place (`state.agent!`): a copy held across `predict` or `learn` would make them copy
        // its arrays.
        guard let stateCount = state.agent?.stateCount else {
            return try processContinuous(object, message.role, output, integer, flag)
        }
        let isRequest = context.sharesFeedbackTopic ? object["next_state"] == nil : message.role == .requests
        if isRequest {
            guard let s = integer("state") else {
                return DeadLetterReason(kind: "wrong-type", stage: .process, message: "'state' must be a whole number")
            }
            guard (0..<stateCount).contains(s) else {
                return DeadLetterReason(kind: "unknown-state", stage: .process, message: "state \(s) is not within 0..<\(stateCount)")
            }
            let action = configuration.evaluation ? state.agent!.greedyAction(s) : state.agent!.predict(s)
            try answer(episode: object["episode"], state: s, action: action, output)
            return nil
        }
        guard let s = integer("state"), let a = integer("action"), let next = integer("next_state") else {
            return DeadLetterReason(
                kind: "wrong-type", stage: .process, message: "a transition needs whole numbers 'state', 'action' and 'next_state'")
        }
        guard let reward = jsonNumber(object["reward"]) else {
            return DeadLetterReason(kind: "wrong-type", stage: .process, message: "'reward' must be a number")
        }
        guard let terminated = flag("terminated"), let truncated = flag("truncated") else {
            return DeadLetterReason(kind: "wrong-type", stage: .process, message: "'terminated' and 'truncated' must be true or false")
        }
        let transition = Transition(
            state: s, action: a, reward: reward, nextState: next, terminated: terminated,
            truncated: truncated, nextAction: integer("next_action"))
        do {
            try state.agent!.learn(transition)
        } catch {
            return DeadLetterReason(kind: "refused-values", stage: .process, message: "\(error)")
        }
        state.updates += 1
        if terminated || truncated { state.episodes += 1 }
        return nil
    }

    /// Answers a request with `action` (`{"episode"?, "state"?, "action", "model_version"}`), keyed by the episode,
    /// else by the state.
    private func answer(episode: Any?, state requested: Int?, action: Int, _ output: any JobOutput) throws {
        state.actions += 1
        writer.reset()
        writer.raw("{")
        if let episode {
            writer.raw("\"episode\":")
            writer.string("\(episode)")
            writer.raw(",")
        }
        if let requested {
            writer.raw("\"state\":")
            writer.int(requested)
            writer.raw(",")
        }
        writer.raw("\"action\":")
        writer.int(action)
        writer.raw(",\"model_version\":")
        writer.int(state.updates)
        writer.raw("}")
        var key = episode.map { "\($0)" } ?? requested.map { "\($0)" } ?? ""
        try key.withUTF8 { keyBytes in
            try writer.bytes.withUnsafeBytes { try output.answer(key: UnsafeRawBufferPointer(keyBytes), value: $0) }
        }
    }

    /// A request or transition of a job over continuous observations.
    private func processContinuous(
        _ object: [String: Any], _ role: JobMessage.Role, _ output: any JobOutput, _ integer: (String) -> Int?,
        _ flag: (String) -> Bool?
    ) throws -> DeadLetterReason? {
        let dimensions = state.linearAgent!.coder.dimensions
        func observation(_ key: String) -> Result<[Double], DeadLetterReason> {
            guard let values = object[key] as? [Any] else {
                return .failure(DeadLetterReason(kind: "wrong-type", stage: .process, message: "'\(key)' must be a list of \(dimensions) numbers"))
            }
            guard values.count == dimensions else {
                return .failure(DeadLetterReason(
                    kind: "wrong-size", stage: .process, message: "'\(key)' has \(values.count) values, the model \(dimensions)"))
            }
            var numbers: [Double] = []
            numbers.reserveCapacity(dimensions)
            for (index, value) in values.enumerated() {
                guard let number = jsonNumber(value), abs(number) <= LearnableValue.maxMagnitude else {
                    return .failure(DeadLetterReason(
                        kind: "wrong-type", stage: .process, message: "'\(key)'[\(index)] must be a finite number"))
                }
                numbers.append(number)
            }
            return .success(numbers)
        }
        let isRequest = context.sharesFeedbackTopic ? object["next_observation"] == nil : role == .requests
        if isRequest {
            let values: [Double]
            switch observation("observation") {
            case .success(let parsed): values = parsed
            case .failure(let reason): return reason
            }
            let action = configuration.evaluation ? state.linearAgent!.greedyAction(values) : state.linearAgent!.predict(values)
            try answer(episode: object["episode"], state: nil, action: action, output)
            return nil
        }
        let (current, next): ([Double], [Double])
        switch (observation("observation"), observation("next_observation")) {
        case (.success(let a), .success(let b)): (current, next) = (a, b)
        case (.failure(let reason), _), (_, .failure(let reason)): return reason
        }
        guard let action = integer("action") else {
            return DeadLetterReason(kind: "wrong-type", stage: .process, message: "a transition needs a whole number 'action'")
        }
        guard let reward = jsonNumber(object["reward"]) else {
            return DeadLetterReason(kind: "wrong-type", stage: .process, message: "'reward' must be a number")
        }
        guard let terminated = flag("terminated"), let truncated = flag("truncated") else {
            return DeadLetterReason(kind: "wrong-type", stage: .process, message: "'terminated' and 'truncated' must be true or false")
        }
        do {
            try state.linearAgent!.learn(ContinuousTransition(
                observation: current, action: action, reward: reward, nextObservation: next, terminated: terminated,
                truncated: truncated, nextAction: integer("next_action")))
        } catch {
            return DeadLetterReason(kind: "refused-values", stage: .process, message: "\(error)")
        }
        state.updates += 1
        if terminated || truncated { state.episodes += 1 }
        return nil
    }

    public func captureState() -> JobState { JobState(state) }
    public func takeSnapshotRequest() -> SnapshotStore.Reason? { nil }

    /// Publishes the greedy action of every state (up to 100,000 states; a linear agent's policy is in its
    /// snapshots only).
    public func snapshotWritten(_ output: any JobOutput) throws {
        guard let topic = context.policyTopic, let agent = state.agent, agent.stateCount <= 100_000 else { return }
        var writer = JSONWriter(capacity: agent.stateCount * 3 + 64)
        writer.raw("{\"model\":")
        writer.string(context.name)
        writer.raw(",\"model_version\":")
        writer.int(state.updates)
        writer.raw(",\"greedy_actions\":[")
        for s in 0..<agent.stateCount {
            if s > 0 { writer.raw(",") }
            writer.int(agent.greedyAction(s))
        }
        writer.raw("]}")
        try output.publish(topic: topic, key: context.name, value: writer.bytes)
    }

    public var waiting: Int { 0 }
    public var counters: [(String, Int)] {
        [("actions", state.actions), ("updates", state.updates), ("episodes", state.episodes)]
    }
    public var alerts: Int { 0 }
    public var modelVersion: Int { state.updates }
}

/// A JSON number (not a boolean, which Foundation also hands out as an `NSNumber`).
func jsonNumber(_ value: Any?) -> Double? {
    guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
    return number.doubleValue
}

/// A JSON object, or why the message is not one (for the dead-letter topic).
func parseObject(_ bytes: UnsafeRawBufferPointer) -> Result<[String: Any], DeadLetterReason> {
    let data = Data(bytes)
    guard String(validatingUTF8: data) != nil else {
        return .failure(DeadLetterReason(kind: "invalid-utf8", stage: .decode, message: "the message is not valid UTF-8"))
    }
    guard let parsed = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
        return .failure(DeadLetterReason(kind: "invalid-json", stage: .decode, message: "the message is not valid JSON"))
    }
    guard let object = parsed as? [String: Any] else {
        return .failure(DeadLetterReason(kind: "not-an-object", stage: .decode, message: "the message is not a JSON object"))
    }
    return .success(object)
}

private extension String {
    init?(validatingUTF8 data: Data) {
        guard let text = String(bytes: data, encoding: .utf8) else { return nil }
        self = text
    }
}

/// One thread owns a BanditJob (it is not shared between threads).
@available(*, unavailable)
extension BanditJob: Sendable {}

/// One thread owns a ReinforcementJob (it is not shared between threads).
@available(*, unavailable)
extension ReinforcementJob: Sendable {}
