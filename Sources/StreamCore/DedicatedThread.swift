import Foundation

/// Runs blocking work (librdkafka polls and flushes) on a new thread of its own and awaits its result, keeping
/// Swift's cooperative thread pool free.
public func runOnDedicatedThread<Result: Sendable>(
    name: String = "streamlearn.kafka",
    _ body: @escaping @Sendable () throws -> Result
) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Swift.Result { try body() })
        }
        thread.name = name
        thread.start()
    }
}
