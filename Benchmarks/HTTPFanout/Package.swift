// swift-tools-version: 6.1
import PackageDescription

// The watch fan-out path on two HTTP stacks — SwiftNIO's HTTP/1.1 handlers used directly (as Podium's API server
// does) and Hummingbird 2 — measured the same way: server CPU per delivered event and delivery latency. A
// package of its own, so Podium's build and CI do not carry Hummingbird.
let package = Package(
    name: "HTTPFanout",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        .executableTarget(
            name: "http-fanout",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
