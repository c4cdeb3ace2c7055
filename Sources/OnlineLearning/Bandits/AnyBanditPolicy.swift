import StreamCore

/// A bandit policy's settings, by the names the YAML keys and command-line flags use: one description of the five
/// policies for jobs, simulations and the CLI.
public struct BanditSettings: Sendable, Hashable {
    public enum Policy: String, Sendable, Hashable, CaseIterable {
        case epsilonGreedy = "epsilon-greedy"
        case ucb1
        case thompson
        case exp3
        case linucb
    }

    public var policy: Policy = .epsilonGreedy
    public var arms: Int
    /// ε of epsilon-greedy.
    public var epsilon = 0.1
    /// UCB1's exploration constant.
    public var exploration = 1.0
    /// EXP3's γ.
    public var gamma = 0.1
    /// LinUCB's α.
    public var alpha = 1.0
    /// LinUCB's context length.
    public var dimension = 0
    /// Weight kept by old statistics at each update (epsilon-greedy, UCB1, Thompson; 1: none forgotten).
    public var discount = 1.0
    /// Thompson sampling's draws per propensity estimate (0: none).
    public var propensityDraws = 1000
    public var seed: UInt64 = 1

    public init(policy: Policy = .epsilonGreedy, arms: Int) {
        self.policy = policy
        self.arms = arms
    }

    /// The settings that shape the policy's learned state, by their `model.*` key paths (what a snapshot records).
    public var modelSettings: [String: String] {
        var settings = ["model.policy": policy.rawValue, "model.arms": "\(arms)", "model.seed": "\(seed)"]
        switch policy {
        case .epsilonGreedy:
            settings["model.epsilon"] = "\(epsilon)"
            settings["model.discount"] = "\(discount)"
        case .ucb1:
            settings["model.exploration"] = "\(exploration)"
            settings["model.discount"] = "\(discount)"
        case .thompson:
            settings["model.discount"] = "\(discount)"
            settings["model.propensity_draws"] = "\(propensityDraws)"
        case .exp3: settings["model.gamma"] = "\(gamma)"
        case .linucb:
            settings["model.alpha"] = "\(alpha)"
            settings["model.dimension"] = "\(dimension)"
        }
        return settings
    }
}

/// One of the five bandit policies, as one snapshot-able value.
public enum AnyBanditPolicy: Sendable, Codable, Equatable {
    case epsilonGreedy(EpsilonGreedy)
    case ucb1(UCB1)
    case thompson(ThompsonSampling)
    case exp3(EXP3)
    case linucb(LinUCB)

    /// The policy `settings` describe, before any pull.
    public init(_ configuration: BanditSettings) throws(LearningError) {
        switch configuration.policy {
        case .epsilonGreedy:
            self = .epsilonGreedy(try EpsilonGreedy(
                arms: configuration.arms, epsilon: configuration.epsilon, discount: configuration.discount, seed: configuration.seed))
        case .ucb1:
            self = .ucb1(try UCB1(arms: configuration.arms, exploration: configuration.exploration, discount: configuration.discount))
        case .thompson:
            self = .thompson(try ThompsonSampling(
                arms: configuration.arms, propensityDraws: configuration.propensityDraws, discount: configuration.discount,
                seed: configuration.seed))
        case .exp3: self = .exp3(try EXP3(arms: configuration.arms, gamma: configuration.gamma, seed: configuration.seed))
        case .linucb:
            self = .linucb(try LinUCB(arms: configuration.arms, dimension: configuration.dimension, alpha: configuration.alpha))
        }
    }

    public mutating func predict(_ context: BanditContext) -> ArmChoice {
        switch self {
        case .epsilonGreedy(var policy): defer { self = .epsilonGreedy(policy) }; return policy.predict(context)
        case .ucb1(let policy): return policy.predict(context)
        case .thompson(var policy): defer { self = .thompson(policy) }; return policy.predict(context)
        case .exp3(var policy): defer { self = .exp3(policy) }; return policy.predict(context)
        case .linucb(let policy): return policy.predict(context)
        }
    }

    public mutating func learn(_ feedback: BanditFeedback) throws(LearningError) {
        switch self {
        case .epsilonGreedy(var policy): try policy.learn(feedback); self = .epsilonGreedy(policy)
        case .ucb1(var policy): try policy.learn(feedback); self = .ucb1(policy)
        case .thompson(var policy): try policy.learn(feedback); self = .thompson(policy)
        case .exp3(var policy): try policy.learn(feedback); self = .exp3(policy)
        case .linucb(var policy): try policy.learn(feedback); self = .linucb(policy)
        }
    }
}
