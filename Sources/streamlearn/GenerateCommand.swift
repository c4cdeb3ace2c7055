import ArgumentParser
import Foundation
import Simulation

struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write generated event streams as JSON Lines.",
        discussion: """
            Examples:
              streamlearn generate transactions --events 1000000 --seed 1 transactions.jsonl
              streamlearn generate fraud --events 100000 --drift-at 50000 --drift covariate --label-delay 500 -
            """,
        subcommands: [GenerateTransactions.self, GenerateLogistic.self, GenerateFraud.self, GenerateCardNetwork.self]
    )
}

struct GenerateCardNetwork: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "card-network",
        abstract: "Raw card transactions with fraud that shows only through history, and labels days later.",
        discussion: """
            Fields: id, ts, card, merchant, merchant_category, amount, country, channel, device; nothing is \
            precomputed. Fraud (about 1.5%): card testing (bursts of small amounts at distinct online merchants \
            within minutes), account takeover (a new country and device, then large amounts), and a compromised \
            merchant (fraud concentrated at one merchant for a week). Each event's label comes as \
            {"id","ts","label"} in time order: a chargeback 1-7 days later, a confirmation 2 days later. The same \
            options and seed give byte-identical output.

            Example:
              streamlearn generate card-network --events 200000 --cards 5000 --days 30 --seed 1 raw.jsonl
            """
    )

    @Option(parsing: .unconditional, help: "How many transactions (label lines come on top).")
    var events: Int = 200_000

    @Option(parsing: .unconditional, help: "How many cards.")
    var cards: Int = 5_000

    @Option(parsing: .unconditional, help: "How many merchants.")
    var merchants: Int = 800

    @Option(parsing: .unconditional, help: "Days of event time the transactions span.")
    var days: Int = 30

    @Option(parsing: .unconditional, help: "Seed of the generator.")
    var seed: UInt64 = 1

    @Argument(help: "Output file, or - for stdout.")
    var file: String = "-"

    @OptionGroup var display: ProgressOptions

    func validate() throws {
        guard events >= 0 else { throw ValidationError("--events must not be negative, got \(events)") }
        guard cards >= 1 else { throw ValidationError("--cards must be at least 1, got \(cards)") }
        guard merchants >= 1 else { throw ValidationError("--merchants must be at least 1, got \(merchants)") }
        guard (1...3_650).contains(days) else { throw ValidationError("--days must be from 1 to 3650, got \(days)") }
    }

    func run() async throws {
        var configuration = CardNetworkGenerator.Configuration()
        configuration.seed = seed
        configuration.events = events
        configuration.cards = cards
        configuration.merchants = merchants
        configuration.days = days
        var generator = CardNetworkGenerator(configuration: configuration)
        // Each call writes what is due before the next ordinary transaction and that one: call until all are out.
        var calls = 0
        try writeLines(
            events, progress: display.progress("generate", total: events, unit: "events"), bytesPerLine: 300, to: file,
            next: {
                calls += 1
                var lines: [String] = []
                let target = min(calls, events)
                while generator.emitted < target { lines += generator.next() }
                return lines
            }, finish: { generator.finish() })
    }
}

struct GenerateTransactions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transactions",
        abstract: "Card transactions: an integer id and 20 numeric fields, about 180 bytes a line.",
        discussion: """
            The same seed gives byte-identical output.

            Example:
              streamlearn generate transactions --events 10000 --seed 7 events.jsonl
            """
    )

    @Option(parsing: .unconditional, help: "How many events.")
    var events: Int = 10_000

    @Option(parsing: .unconditional, help: "Seed of the generator.")
    var seed: UInt64 = 1

    @Argument(help: "Output file, or - for stdout.")
    var file: String = "-"

    @OptionGroup var display: ProgressOptions

    func validate() throws {
        guard events >= 0 else { throw ValidationError("--events must not be negative, got \(events)") }
    }

    func run() async throws {
        var generator = TransactionGenerator(seed: seed)
        try writeLines(events, progress: display.progress("generate", total: events, unit: "events"), bytesPerLine: 200, to: file) { [generator.next().json] }
    }
}

struct GenerateLogistic: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logistic",
        abstract: "A labelled stream from a known logistic model: id, f0…fN−1 (unscaled), label.",
        discussion: """
            Feature j has scale 1, 10, 100 or 1000 (cycling); features from --relevant on have weight 0. The same \
            seed gives byte-identical output. For `streamlearn learn`.

            Example:
              streamlearn generate logistic --events 100000 --seed 7 labelled.jsonl
            """
    )

    @Option(parsing: .unconditional, help: "How many events.")
    var events: Int = 10_000

    @Option(parsing: .unconditional, help: "Seed of the generator.")
    var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: "Numeric features per event.")
    var features: Int = 20

    @Option(parsing: .unconditional, help: "How many of them the hidden model uses (the first ones).")
    var relevant: Int = 10

    @Argument(help: "Output file, or - for stdout.")
    var file: String = "-"

    @OptionGroup var display: ProgressOptions

    func validate() throws {
        guard events >= 0 else { throw ValidationError("--events must not be negative, got \(events)") }
        guard features >= 1 else { throw ValidationError("--features must be at least 1, got \(features)") }
        guard (0...features).contains(relevant) else {
            throw ValidationError("--relevant must be in 0...\(features), got \(relevant)")
        }
    }

    func run() async throws {
        var generator = LogisticStreamGenerator(seed: seed, features: features, relevant: relevant)
        try writeLines(events, progress: display.progress("generate", total: events, unit: "events"), bytesPerLine: features * 10 + 30, to: file) { [generator.next().json] }
    }
}

