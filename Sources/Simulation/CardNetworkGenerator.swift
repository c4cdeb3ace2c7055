import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Raw card transactions as a card network sees them, with fraud that shows only through history, and labels that
/// come days later (chargebacks and reviews).
///
/// Each line is `{"id","ts","card","merchant","merchant_category","amount","country","channel","device"}`; nothing
/// is precomputed. Thousands of cards each have a home country, a usual amount, a rate of use, a device and a few
/// favourite merchants. Three kinds of fraud:
/// - **card testing**: a burst of 6–15 small amounts at distinct online merchants within minutes, sometimes
///   followed by one large purchase;
/// - **account takeover**: a new country and a new device, then 2–5 amounts 5–20× the card's usual within hours;
/// - **compromised merchant**: for a week, fraud concentrated at one popular merchant (larger amounts, many cards).
///
/// Each event's label line `{"id","ts","label"}` comes later in event time: a fraud's chargeback 1–7 days later,
/// a legitimate event's confirmation 2 days later. Lines are in time order; the same configuration and seed give
/// the same bytes.
public struct CardNetworkGenerator: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var seed: UInt64 = 1
        public var cards = 5_000
        public var merchants = 800
        /// Days of event time the transactions span.
        public var days = 30
        /// Transactions (label lines are on top).
        public var events = 200_000
        /// The first event's time (epoch ms). Default 2026-01-01T00:00:00Z.
        public var start: Int64 = 1_767_225_600_000

        public init() {}
    }

    public let configuration: Configuration
    private var random: SeededRandom
    private var cards: [Card] = []
    private var merchants: [Merchant] = []
    private var onlineMerchants: [Int] = []
    private var cardWeights: [Double] = []
    private var clock: Int64
    private let meanGap: Double
    private var pending = PendingHeap()
    private var sequence = 0
    private var nextID = 1
    /// Transactions written.
    public private(set) var emitted = 0
    /// Frauds written.
    public private(set) var frauds = 0
    private let compromised: Int
    private let compromiseStart: Int64
    private let compromiseEnd: Int64

    static let categories = ["grocery", "fuel", "restaurant", "retail", "electronics", "travel", "jewelry", "digital"]
    static let countries = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "CA", "BR", "NG", "RU", "VN"]
    static let homeWeights: [Double] = [40, 12, 10, 9, 7, 6, 5, 8, 2, 0.5, 0.5, 0.5]

    struct Card: Sendable {
        var name: String
        var country: Int
        var logAmount: Double
        var device: String
        var favourites: [Int]
        var online: Double
    }

    struct Merchant: Sendable {
        var name: String
        var category: Int
        var country: Int
        var online: Bool
    }

    /// A line due at a time: a fraud's transaction scheduled ahead, or a label.
    struct Pending: Sendable {
        var time: Int64
        var sequence: Int
        var line: Line
    }

    enum Line: Sendable {
        case transaction(card: Int, merchant: Int, amount: Double, country: Int, device: String)
        case label(id: Int, fraud: Bool)
    }

    public init(configuration: Configuration) {
        self.configuration = configuration
        random = SeededRandom(seed: configuration.seed)
        clock = configuration.start
        meanGap = Double(configuration.days) * 86_400_000 / Double(max(configuration.events, 1))
        // The compromised merchant: a popular one (low index), for a week from a third of the way in.
        compromised = Int(SplitMix64(seed: configuration.seed).state % UInt64(max(min(20, configuration.merchants), 1)))
        let span = Int64(configuration.days) * 86_400_000
        compromiseStart = configuration.start + span / 3
        compromiseEnd = compromiseStart + min(7 * 86_400_000, span / 3)
        for index in 0..<configuration.merchants {
            let category = Self.weighted([18, 10, 16, 18, 8, 6, 4, 10], &random)
            let online = category == 7 || (category >= 3 && random.nextUnitDouble() < 0.4)
            let country = random.nextUnitDouble() < 0.7 ? 0 : Self.weighted(Self.homeWeights, &random)
            merchants.append(Merchant(name: "m\(index + 1)", category: category, country: country, online: online))
        }
        onlineMerchants = merchants.indices.filter { merchants[$0].online }
        if onlineMerchants.isEmpty { onlineMerchants = [0] }
        for index in 0..<configuration.cards {
            let country = Self.weighted(Self.homeWeights, &random)
            // Favourites: mostly merchants of the home country, drawn with a skew so some merchants are popular.
            var favourites: [Int] = []
            for _ in 0..<(3 + Int(random.next() % 8)) {
                let skewed = Int(Double(configuration.merchants) * pow(random.nextUnitDouble(), 2))
                favourites.append(min(skewed, configuration.merchants - 1))
            }
            cards.append(Card(
                name: "c\(index + 1)", country: country, logAmount: 3.2 + 0.7 * random.nextGaussian(),
                device: "d\(random.next() % 1_000_000)", favourites: favourites, online: 0.1 + 0.3 * random.nextUnitDouble()))
            cardWeights.append(exp(0.8 * random.nextGaussian()))
        }
        var total = 0.0
        for index in cardWeights.indices {
            total += cardWeights[index]
            cardWeights[index] = total
        }
    }

    static func weighted(_ weights: [Double], _ random: inout SeededRandom) -> Int {
        let total = weights.reduce(0, +)
        var draw = random.nextUnitDouble() * total
        for (index, weight) in weights.enumerated() {
            draw -= weight
            if draw < 0 { return index }
        }
        return weights.count - 1
    }

    private mutating func pickCard() -> Int {
        let draw = random.nextUnitDouble() * cardWeights[cardWeights.count - 1]
        var low = 0
        var high = cardWeights.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cardWeights[middle] > draw { high = middle } else { low = middle + 1 }
        }
        return low
    }

    private mutating func schedule(_ time: Int64, _ line: Line) {
        pending.push(Pending(time: time, sequence: sequence, line: line))
        sequence += 1
    }

    /// The next lines, in time order: what was due before the next legitimate transaction, then it. Empty once
    /// ``Configuration/events`` transactions are written (then ``finish()`` gives the labels still due).
    public mutating func next() -> [String] {
        var lines: [String] = []
        guard emitted < configuration.events else { return lines }
        clock += Int64(-log(1 - random.nextUnitDouble()) * meanGap) + 1
        while let first = pending.first, first.time <= clock, emitted < configuration.events || isLabel(first) {
            let due = pending.pop()!
            if let line = write(due) { lines.append(line) }
        }
        guard emitted < configuration.events else { return lines }
        lines.append(legitimate())
        startEpisodes()
        return lines
    }

    private func isLabel(_ item: Pending) -> Bool {
        if case .label = item.line { return true }
        return false
    }

    /// Every label still due, in time order (transactions scheduled beyond the last are not written).
    public mutating func finish() -> [String] {
        var lines: [String] = []
        while let due = pending.pop() {
            if isLabel(due), let line = write(due) { lines.append(line) }
        }
        return lines
    }

    private mutating func write(_ item: Pending) -> String? {
        switch item.line {
        case .label(let id, let fraud):
            return "{\"id\":\(id),\"ts\":\(item.time),\"label\":\(fraud ? 1 : 0)}"
        case .transaction(let card, let merchant, let amount, let country, let device):
            guard emitted < configuration.events else { return nil }
            return transaction(at: item.time, card: card, merchant: merchant, amount: amount, country: country, device: device, fraud: true)
        }
    }

    private mutating func transaction(
        at time: Int64, card: Int, merchant: Int, amount: Double, country: Int, device: String, fraud: Bool
    ) -> String {
        let id = nextID
        nextID += 1
        emitted += 1
        if fraud { frauds += 1 }
        let merchantRecord = merchants[merchant]
        let channel = merchantRecord.online ? "online" : (random.nextUnitDouble() < 0.7 ? "chip" : "contactless")
        var json = "{\"id\":\(id),\"ts\":\(time),\"card\":\"\(cards[card].name)\",\"merchant\":\"\(merchantRecord.name)\""
        json += ",\"merchant_category\":\"\(Self.categories[merchantRecord.category])\""
        json += ",\"amount\":\(TransactionGenerator.fixed(max(amount, 0.5), decimals: 2))"
        json += ",\"country\":\"\(Self.countries[country])\",\"channel\":\"\(channel)\",\"device\":\"\(device)\"}"
        // Chargebacks come 1–7 days later; confirmations of good transactions 2 days later.
        let delay = fraud ? Int64(86_400_000 + random.next() % (6 * 86_400_000)) : 2 * 86_400_000
        schedule(time + delay, .label(id: id, fraud: fraud))
        return json
    }

    /// A card's ordinary transaction now.
    private mutating func legitimate() -> String {
        let card = pickCard()
        let owner = cards[card]
        var merchant: Int
        if random.nextUnitDouble() < owner.online {
            merchant = onlineMerchants[Int(random.next() % UInt64(onlineMerchants.count))]
        } else if random.nextUnitDouble() < 0.8 {
            merchant = owner.favourites[Int(random.next() % UInt64(owner.favourites.count))]
        } else {
            merchant = Int(random.next() % UInt64(merchants.count))
        }
        var country = owner.country
        var device = owner.device
        if random.nextUnitDouble() < 0.01 {
            // A trip abroad, with a new phone now and then: legitimate, and not unlike a takeover.
            country = Self.weighted(Self.homeWeights, &random)
            if random.nextUnitDouble() < 0.3 { device = "d\(random.next() % 1_000_000)" }
        }
        var amount = exp(owner.logAmount + 0.8 * random.nextGaussian())
        if merchants[merchant].category == 5 || merchants[merchant].category == 6 { amount *= 3 }
        var fraud = false
        if clock >= compromiseStart && clock < compromiseEnd && random.nextUnitDouble() < 0.004 {
            // Skimmed at the compromised merchant: fraud there, on any card.
            merchant = compromised
            amount = exp(owner.logAmount + 1.2 + 0.6 * random.nextGaussian())
            fraud = true
        }
        return transaction(at: clock, card: card, merchant: merchant, amount: amount, country: country, device: device, fraud: fraud)
    }

    /// Starts fraud episodes now and then: their transactions are scheduled ahead.
    private mutating func startEpisodes() {
        let draw = random.nextUnitDouble()
        if draw < 0.0011 {
            // Card testing: small amounts at distinct online merchants, seconds to minutes apart.
            let card = pickCard()
            let device = "d\(random.next() % 1_000_000)"
            var time = clock + Int64(random.next() % 60_000)
            for _ in 0..<(6 + Int(random.next() % 10)) {
                let merchant = onlineMerchants[Int(random.next() % UInt64(onlineMerchants.count))]
                let amount = 0.5 + Double(random.next() % 450) / 100
                schedule(time, .transaction(card: card, merchant: merchant, amount: amount, country: merchants[merchant].country, device: device))
                time += Int64(-log(1 - random.nextUnitDouble()) * 40_000) + 1_000
            }
            if random.nextUnitDouble() < 0.5 {
                let merchant = onlineMerchants[Int(random.next() % UInt64(onlineMerchants.count))]
                schedule(time + 1_800_000, .transaction(
                    card: card, merchant: merchant, amount: 300 + Double(random.next() % 170_000) / 100,
                    country: merchants[merchant].country, device: device))
            }
        } else if draw < 0.0026 {
            // Account takeover: a new country and device, then large amounts within hours.
            let card = pickCard()
            var country = Self.weighted([2, 2, 2, 2, 2, 2, 2, 2, 6, 8, 8, 8], &random)
            if country == cards[card].country { country = (country + 9) % Self.countries.count }
            let device = "d\(random.next() % 1_000_000)"
            var time = clock + Int64(random.next() % 3_600_000)
            for _ in 0..<(2 + Int(random.next() % 4)) {
                let merchant = onlineMerchants[Int(random.next() % UInt64(onlineMerchants.count))]
                let amount = exp(cards[card].logAmount) * (5 + 15 * random.nextUnitDouble())
                schedule(time, .transaction(card: card, merchant: merchant, amount: amount, country: country, device: device))
                time += Int64(random.next() % 5_400_000) + 60_000
            }
        }
    }
}

/// A binary min-heap of pending lines by (time, sequence).
struct PendingHeap: Sendable {
    private var items: [CardNetworkGenerator.Pending] = []

    var first: CardNetworkGenerator.Pending? { items.first }

    private static func less(_ a: CardNetworkGenerator.Pending, _ b: CardNetworkGenerator.Pending) -> Bool {
        a.time != b.time ? a.time < b.time : a.sequence < b.sequence
    }

    mutating func push(_ item: CardNetworkGenerator.Pending) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.less(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> CardNetworkGenerator.Pending? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count && Self.less(items[left], items[smallest]) { smallest = left }
            if right < items.count && Self.less(items[right], items[smallest]) { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
