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
        benchmark("MVCCBenchmarks", measuring: "MVCC"),
        benchmark("RaftBenchmarks", measuring: "Raft"),
    ]
)

/// A benchmark executable at Benchmarks/NAME, measuring one of Podium's libraries.
func benchmark(_ name: String, measuring library: String) -> Target {
    .executableTarget(
        name: name,
        dependencies: [
            .product(name: library, package: "Podium"),
            .product(name: "Benchmark", package: "benchmark"),
        ],
        path: "Benchmarks/\(name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")])
}
