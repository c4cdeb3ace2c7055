import Foundation

/// A chart drawn as inline SVG: lines (with optional bands), vertical markers, horizontal reference lines, or
/// grouped bars; labelled axes with round ticks and a legend. No script, no network.
struct SVGChart {
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
        /// A shaded band around the line (lower and upper at each point), e.g. the range over seeds.
        var band: [(x: Double, low: Double, high: Double)] = []
        var width = 1.8
        var dashed = false
    }

    struct Marker {
        var x: Double
        var label: String
        var color: String
    }

    struct Rule {
        var y: Double
        var label: String
        var color: String
    }

    var id: String
    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series] = []
    var markers: [Marker] = []
    var rules: [Rule] = []
    /// Grouped bars instead of lines: categories along x, one bar per series.
    var bars: (categories: [String], values: [[Double]])?
    /// Error bars on the grouped bars, as `bars.values` (`nil`: none for that bar), e.g. a confidence interval.
    var errorBars: [[ClosedRange<Double>?]] = []
    var yRange: ClosedRange<Double>?
    var width = 860.0
    var height = 300.0

    private let left = 64.0, right = 16.0, top = 50.0, bottom = 46.0

    func svg() -> String {
        var out = "<svg id=\"\(id)\" class=\"chart\" viewBox=\"0 0 \(f(width)) \(f(height))\" width=\"\(f(width))\" height=\"\(f(height))\" role=\"img\" aria-label=\"\(escape(title))\">"
        out += "<text x=\"\(f(left))\" y=\"20\" class=\"title\">\(escape(title))</text>"
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        if let bars {
            out += barsSVG(bars, plotWidth: plotWidth, plotHeight: plotHeight)
        } else {
            out += linesSVG(plotWidth: plotWidth, plotHeight: plotHeight)
        }
        out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 8))\" class=\"axis-label\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        out += "<text transform=\"translate(14 \(f(top + plotHeight / 2))) rotate(-90)\" class=\"axis-label\" text-anchor=\"middle\">\(escape(yLabel))</text>"
        // Legend, under the title.
        var x = left
        for item in series.filter({ !$0.name.isEmpty }).map({ ($0.name, $0.color) }) {
            out += "<rect x=\"\(f(x))\" y=\"31\" width=\"14\" height=\"4\" fill=\"\(item.1)\"/>"
            out += "<text x=\"\(f(x + 18))\" y=\"37\" class=\"legend\">\(escape(item.0))</text>"
            x += Double(item.0.count) * 6.4 + 32
        }
        return out + "</svg>"
    }

    private func linesSVG(plotWidth: Double, plotHeight: Double) -> String {
        let xs = series.flatMap { $0.points.map(\.x) } + markers.map(\.x)
        let ys = series.flatMap { $0.points.map(\.y) } + series.flatMap { $0.band.flatMap { [$0.low, $0.high] } }
            + rules.map(\.y)
        let xRange = Self.range(xs.filter(\.isFinite), fallback: 0...1)
        let yRange = self.yRange ?? Self.range(ys.filter(\.isFinite), fallback: 0...1, pad: true)
        let xTicks = Self.ticks(xRange)
        let yTicks = Self.ticks(yRange)
        let x0 = xTicks.first!, x1 = xTicks.last!, y0 = yTicks.first!, y1 = yTicks.last!
        func px(_ x: Double) -> Double { left + (x - x0) / max(x1 - x0, 1e-12) * plotWidth }
        func py(_ y: Double) -> Double { top + plotHeight - (min(max(y, y0), y1) - y0) / max(y1 - y0, 1e-12) * plotHeight }
        var out = "<g class=\"grid\">"
        for tick in yTicks {
            out += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(py(tick)))\" y2=\"\(f(py(tick)))\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\" class=\"tick\">\(Self.label(tick))</text>"
        }
        for tick in xTicks {
            out += "<line x1=\"\(f(px(tick)))\" x2=\"\(f(px(tick)))\" y1=\"\(f(top))\" y2=\"\(f(top + plotHeight))\"/>"
            out += "<text x=\"\(f(px(tick)))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\" class=\"tick\">\(Self.label(tick))</text>"
        }
        out += "</g>"
        for rule in rules {
            out += "<line class=\"rule\" x1=\"\(f(left))\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(py(rule.y)))\" y2=\"\(f(py(rule.y)))\" stroke=\"\(rule.color)\"/>"
            out += "<text x=\"\(f(left + plotWidth - 4))\" y=\"\(f(py(rule.y) - 4))\" text-anchor=\"end\" class=\"rule-label\" fill=\"\(rule.color)\">\(escape(rule.label))</text>"
        }
        for series in self.series where !series.band.isEmpty {
            let upper = series.band.map { "\(f(px($0.x))),\(f(py($0.high)))" }
            let lower = series.band.reversed().map { "\(f(px($0.x))),\(f(py($0.low)))" }
            out += "<polygon class=\"band\" points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(series.color)\"/>"
        }
        for series in self.series where !series.points.isEmpty {
            let points = series.points.filter { $0.y.isFinite }.map { "\(f(px($0.x))),\(f(py($0.y)))" }
            out += "<polyline class=\"series\" data-series=\"\(escape(series.name))\" points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"\(series.width)\"\(series.dashed ? " stroke-dasharray=\"5 4\"" : "")/>"
        }
        for (index, marker) in markers.enumerated() {
            let x = px(marker.x)
            out += "<line class=\"marker\" x1=\"\(f(x))\" x2=\"\(f(x))\" y1=\"\(f(top))\" y2=\"\(f(top + plotHeight))\" stroke=\"\(marker.color)\"/>"
            out += "<text x=\"\(f(x + 3))\" y=\"\(f(top + 12 + Double(index % 4) * 12))\" class=\"marker-label\" fill=\"\(marker.color)\">\(escape(marker.label))</text>"
        }
        out += "<rect class=\"frame\" x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\"/>"
        return out
    }

    private func barsSVG(_ bars: (categories: [String], values: [[Double]]), plotWidth: Double, plotHeight: Double) -> String {
        // Bars stand on zero, up or down.
        let values = (bars.values.flatMap { $0 } + errorBars.flatMap { $0.compactMap { $0 }.flatMap { [$0.lowerBound, $0.upperBound] } })
            .filter(\.isFinite)
        let yTicks = Self.ticks(min(values.min() ?? 0, 0)...max(values.max() ?? 1, 1e-9))
        let y0 = yTicks.first!, y1 = yTicks.last!
        func py(_ y: Double) -> Double { top + plotHeight - (y - y0) / max(y1 - y0, 1e-12) * plotHeight }
        var out = "<g class=\"grid\">"
        for tick in yTicks {
            out += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(py(tick)))\" y2=\"\(f(py(tick)))\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\" class=\"tick\">\(Self.label(tick))</text>"
        }
        out += "</g>"
        let groupWidth = plotWidth / Double(max(bars.categories.count, 1))
        let barWidth = groupWidth * 0.8 / Double(max(series.count, 1))
        for (category, name) in bars.categories.enumerated() {
            let x = left + Double(category) * groupWidth
            for (index, series) in series.enumerated() where category < bars.values[index].count {
                let value = bars.values[index][category]
                let (upper, lower) = (py(max(value, 0)), py(min(value, 0)))
                let barX = x + groupWidth * 0.1 + Double(index) * barWidth
                out += "<rect class=\"bar\" x=\"\(f(barX))\" y=\"\(f(upper))\" width=\"\(f(barWidth))\" height=\"\(f(lower - upper))\" fill=\"\(series.color)\"/>"
                if index < errorBars.count, category < errorBars[index].count, let error = errorBars[index][category] {
                    let (middle, cap) = (barX + barWidth / 2, barWidth * 0.2)
                    let (high, low) = (py(error.upperBound), py(error.lowerBound))
                    out += "<path class=\"error-bar\" d=\"M\(f(middle)),\(f(high))V\(f(low))M\(f(middle - cap)),\(f(high))H\(f(middle + cap))M\(f(middle - cap)),\(f(low))H\(f(middle + cap))\" stroke=\"#222\" fill=\"none\"/>"
                }
            }
            if bars.categories.count <= 12 || category % max(bars.categories.count / 10, 1) == 0 {
                out += "<text x=\"\(f(x + groupWidth / 2))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\" class=\"tick\">\(escape(name))</text>"
            }
        }
        out += "<rect class=\"frame\" x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\"/>"
        return out
    }

    // MARK: - Scales

    static func range(_ values: [Double], fallback: ClosedRange<Double>, pad: Bool = false) -> ClosedRange<Double> {
        guard let low = values.min(), let high = values.max() else { return fallback }
        if low == high { return (low - 1)...(high + 1) }
        let margin = pad ? (high - low) * 0.05 : 0
        // Quantities that cannot be negative keep their axis at zero.
        return (low >= 0 ? max(low - margin, 0) : low - margin)...(high + margin)
    }

    /// Round ticks covering `range` (about five).
    static func ticks(_ range: ClosedRange<Double>) -> [Double] {
        let span = range.upperBound - range.lowerBound
        let raw = span / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        let first = floor(range.lowerBound / step) * step
        var ticks: [Double] = []
        var value = first
        while value < range.upperBound + step * 0.999 {
            ticks.append(abs(value) < step * 1e-9 ? 0 : value)
            if value >= range.upperBound { break }
            value += step
        }
        return ticks.count >= 2 ? ticks : [first, first + step]
    }

    static func label(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude >= 1_000_000 { return ScenarioFormat.number(value / 1_000_000) + "M" }
        if magnitude >= 10_000 { return ScenarioFormat.number(value / 1_000) + "k" }
        if value == value.rounded() { return String(Int64(value)) }
        return String(format: magnitude < 0.1 ? "%.3f" : "%.2f", value)
    }

    private func f(_ value: Double) -> String { String(format: "%.1f", value.isFinite ? value : 0) }
}

func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
