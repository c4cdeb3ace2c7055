public import ServiceLifecycle
import StreamCore
import Synchronization

/// The runtime as a swift-service-lifecycle `Service`: its loop runs on a thread of its own (librdkafka calls
/// block), and graceful shutdown (SIGTERM, SIGINT in a `ServiceGroup`) or the task's cancellation asks it to stop
/// fetching, commit, write its snapshot and close.
public final class RuntimeService: Service, Sendable {
    public let runtime: StreamRuntime
    private let result = Mutex<StreamRuntime.Summary?>(nil)

    public init(runtime: StreamRuntime) {
        self.runtime = runtime
    }

    /// What the run did, once ``run()`` returned.
    public var summary: StreamRuntime.Summary? { result.withLock { $0 } }

    public func run() async throws {
        let runtime = runtime
        let summary = try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await runOnDedicatedThread(name: "streamlearn.runtime") { try runtime.run() }
            } onGracefulShutdown: {
                runtime.requestStop()
            }
        } onCancel: {
            runtime.requestStop()
        }
        result.withLock { $0 = summary }
    }
}
