import ArgumentParser
import Bench
import EtcdProto
import Foundation
import GRPC
import SwiftProtobuf

/// `podium bench`: load against any etcd v3 endpoints (Podium's or etcd's), in the manner of etcd's
/// tools/benchmark: many clients sharing few HTTP/2 connections, each client one request at a time.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark an etcd v3 API (Podium's or etcd's).",
        subcommands: [BenchPut.self, BenchRange.self, BenchTxnPut.self, BenchDelete.self, BenchWatch.self,
                      BenchWatchLatency.self, BenchWatchCatchup.self, BenchLeaseKeepAlive.self, BenchAPI.self,
                      BenchScheduler.self, BenchDeploy.self])
}

struct BenchOptions: ParsableArguments {
    @Option(help: "Comma-separated client URLs (HOST:PORT or http://HOST:PORT).")
    var endpoints = "127.0.0.1:2379"

    @Option(help: "all: spread connections over the endpoints; leader: use only the endpoint that leads.")
    var target = "all"

    @Option(help: "HTTP/2 connections.")
    var conns = 1

    @Option(help: "Concurrent clients (each with one request in flight), spread over the connections.")
    var clients = 1

    @Option(help: "Requests in all (default 10000 unless --duration is given).")
    var total: Int?

    @Option(help: "Seconds to run, instead of a number of requests.")
    var duration: Double?

    @Option(help: "Requests per second across all clients (default: as fast as answered).")
    var rate: Double?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Flag(name: .customLong("no-progress"), help: "Do not draw the progress bar.")
    var noProgress = false

    func validate() throws {
        guard target == "all" || target == "leader" else { throw ValidationError("--target must be all or leader") }
    }

    func shape() async throws -> LoadShape {
        var endpoints = try Endpoint.list(self.endpoints)
        if target == "leader" { endpoints = [try await Endpoint.leader(among: endpoints)] }
        let shape = LoadShape(endpoints: endpoints, connections: conns, clients: clients,
                              total: total ?? (duration == nil ? 10_000 : nil), duration: duration, rate: rate,
                              progress: !noProgress && !json)
        try shape.validate()
        return shape
    }

    func print(_ report: BenchReport) throws {
        Swift.print(json ? report.json() : report.text())
        if report.succeeded == 0 { throw ExitCode.failure }
    }
}

struct KeyOptions: ParsableArguments {
    @Option(name: .customLong("key-size"), help: "Key size in bytes.")
    var keySize = 8

    @Option(name: .customLong("val-size"), help: "Value size in bytes.")
    var valueSize = 256

    @Option(name: .customLong("key-space-size"), help: "Distinct keys written.")
    var keySpaceSize = 1

    @Flag(name: .customLong("sequential-keys"), help: "Write keys in order rather than at random.")
    var sequentialKeys = false

    func validate() throws {
        guard keySize > 0, valueSize >= 0, keySpaceSize > 0 else {
            throw ValidationError("--key-size and --key-space-size must be positive, --val-size not negative")
        }
    }

    func key(_ index: Int) -> Data {
        KeyNames.binary(sequentialKeys ? index % keySpaceSize : Int.random(in: 0..<keySpaceSize), size: keySize)
    }

    /// `count` distinct keys for one request (a transaction may not name a key twice).
    func keys(_ index: Int, count: Int) -> [Data] {
        let first = sequentialKeys ? index * count : Int.random(in: 0..<keySpaceSize)
        return (0..<count).map { KeyNames.binary((first + $0) % keySpaceSize, size: keySize) }
    }
}

struct BenchPut: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "put", abstract: "Puts of --val-size bytes.")

    @OptionGroup var options: BenchOptions
    @OptionGroup var keys: KeyOptions

    func run() async throws {
        let keys = self.keys
        let value = Data(repeating: UInt8(ascii: "v"), count: keys.valueSize)
        let report = try await RequestLoad(shape: try await options.shape(), path: "/etcdserverpb.KV/Put") { index in
            var request = Etcdserverpb_PutRequest()
            request.key = keys.key(index)
            request.value = value
            return try request.grpcMessage()
        }.run(workload: "put")
        try options.print(report)
    }
}

struct BenchTxnPut: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "txn-put",
                                                    abstract: "Transactions of --txn-ops puts each.")

    @OptionGroup var options: BenchOptions
    @OptionGroup var keys: KeyOptions

    @Option(name: .customLong("txn-ops"), help: "Puts per transaction.")
    var txnOps = 1

    func validate() throws {
        guard txnOps > 0, txnOps <= keys.keySpaceSize else {
            throw ValidationError("--txn-ops must be between 1 and --key-space-size (a transaction cannot repeat a key)")
        }
    }

    func run() async throws {
        let keys = self.keys
        let ops = txnOps
        let value = Data(repeating: UInt8(ascii: "v"), count: keys.valueSize)
        let report = try await RequestLoad(shape: try await options.shape(), path: "/etcdserverpb.KV/Txn") { index in
            var request = Etcdserverpb_TxnRequest()
            request.success = keys.keys(index, count: ops).map { key in
                var operation = Etcdserverpb_RequestOp()
                operation.requestPut.key = key
                operation.requestPut.value = value
                return operation
            }
            return try request.grpcMessage()
        }.run(workload: "txn-put")
        try options.print(report)
    }
}

