/// What went wrong in ``DriftDetection``: a configuration value out of range, named by its key.
public enum DriftError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidConfiguration(key: String, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let key, let reason): "invalid configuration '\(key)': \(reason)"
        }
    }
}
