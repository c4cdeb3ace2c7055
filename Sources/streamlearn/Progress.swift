import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `--quiet`, for the commands that show progress on long work.
struct ProgressOptions: ParsableArguments {
    @Flag(help: "No progress bar on stderr (there is none when stderr is not a terminal either).")
    var quiet = false

    /// A progress display for `label`, shown only on a terminal and without `--quiet`.
    func progress(_ label: String, total: Int?, unit: String) -> Progress {
        Progress(label, total: total, unit: unit, enabled: !quiet && isatty(STDERR_FILENO) == 1)
    }
}

/// A one-line progress display on stderr: done, rate, and with a known total a bar, the percentage and the time
/// left. Redrawn at most five times a second; a count costs an integer increment and a comparison.
final class Progress {
    private let label: String
    private let total: Int?
    private let unit: String
    private let enabled: Bool
    private let start = ContinuousClock.now
    private var lastDraw = ContinuousClock.now
    private(set) var count = 0
    private var nextCheck = 0
    private var drawn = false

    init(_ label: String, total: Int?, unit: String, enabled: Bool) {
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled
        nextCheck = enabled ? 0 : .max
    }

    @inline(__always)
    func advance(_ amount: Int = 1) {
        count &+= amount
        if count >= nextCheck { check() }
    }

    private func check() {
        nextCheck = count + 256
        let now = ContinuousClock.now
        guard now - lastDraw >= .milliseconds(200) else { return }
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
