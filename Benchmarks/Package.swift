// swift-tools-version:6.1
// Benchmarks of StreamLearn's library paths, beside the product rather than in it: `streamlearn-bench` (the
// Kafka transport, the event decoder, the learners) and allocation counts of the hot paths, with ordo-one's
// malloc-interposer (the counter behind package-benchmark's malloc metrics). Run them with `make bench-kafka`,
// `make bench-decode`, `make bench-learn` and `make bench-allocations` from the repository root.
import PackageDescription

import struct Foundation.URL

// A path dependency is identified by its folder's name, which is whatever the clone was called.
let streamLearn = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

let package = Package(
    name: "StreamLearnBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .executableTarget(
            name: "Allocations",
            dependencies: [
                .product(name: "StreamCore", package: streamLearn),
                .product(name: "OnlineLearning", package: streamLearn),
                .product(name: "DriftDetection", package: streamLearn),
                .product(name: "Simulation", package: streamLearn),
                .product(name: "StreamPipeline", package: streamLearn),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ]
        ),
        .executableTarget(
            name: "streamlearn-bench",
            dependencies: [
                .product(name: "StreamCore", package: streamLearn),
                .product(name: "StreamKafka", package: streamLearn),
                .product(name: "OnlineLearning", package: streamLearn),
                .product(name: "DriftDetection", package: streamLearn),
                .product(name: "Simulation", package: streamLearn),
                .product(name: "StreamPipeline", package: streamLearn),
                .product(name: "StreamJobs", package: streamLearn),
                .product(name: "KafkaRuntime", package: streamLearn),
                .product(name: "StreamOps", package: streamLearn),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/StreamLearnBench",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "StreamLearnBenchTests",
            dependencies: ["streamlearn-bench", .product(name: "Simulation", package: streamLearn)],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
