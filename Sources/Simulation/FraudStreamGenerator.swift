import StreamCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A realistic card-fraud event stream with configurable drift and label delay, as JSON Lines.
///
/// Schema (every event, keys in this order): `id` (unique integer), `ts` (epoch milliseconds, from 2026-01-01 in
/// steps of 50–150 ms), `amount` (log-normal, unscaled, 2 decimals), `merchant_category`, `country`, `device`,
/// `channel` (strings), `hour` (0–23), `customer_age_days`, `txn_count_1h`, `txn_count_24h`, `distance_km`
/// (1 decimal), `card_present` (0/1), `failed_logins_24h`, `ip_risk` (0–1, 3 decimals), `merchant_risk` (0–1, 3
/// decimals), then `label` (0/1) unless labels are delayed. About 2% are fraud, drawn from a hidden logistic model
/// plus N(0, 0.5²) noise on the logit.
///
/// Drift starts at event index `driftAt` (0-based) and is abrupt, or gradual over `driftWidth` events (each event
/// then follows the new regime with probability rising linearly from 0 to 1):
/// - **covariate**: feature distributions move (amounts ×2 in the median, distances ×2.4, more night hours, a
///   different country and device mix), the label relation stays — PSI on inputs rises, and so does the fraud
///   rate (about 12%: riskier inputs are more common, as in an attack wave);
/// - **concept**: the label relation changes (card-present and in-store fraud, short distances, the travel
///   category instead of electronics and gaming), the inputs and the ~2% rate stay — a model trained before
///   loses F1;
/// - **both**.
///
/// With `labelDelay` D > 0, events carry no `label`; each label is emitted as `{"id":…,"label":…}` right after the
/// event D positions later (the last ones after the final event), so every id gets exactly one label.
/// The same configuration and seed give byte-identical output.
public struct FraudStreamGenerator: Sendable {
    public enum Drift: String, Sendable, Hashable, Codable, CaseIterable {
        case covariate, concept, both
    }

    public struct Configuration: Sendable, Hashable {
        public var seed: UInt64 = 1
        /// Index of the first drifted event; `nil` for no drift.
        public var driftAt: Int? = nil
        public var drift: Drift = .both
        /// Events over which the drift phases in; 0 for abrupt.
        public var driftWidth: Int = 0
        /// Positions by which labels trail their events; 0 to put the label in the event.
        public var labelDelay: Int = 0
        /// Further drifts after the first, each adding its kind from its own start (covariate then concept: both
        /// hold after the second).
        public var laterDrifts: [Phase] = []

        public init() {}
    }

    /// A drift from event index `at`, abrupt or phased in over `width` events.
    public struct Phase: Sendable, Hashable {
        public var at: Int
        public var kind: Drift
        public var width: Int

        public init(at: Int, kind: Drift, width: Int = 0) {
            self.at = at
            self.kind = kind
            self.width = width
        }
    }

    public let configuration: Configuration
    private var random: SeededRandom
    public private(set) var index = 0
    private var pendingLabels: [(id: Int, label: Bool)] = []
    private var clock: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z

    static let categories = ["grocery", "fuel", "restaurants", "fashion", "electronics", "travel", "gaming", "digital"]
    static let countries = ["FR", "DE", "GB", "ES", "IT", "NL", "US", "BR", "NG", "IN"]
    static let devices = ["mobile", "desktop", "tablet", "pos"]
    static let channels = ["in_store", "online", "contactless", "atm"]

    public init(configuration: Configuration) {
        self.configuration = configuration
        random = SeededRandom(seed: configuration.seed)
    }

    /// Whether event `index` follows the drifted regime (random within a gradual window).
    private mutating func drifted(_ index: Int) -> Bool {
        guard let start = configuration.driftAt else { return false }
        return inPhase(index, start: start, width: configuration.driftWidth)
    }

    private mutating func inPhase(_ index: Int, start: Int, width: Int) -> Bool {
        guard index >= start else { return false }
        if width <= 0 || index >= start + width { return true }
        return random.nextUnitDouble() < Double(index - start + 1) / Double(width + 1)
    }

    private mutating func pick(_ weights: [Double]) -> Int {
        let u = random.nextUnitDouble() * weights.reduce(0, +)
        var cumulative = 0.0
        for (index, weight) in weights.enumerated() {
            cumulative += weight
            if u < cumulative { return index }
        }
        return weights.count - 1
    }

    /// One event's fields, before formatting (category fields index the documented value lists).
    public struct Record: Sendable, Hashable {
        public var id: Int
        public var timestamp: Int64
        public var amount: Double
        public var merchantCategory: String
        public var country: String
        public var device: String
        public var channel: String
        public var hour: Int
        public var customerAgeDays: Int
        public var transactionsLastHour: Int
        public var transactionsLastDay: Int
        public var distanceKilometres: Double
        public var cardPresent: Int
        public var failedLogins: Int
        public var ipRisk: Double
        public var merchantRisk: Double
        public var label: Bool
    }

