// swift-tools-version:6.1
// Allocation counts of StreamLearn's hot paths, with ordo-one's malloc-interposer (the counter behind
// package-benchmark's malloc metrics). Run with `make bench-allocations` from the repository root.
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
    ],
    targets: [
        .executableTarget(
            name: "Allocations",
            dependencies: [
                .product(name: "StreamCore", package: streamLearn),
                .product(name: "OnlineLearning", package: streamLearn),
                .product(name: "DriftDetection", package: streamLearn),
                .product(name: "Simulation", package: streamLearn),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ]
        )
    ]
)