/// `--drift` values.
enum DriftName: String, ExpressibleByArgument, CaseIterable {
    case covariate, concept, both

    var drift: FraudStreamGenerator.Drift { FraudStreamGenerator.Drift(rawValue: rawValue)! }
}

struct GenerateFraud: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fraud",
        abstract: "A card-fraud stream (~2% fraud, mixed numeric and categorical fields) with optional drift and label delay.",
        discussion: """
            Fields: id, ts, amount, merchant_category, country, device, channel, hour, customer_age_days, \
            txn_count_1h, txn_count_24h, distance_km, card_present, failed_logins_24h, ip_risk, merchant_risk, label. \
            Covariate drift moves the feature distributions (PSI rises); concept drift changes the label relation \
            (F1 falls); --drift-width phases it in over W events. With --label-delay D the label of each event comes \
            D events later as {"id":…,"label":…}. The same options and seed give byte-identical output.

            Examples:
              streamlearn generate fraud --events 100000 --seed 3 fraud.jsonl
              streamlearn generate fraud --events 200000 --drift-at 100000 --drift concept --drift-width 5000 -
              streamlearn generate fraud --events 50000 --label-delay 1000 delayed.jsonl
            """
    )

    @Option(parsing: .unconditional, help: "How many events.")
    var events: Int = 10_000

    @Option(parsing: .unconditional, help: "Seed of the generator.")
    var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: "Index (0-based) of the first drifted event.")
    var driftAt: Int?

    @Option(help: "covariate, concept or both (default both; needs --drift-at).")
    var drift: DriftName?

    @Option(parsing: .unconditional, help: "Events over which the drift phases in (0: abrupt).")
    var driftWidth: Int = 0

    @Option(parsing: .unconditional, help: "Emit each label this many events later, as a separate {\"id\",\"label\"} line (0: in the event).")
    var labelDelay: Int = 0

    @Argument(help: "Output file, or - for stdout.")
    var file: String = "-"

    @OptionGroup var display: ProgressOptions

    func validate() throws {
        guard events >= 0 else { throw ValidationError("--events must not be negative, got \(events)") }
        if let driftAt, driftAt < 0 { throw ValidationError("--drift-at must not be negative, got \(driftAt)") }
        guard driftWidth >= 0 else { throw ValidationError("--drift-width must not be negative, got \(driftWidth)") }
        // Options that mean nothing without the drift point are refused, not ignored.
        if driftAt == nil, let drift { throw ValidationError("--drift \(drift.rawValue) needs --drift-at (the first drifted event)") }
        if driftAt == nil && driftWidth > 0 { throw ValidationError("--drift-width needs --drift-at (the first drifted event)") }
        guard labelDelay >= 0 else { throw ValidationError("--label-delay must not be negative, got \(labelDelay)") }
    }

    func run() async throws {
        var configuration = FraudStreamGenerator.Configuration()
        configuration.seed = seed
        configuration.driftAt = driftAt
        configuration.drift = (drift ?? .both).drift
        configuration.driftWidth = driftWidth
        configuration.labelDelay = labelDelay
        var generator = FraudStreamGenerator(configuration: configuration)
        try writeLines(events, progress: display.progress("generate", total: events, unit: "events"), bytesPerLine: 330, to: file, next: { generator.next() }, finish: { generator.finish() })
    }
}

/// Writes the lines of `count` calls of `next` (then those of `finish`), each ending in a newline, as they are
/// made: to stdout (`-`), or to a file, through a temporary file renamed into place at the end (a reader never
/// sees half a file). Memory stays constant whatever `count` is; exit 73 when the file cannot be written.
func writeLines(
    _ count: Int, progress: Progress, bytesPerLine: Int, to file: String, next: () -> [String],
    finish: () -> [String] = { [] }
) throws {
    let output = try LineWriter(path: file)
    defer { progress.finish() }
    do {
        for _ in 0..<count {
            for line in next() { try output.append(line) }
            progress.advance()
        }
        for line in finish() { try output.append(line) }
        try output.close()
    } catch let error as LineWriter.Failure {
        output.abandon()
        Output.error("error: cannot write '\(file)': \(error.reason)")
        throw ExitCode(73)  // EX_CANTCREAT
    }
}
