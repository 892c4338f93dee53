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
        benchmark("RaftLogBenchmarks", measuring: "Store", "Raft", "BinaryCoding"),
        benchmark("CodecBenchmarks", measuring: "GRPC", "EtcdProto", "Bench"),
    ]
)

/// A benchmark executable at Benchmarks/NAME, measuring some of Podium's libraries.
func benchmark(_ name: String, measuring libraries: String...) -> Target {
    .executableTarget(
        name: name,
        dependencies: libraries.map { .product(name: $0, package: "Podium") } + [
            .product(name: "Benchmark", package: "benchmark"),
        ],
        path: "Benchmarks/\(name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")])
}
