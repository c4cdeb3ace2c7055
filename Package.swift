// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "StreamLearn",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "streamlearn", targets: ["streamlearn"]),
        .library(name: "StreamKafka", targets: ["StreamKafka"]),
        .library(name: "StreamCore", targets: ["StreamCore"]),
        .library(name: "OnlineLearning", targets: ["OnlineLearning"]),
        .library(name: "Simulation", targets: ["Simulation"]),
        .library(name: "DriftDetection", targets: ["DriftDetection"]),
        .library(name: "Alerting", targets: ["Alerting"]),
        .library(name: "StreamPipeline", targets: ["StreamPipeline"]),
        .library(name: "StreamJobs", targets: ["StreamJobs"]),
        .library(name: "KafkaRuntime", targets: ["KafkaRuntime"]),
        .library(name: "StreamOps", targets: ["StreamOps"]),
        .library(name: "StreamScenarios", targets: ["StreamScenarios"]),
        .library(name: "StreamTestKit", targets: ["StreamTestKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Debian's librdkafka-dev 2.0.2; never vendored.
        .systemLibrary(
            name: "CLibrdkafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .target(
            name: "StreamKafka",
            dependencies: [
                "CLibrdkafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The decoder's reusable buffers and the engine's state are class properties read and written per event;
        // those few carry `@exclusivity(unchecked)` (each type belongs to one thread, documented on the type).
        .target(name: "StreamCore"),
        .target(name: "OnlineLearning", dependencies: ["StreamCore"]),
        .target(name: "Simulation", dependencies: ["StreamCore", "OnlineLearning"]),
        .target(name: "DriftDetection", dependencies: ["StreamCore"]),
        .target(
            name: "Alerting",
            dependencies: [
                "DriftDetection", "StreamCore", .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The engine: sources, the per-event step, label joins, detectors, alert raising, the snapshot policy. No
        // Kafka, YAML or HTTP: `learn` runs it on files.
        .target(
            name: "StreamPipeline",
            dependencies: [
                "StreamCore", "OnlineLearning", "DriftDetection", "Alerting",
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // What a job does with a message (scoring, bandit, reinforcement) and its configuration; knows nothing of
        // Kafka (the compiler enforces it: no dependency on StreamKafka).
        .target(
            name: "StreamJobs",
            dependencies: [
                "StreamPipeline", "StreamCore", "OnlineLearning", "Alerting",
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // `streamlearn run`: the loop, its tasks, their state and outputs on Kafka; configuration files.
        .target(
            name: "KafkaRuntime",
            dependencies: [
                "StreamJobs", "StreamPipeline", "StreamCore", "OnlineLearning", "DriftDetection", "Alerting", "StreamKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The ops endpoint (hummingbird): /metrics, /healthz, /readyz, /model, POST /score.
        .target(
            name: "StreamOps",
            dependencies: [
                "KafkaRuntime", "StreamJobs", "StreamCore", "OnlineLearning",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Scenarios: a simulated stream through a job on an embedded broker, expectations, the HTML report.
        .target(
            name: "StreamScenarios",
            dependencies: [
                "KafkaRuntime", "StreamJobs", "StreamPipeline", "Simulation", "OnlineLearning", "StreamCore", "StreamKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // For tests, ours and users': jobs driven without Kafka, a manual clock, in-memory alert sinks.
        .target(
            name: "StreamTestKit",
            dependencies: ["StreamJobs", "StreamPipeline", "StreamCore", "OnlineLearning", "Alerting"]
        ),
        .executableTarget(
            name: "streamlearn",
            dependencies: [
                "StreamKafka",
                "StreamCore",
                "OnlineLearning",
                "Simulation",
                "DriftDetection",
                "Alerting",
                "StreamPipeline",
                "StreamJobs",
                "KafkaRuntime",
                "StreamOps",
                "StreamScenarios",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "StreamKafkaTests",
            dependencies: ["StreamKafka", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "StreamCoreTests", dependencies: ["StreamCore", "Simulation"]),
        .testTarget(name: "OnlineLearningTests", dependencies: ["OnlineLearning", "StreamCore", "Simulation"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "OnlineLearning", "StreamCore"]),
        .testTarget(name: "AlertingTests", dependencies: ["Alerting", "DriftDetection"]),
        .testTarget(
            name: "StreamPipelineTests",
            dependencies: [
                "StreamPipeline", "StreamCore", "OnlineLearning", "DriftDetection", "Alerting", "Simulation", "StreamKafka",
            ]
        ),
        .testTarget(
            name: "StreamJobsTests",
            dependencies: ["StreamJobs", "StreamTestKit", "OnlineLearning", "StreamPipeline", "StreamCore"]
        ),
        .testTarget(
            name: "KafkaRuntimeTests",
            dependencies: [
                "KafkaRuntime", "StreamJobs", "StreamPipeline", "OnlineLearning", "StreamCore", "StreamKafka", "Simulation",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "StreamOpsTests",
            dependencies: [
                "StreamOps", "KafkaRuntime", "StreamJobs", "StreamTestKit", "StreamPipeline", "OnlineLearning", "Alerting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "StreamScenariosTests", dependencies: ["StreamScenarios", "KafkaRuntime"]),
        .testTarget(name: "DriftDetectionTests", dependencies: ["DriftDetection", "Simulation", "OnlineLearning", "StreamCore"]),
        // End-to-end tests of the CLI; depending on the executable makes `swift test` build it.
        .testTarget(
            name: "StreamlearnTests",
            dependencies: [
                "streamlearn", "StreamKafka", "StreamCore", "OnlineLearning", "StreamPipeline", "StreamJobs", "KafkaRuntime",
                "StreamScenarios", "Simulation", "Alerting", "DriftDetection",
            ]
        ),
    ]
)

// Strict settings for every Swift target, as swift-log does.
for target in package.targets where [.executable, .test, .regular].contains(target.type) {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    // SE-0335: require `any` for existential types.
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    // SE-0444: imports are visible only where they are written.
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    // SE-0409: imports are internal unless marked public.
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    // Every public type states whether it is Sendable (the ExplicitSendable group is off by default).
    settings.append(.treatWarning("ExplicitSendable", as: .warning))
    // A clean build, kept so: in debug builds (`make test`, CI) a warning from our own code is an error. Release
    // builds, and packages that depend on this one, only warn.
    settings.append(.treatAllWarnings(as: .error, .when(configuration: .debug)))
    target.swiftSettings = settings
}
