// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Podium",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "podium", targets: ["podium"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "MVCC", targets: ["MVCC"]),
        .library(name: "Raft", targets: ["Raft"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .systemLibrary(name: "CRocksDB", providers: [.apt(["librocksdb-dev"])]),
        .target(name: "Storage", dependencies: ["CRocksDB"]),
        .target(name: "MVCC", dependencies: ["Storage"]),
        .target(name: "BinaryCoding"),
        .target(name: "Raft", dependencies: ["BinaryCoding"]),
        .target(name: "Store", dependencies: [
            "Raft", "MVCC", "Storage", "PeerTransport", "BinaryCoding",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "PeerTransport", dependencies: [
            "Raft", "BinaryCoding",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The deterministic cluster simulator: used by the tests and by `raft-sim` for long runs.
        .target(name: "RaftSimulation", dependencies: ["Raft"]),
        .executableTarget(name: "raft-sim", dependencies: [
            "RaftSimulation",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "podium", dependencies: [
            "MVCC",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Test support: an in-memory reference model of the MVCC store and a seeded workload generator,
        // shared by the model-based tests and the crash-test child process.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .target(name: "MVCCModel", dependencies: ["MVCC", "TestSupport"], path: "Tests/MVCCModel"),
        .executableTarget(name: "mvcc-crash-writer", dependencies: ["MVCC", "MVCCModel"],
                          path: "Tests/CrashWriter"),
        .testTarget(name: "RaftTests", dependencies: ["Raft", "RaftSimulation"]),
        .testTarget(name: "PeerTransportTests", dependencies: [
            "PeerTransport", "Raft", "BinaryCoding",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "StoreTests", dependencies: [
            "Store", "Raft", "Storage", "MVCC", "MVCCModel", "TestSupport", "BinaryCoding",
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "TestSupport"]),
        .testTarget(name: "MVCCTests", dependencies: ["MVCC", "MVCCModel", "Storage", "TestSupport"]),
    ]
)
