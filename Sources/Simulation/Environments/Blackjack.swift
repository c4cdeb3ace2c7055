import StreamCore

/// Blackjack-v1 (Sutton and Barto 2018, example 5.1, as Gymnasium 1.x codes it): cards from an infinite deck
/// (1–9 and four 10s of 13), the dealer shows one card and draws to 17 when the player sticks (0) rather than
/// hits (1). Reward +1 for a win, −1 for a loss or a bust, 0 for a draw. `sab` (the default, as
/// `gym.make("Blackjack-v1")` registers it): a natural (an ace and a ten as the first two cards) against no natural
/// wins +1 whatever the dealer draws, and `natural` is ignored; without `sab`, a natural is an ordinary 21, or with
/// `natural` wins +1.5 where it wins. No time limit.
///
/// The observation (player's sum 0–31, dealer's card 1–10, usable ace 0–1) is one state,
/// `sum · 22 + card · 2 + ace` (numpy's `ravel_multi_index` over Gymnasium's `Tuple(Discrete(32), Discrete(11),
/// Discrete(2))`): 704 states, the unreachable ones included. Checked against Gymnasium's own steps on recorded
/// hands. Success is a won hand.
public struct Blackjack: DiscreteEnvironment {
    public static let deck = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10]

    public let natural: Bool
    public let sab: Bool
    public var stateCount: Int { 704 }
    public var actionCount: Int { 2 }
    public var maxEpisodeSteps: Int? { nil }
    /// The hands, as Gymnasium's `player` and `dealer` (capacity reserved, so drawing allocates nothing).
    public private(set) var player: [Int] = []
    public private(set) var dealer: [Int] = []
    private var random: SeededRandom
    /// Cards to deal in order instead of drawing (a recorded game), and the next one's index.
    private var scripted: [Int]?
    private var dealt = 0

    public init(natural: Bool = false, sab: Bool = true, seed: UInt64 = 0) {
        self.natural = natural
        self.sab = sab
        random = SeededRandom(seed: seed)
        player.reserveCapacity(32)
        dealer.reserveCapacity(32)
    }

    /// An environment that deals `cards` in order (dealer's two, player's two, the player's hits, then the dealer's
    /// draws, as Gymnasium draws them), for replaying recorded games.
    public init(natural: Bool = false, sab: Bool = true, cards: [Int]) {
        self.init(natural: natural, sab: sab)
        scripted = cards
    }

    /// The state of an observation.
    public static func state(sum: Int, dealerCard: Int, usableAce: Bool) -> Int {
        sum * 22 + dealerCard * 2 + (usableAce ? 1 : 0)
    }

    /// The observation of a state.
    public static func observation(_ state: Int) -> (sum: Int, dealerCard: Int, usableAce: Bool) {
        (state / 22, state % 22 / 2, state % 2 == 1)
    }

    public mutating func reset(seed: UInt64?) -> Int {
        if let seed { random = SeededRandom(seed: seed) }
        dealer.removeAll(keepingCapacity: true)
        player.removeAll(keepingCapacity: true)
        dealer.append(draw())
        dealer.append(draw())
        player.append(draw())
        player.append(draw())
        return observe()
    }

    public mutating func step(_ action: Int) throws(SimulationError) -> StepResult {
        guard action == 0 || action == 1 else { throw .invalidAction(action, actions: 2) }
        if action == 1 {
            player.append(draw())
            let bust = Self.isBust(player)
            return StepResult(observation: observe(), reward: bust ? -1 : 0, terminated: bust, truncated: false)
        }
        while Self.sum(dealer) < 17 { dealer.append(draw()) }
        let mine = Self.score(player)
        let theirs = Self.score(dealer)
        var reward: Double = mine > theirs ? 1 : (mine < theirs ? -1 : 0)
        if sab && Self.isNatural(player) && !Self.isNatural(dealer) {
            reward = 1
        } else if !sab && natural && Self.isNatural(player) && reward == 1 {
            reward = 1.5
        }
        return StepResult(observation: observe(), reward: reward, terminated: true, truncated: false)
    }

    /// A won hand.
    public func succeeded(_ last: StepResult) -> Bool { last.terminated && last.reward > 0 }

    private mutating func draw() -> Int {
        if let scripted {
            defer { dealt += 1 }
            return dealt < scripted.count ? scripted[dealt] : 10
        }
        return Self.deck[Int(random.next() % 13)]
    }

    private func observe() -> Int {
        Self.state(sum: Self.sum(player), dealerCard: dealer[0], usableAce: Self.usableAce(player))
    }

    static func usableAce(_ hand: [Int]) -> Bool {
        var total = 0
        var ace = false
        for card in hand {
            total += card
            ace = ace || card == 1
        }
        return ace && total + 10 <= 21
    }

    static func sum(_ hand: [Int]) -> Int {
        var total = 0
        for card in hand { total += card }
        return usableAce(hand) ? total + 10 : total
    }

    static func isBust(_ hand: [Int]) -> Bool { sum(hand) > 21 }
    static func score(_ hand: [Int]) -> Int { isBust(hand) ? 0 : sum(hand) }
    static func isNatural(_ hand: [Int]) -> Bool { hand.count == 2 && hand.contains(1) && hand.contains(10) }
}
