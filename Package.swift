// swift-tools-version:6.1
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
        .target(
            name: "StreamCore",
            swiftSettings: [
                // The decoder's reusable buffers are class properties; dynamic exclusivity checks on every append
                // cost more than the parsing itself. Access is single-threaded by design (documented per type).
                .unsafeFlags(["-enforce-exclusivity=unchecked"])
            ]
        ),
        .target(name: "OnlineLearning", dependencies: ["StreamCore"]),
        .target(name: "Simulation", dependencies: ["StreamCore", "OnlineLearning"]),
        .target(name: "DriftDetection", dependencies: ["StreamCore"]),
        .target(
            name: "Alerting",
            dependencies: [
                "DriftDetection", "StreamCore", "StreamKafka", .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The engine: sources, the per-event step, label joins, detectors, alert raising, the snapshot policy, and
        // the runtime that runs it on Kafka topics (`streamlearn run`).
        .target(
            name: "StreamPipeline",
            dependencies: [
                "StreamCore", "OnlineLearning", "DriftDetection", "Alerting", "StreamKafka",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: [
                // A pipeline and the events it reads belong to one thread; dynamic exclusivity checks on the
                // per-record step (the event's fields, the pipeline's state) cost about a tenth of `learn`'s time.
                .unsafeFlags(["-enforce-exclusivity=unchecked"])
            ]
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
        .testTarget(name: "DriftDetectionTests", dependencies: ["DriftDetection", "Simulation", "OnlineLearning", "StreamCore"]),
        // End-to-end tests of the CLI; depending on the executable makes `swift test` build it.
        .testTarget(
            name: "StreamlearnTests",
            dependencies: [
                "streamlearn", "StreamKafka", "StreamCore", "OnlineLearning", "StreamPipeline", "Simulation", "Alerting",
                "DriftDetection",
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
    // Every public type states whether it is Sendable.
    settings.append(.unsafeFlags(["-Xfrontend", "-require-explicit-sendable"]))
    target.swiftSettings = settings
}
