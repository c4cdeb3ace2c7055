import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `--quiet`, for the commands that show progress on long work.
struct ProgressOptions: ParsableArguments {
    @Flag(help: "No progress bar on stderr (there is none when stderr is not a terminal either).")
    var quiet = false

    /// A progress display for `label`, shown only on a terminal and without `--quiet`; with `plainEvery`, a plain
    /// line that often when stderr is not a terminal (a log, CI).
    func progress(_ label: String, total: Int?, unit: String, plainEvery: Duration? = nil) -> Progress {
        let terminal = isatty(STDERR_FILENO) == 1
        return Progress(
            label, total: total, unit: unit, enabled: !quiet && (terminal || plainEvery != nil),
            plainEvery: terminal ? nil : plainEvery)
    }
}

/// A one-line progress display on stderr: done, rate, and with a known total a bar, the percentage and the time
/// left. Redrawn at most five times a second; a count costs an integer increment and a comparison.
final class Progress {
    private let label: String
    private let total: Int?
    private let unit: String
    private let enabled: Bool
    /// Plain lines this often instead of a redrawn bar.
    private let plainEvery: Duration?
    private let start = ContinuousClock.now
    private var lastDraw = ContinuousClock.now
    private(set) var count = 0
    private var nextCheck = 0
    private var drawn = false

    init(_ label: String, total: Int?, unit: String, enabled: Bool, plainEvery: Duration? = nil) {
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.plainEvery = plainEvery
        nextCheck = enabled ? 0 : .max
    }

    /// Sets the count (work reported as a running total).
    func set(_ value: Int) { advance(value - count) }

    @inline(__always)
    func advance(_ amount: Int = 1) {
        count &+= amount
        if count >= nextCheck { check() }
    }

    private func check() {
        nextCheck = count + (plainEvery == nil ? 256 : 1)
        let now = ContinuousClock.now
        guard now - lastDraw >= plainEvery ?? .milliseconds(200) else { return }
        lastDraw = now
        draw(now)
    }

    private func draw(_ now: ContinuousClock.Instant) {
        let elapsed = max((now - start).seconds, 1e-3)
        let rate = Double(count) / elapsed
        var line = "\(label)  "
        if let total, total > 0 {
            let fraction = min(Double(count) / Double(total), 1)
            let filled = Int(fraction * 24)
            line += "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: 24 - filled) + "] "
            line += String(format: "%3.0f%%  ", fraction * 100)
            line += "\(Self.grouped(count))/\(Self.grouped(total)) \(unit)  \(Self.grouped(Int(rate)))/s"
            if rate > 0 && count < total { line += "  ETA \(Self.duration(Double(total - count) / rate))" }
        } else {
            line += "\(Self.grouped(count)) \(unit)  \(Self.grouped(Int(rate)))/s"
        }
        if plainEvery != nil {
            FileHandle.standardError.write(Data((line + "\n").utf8))
            return
        }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        drawn = true
    }

    /// Clears the line (the command's own output follows).
    func finish() {
        guard enabled && drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value)
        var result = ""
        for (index, character) in digits.reversed().enumerated() {
            if index > 0 && index % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return String(result.reversed())
    }

    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        return whole < 60 ? "\(whole) s" : "\(whole / 60) min \(whole % 60) s"
    }
}
