/// Why a pipeline cannot start or go on; the message names the file, key, option or snapshot at fault.
///
/// Codes are opaque and open: new ones may come without breaking callers (swift-service-lifecycle's style).
public struct PipelineError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let name: String

        /// An input that cannot be opened (missing, unreadable, a directory).
        public static let cannotOpenInput = Code(name: "cannot-open-input")
        /// Reading an input failed part way.
        public static let readFailed = Code(name: "read-failed")
        /// A snapshot's position does not fit the input given: another file, a shortened one, stdin.
        public static let inputMismatch = Code(name: "input-mismatch")
        /// A snapshot that cannot be read or used.
        public static let snapshotRefused = Code(name: "snapshot-refused")
        /// A snapshot that cannot be written.
        public static let snapshotWriteFailed = Code(name: "snapshot-write-failed")
        /// A configuration value out of range.
        public static let invalidConfiguration = Code(name: "invalid-configuration")

        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
