extension Duration {
    /// The duration in seconds, as a `Double` (for rates, timeouts given to Foundation, and messages).
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