    /// The next event's fields (values as they will be printed: amount to 2 decimals, distance to 1, risks to 3).
    public mutating func nextRecord() -> Record {
        let id = index + 1
        let isDrifted = drifted(index)
        index += 1
        var covariate = isDrifted && configuration.drift != .concept
        var concept = isDrifted && configuration.drift != .covariate
        for phase in configuration.laterDrifts where inPhase(index - 1, start: phase.at, width: phase.width) {
            covariate = covariate || phase.kind != .concept
            concept = concept || phase.kind != .covariate
        }
        clock += Int64(50 + random.next() % 101)

        let amount = exp(min(max((covariate ? 4.0 : 3.3) + 1.1 * random.nextGaussian(), -1), 9.5))
        let category = pick(covariate ? [2, 1, 2, 2, 3, 2, 3, 3] : [5, 3, 3, 2, 1, 1, 1, 2])
        let country = pick(covariate ? [3, 2, 2, 2, 1, 1, 4, 3, 1, 1] : [6, 4, 3, 3, 2, 2, 2, 1, 0.5, 0.5])
        let device = pick(covariate ? [6, 2, 1, 2] : [3, 2, 1, 4])
        let channel = pick(covariate ? [3, 3, 3, 1] : [4, 2, 3, 1])
        let hour = covariate
            ? (random.next() % 2 == 0 ? Int(random.next() % 24) : (22 + Int(random.next() % 6)) % 24)
            : (random.next() % 4 == 0 ? Int(random.next() % 24) : 8 + Int(random.next() % 14))
        let ageDays = Int(exp(5 + 1.5 * abs(random.nextGaussian())).rounded()) % 20_000
        let count1h = Int(-log(1 - random.nextUnitDouble()) * (covariate ? 1.6 : 0.8))
        let count24h = count1h + Int(-log(1 - random.nextUnitDouble()) * 4)
        let distance = abs(random.nextGaussian()) * (covariate ? 60 : 25)
        let cardPresent = channel == 0 || channel == 2 || channel == 3 ? (random.next() % 10 < 9 ? 1 : 0) : 0
        let failedLogins = Int(-log(1 - random.nextUnitDouble()) * 0.3)
        let ipRisk = min(max(0.15 + 0.15 * random.nextGaussian(), 0), 1)
        let merchantRisk = min(max(0.2 + 0.1 * random.nextGaussian() + (category >= 4 ? 0.15 : 0), 0), 1)

        // The hidden model (on roughly standardised terms).
        var logit = -5.2
        let logAmount = log(amount)
        if concept {
            logit -= 1.1
            logit += 0.3 * (logAmount - 3.3)
            logit += cardPresent == 1 ? 1.6 : -0.4
            logit += distance < 5 ? 1.2 : 0
            logit += category == 5 ? 1.8 : 0
            logit += channel == 3 ? 1.2 : 0
            logit += 0.2 * Double(count1h)
            logit += 2.0 * (merchantRisk - 0.2)
        } else {
            logit += 0.8 * (logAmount - 3.3)
            logit += cardPresent == 1 ? -1.2 : 0.6
            logit += 0.012 * min(distance, 300)
            logit += (category == 4 || category == 6) ? 1.3 : 0
            logit += (hour < 6) ? 0.9 : 0
            logit += 0.45 * Double(count1h)
            logit += 0.6 * Double(failedLogins)
            logit += 4.0 * (ipRisk - 0.15)
            logit += country >= 8 ? 1.0 : 0
            logit -= ageDays < 60 ? -0.8 : 0
        }
        logit += 0.5 * random.nextGaussian()
        let label = random.nextUnitDouble() < 1 / (1 + exp(-logit))
        func rounded(_ value: Double, _ decimals: Int) -> Double {
            Double(TransactionGenerator.fixed(value, decimals: decimals)) ?? value
        }
        return Record(
            id: id, timestamp: clock, amount: rounded(amount, 2), merchantCategory: Self.categories[category],
            country: Self.countries[country], device: Self.devices[device], channel: Self.channels[channel],
            hour: hour, customerAgeDays: ageDays, transactionsLastHour: count1h, transactionsLastDay: count24h,
            distanceKilometres: rounded(distance, 1), cardPresent: cardPresent, failedLogins: failedLogins,
            ipRisk: rounded(ipRisk, 3), merchantRisk: rounded(merchantRisk, 3), label: label)

    }

    /// The next lines: one event, plus any labels now due (all remaining ones after `finish()`).
    public mutating func next() -> [String] {
        let record = nextRecord()
        var json = "{\"id\":\(record.id),\"ts\":\(record.timestamp)"
        json += ",\"amount\":\(TransactionGenerator.fixed(record.amount, decimals: 2))"
        json += ",\"merchant_category\":\"\(record.merchantCategory)\",\"country\":\"\(record.country)\""
        json += ",\"device\":\"\(record.device)\",\"channel\":\"\(record.channel)\""
        json += ",\"hour\":\(record.hour),\"customer_age_days\":\(record.customerAgeDays)"
        json += ",\"txn_count_1h\":\(record.transactionsLastHour),\"txn_count_24h\":\(record.transactionsLastDay)"
        json += ",\"distance_km\":\(TransactionGenerator.fixed(record.distanceKilometres, decimals: 1))"
        json += ",\"card_present\":\(record.cardPresent),\"failed_logins_24h\":\(record.failedLogins)"
        json += ",\"ip_risk\":\(TransactionGenerator.fixed(record.ipRisk, decimals: 3))"
        json += ",\"merchant_risk\":\(TransactionGenerator.fixed(record.merchantRisk, decimals: 3))"
        let id = record.id
        let label = record.label
        guard configuration.labelDelay > 0 else {
            return [json + ",\"label\":\(label ? 1 : 0)}"]
        }
        var lines = [json + "}"]
        pendingLabels.append((id, label))
        if pendingLabels.count > configuration.labelDelay {
            let due = pendingLabels.removeFirst()
            lines.append("{\"id\":\(due.id),\"label\":\(due.label ? 1 : 0)}")
        }
        return lines
    }

    /// The labels still pending at the end of the stream, in event order.
    public mutating func finish() -> [String] {
        defer { pendingLabels.removeAll() }
        return pendingLabels.map { "{\"id\":\($0.id),\"label\":\($0.label ? 1 : 0)}" }
    }
}
