extension Duration {
    /// The duration in seconds, as a `Double` (for rates, timeouts given to Foundation, and messages).
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
