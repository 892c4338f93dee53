// swift-tools-version: 6.1
// Benchmarks live in their own package so the benchmark library and its plugin stay out of the everyday build
// and CI. Run from this folder: swift package benchmark
import PackageDescription

let package = Package(
    name: "PodiumBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Podium", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "MVCCBenchmarks",
            dependencies: [
                .product(name: "MVCC", package: "Podium"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/MVCCBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
        .executableTarget(
            name: "RaftBenchmarks",
            dependencies: [
                .product(name: "Raft", package: "Podium"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/RaftBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ]
)