struct BenchRange: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "range", abstract: "Reads of a key or a range.")

    @OptionGroup var options: BenchOptions

    @Argument(help: "The key to read.")
    var key = "foo"

    @Argument(help: "The end of the range (exclusive); none reads one key.")
    var end: String?

    @Option(help: "l: linearizable (ReadIndex), s: serializable (local).")
    var consistency = "l"

    func validate() throws {
        guard consistency == "l" || consistency == "s" else { throw ValidationError("--consistency must be l or s") }
    }

    func run() async throws {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data(key.utf8)
        request.rangeEnd = Data((end ?? "").utf8)
        request.serializable = consistency == "s"
        let encoded = try request.grpcMessage()
        let report = try await RequestLoad(shape: try await options.shape(), path: "/etcdserverpb.KV/Range") { _ in
            encoded
        }.run(workload: consistency == "l" ? "range (linearizable)" : "range (serializable)")
        try options.print(report)
    }
}

struct BenchDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Writes --total keys (not timed), then deletes them one request each.")

    @OptionGroup var options: BenchOptions

    @Option(name: .customLong("key-size"), help: "Key size in bytes.")
    var keySize = 8

    func run() async throws {
        let shape = try await options.shape()
        guard let total = shape.total else { throw ValidationError("delete needs --total, not --duration") }
        let keySize = self.keySize
        var fill = shape
        fill.rate = nil
        fill.progress = false
        let written = try await RequestLoad(shape: fill, path: "/etcdserverpb.KV/Put") { index in
            var request = Etcdserverpb_PutRequest()
            request.key = KeyNames.binary(index, size: keySize)
            return try request.grpcMessage()
        }.run(workload: "delete (writing keys)")
        guard written.succeeded == total else {
            throw ValidationError("could not write the keys to delete: \(written.errors)")
        }
        let report = try await RequestLoad(shape: shape, path: "/etcdserverpb.KV/DeleteRange") { index in
            var request = Etcdserverpb_DeleteRangeRequest()
            request.key = KeyNames.binary(index, size: keySize)
            return try request.grpcMessage()
        }.run(workload: "delete")
        try options.print(report)
    }
}

struct WatchOptions: ParsableArguments {
    @Option(help: "Watchers (receiving every event on their key).")
    var watchers = 1000

    @Option(help: "Watch streams the watchers share.")
    var streams = 10

    @Option(name: .customLong("watch-conns"), help: "Connections the watch streams share.")
    var watchConns = 1

    @Option(name: .customLong("watched-keys"), help: "Keys watched and written (watcher i and put i use key i mod this).")
    var watchedKeys = 1

    @Option(name: .customLong("stalled-watchers"), help: "Further watchers on a connection that never reads.")
    var stalledWatchers = 0

    @Option(name: .customLong("key-size"), help: "Key size in bytes.")
    var keySize = 8

    @Option(name: .customLong("val-size"), help: "Value size in bytes (at least 8: the value carries the send time).")
    var valueSize = 256
}

struct BenchWatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Watch fan-out: events per second delivered to many watchers while puts run.",
        discussion: "--conns/--clients/--total/--rate shape the puts; delivery latency is from each put's request.")

    @OptionGroup var options: BenchOptions
    @OptionGroup var watch: WatchOptions

    func run() async throws {
        let report = try await WatchLoad(shape: try await options.shape(), watchers: watch.watchers,
                                         streams: watch.streams, watchConnections: watch.watchConns,
                                         keys: watch.watchedKeys, stalledWatchers: watch.stalledWatchers,
                                         keySize: watch.keySize, valueSize: watch.valueSize).run(workload: "watch")
        try options.print(report)
    }
}

struct BenchWatchLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch-latency",
        abstract: "Put → event latency at a fixed put rate (default 100 puts/s, 100 watchers on one key).")

    @OptionGroup var options: BenchOptions

    @Option(help: "Watchers on the key.")
    var watchers = 100

    @Option(name: .customLong("val-size"), help: "Value size in bytes (at least 8).")
    var valueSize = 256

    func run() async throws {
        var shape = try await options.shape()
        if options.rate == nil { shape.rate = 100 }
        if options.total == nil, options.duration == nil { shape.total = 1000 }
        let report = try await WatchLoad(shape: shape, watchers: watchers, streams: min(watchers, 10),
                                         watchConnections: 1, keys: 1, stalledWatchers: 0, keySize: 8,
                                         valueSize: valueSize).run(workload: "watch-latency")
        try options.print(report)
    }
}

struct BenchWatchCatchup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch-catchup",
        abstract: "Writes --revisions revisions, then times one watcher replaying them from history.",
        discussion: "--conns/--clients shape the writes; the watcher uses the first endpoint.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Revisions to catch up.")
    var revisions = 100_000

    @Option(name: .customLong("val-size"), help: "Value size in bytes.")
    var valueSize = 256

    func run() async throws {
        let report = try await WatchCatchup(shape: try await options.shape(), revisions: revisions, keySize: 8,
                                            valueSize: valueSize).run(workload: "watch-catchup")
        try options.print(report)
    }
}

struct BenchLeaseKeepAlive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lease-keepalive",
        abstract: "Each client grants a lease and renews it over its own keep-alive stream, one renewal at a time.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Lease TTL in seconds.")
    var ttl: Int64 = 60

    func validate() throws {
        guard options.rate == nil else { throw ValidationError("lease-keepalive does not take --rate") }
    }

    func run() async throws {
        let report = try await KeepAliveLoad(shape: try await options.shape(), ttl: ttl).run(workload: "lease-keepalive")
        try options.print(report)
    }
}
