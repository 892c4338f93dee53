import EtcdProto
import Foundation
import GRPC
import NIOCore
import Synchronization

/// Watch fan-out: many watchers on a set of keys, puts to those keys (at `--rate` if given), and how many events
/// per second reach the watchers and how long each took from its put's request to its delivery. Optionally some
/// further watchers on connections that never read, to show that a stalled watcher does not slow writes.
public struct WatchLoad: Sendable {
    public var shape: LoadShape
    public var watchers: Int
    /// Watch streams; watchers are spread over them, and streams over `watchConnections`.
    public var streams: Int
    public var watchConnections: Int
    /// Watched keys; watcher i watches key i % keys, put i writes key i % keys.
    public var keys: Int
    public var stalledWatchers: Int
    public var keySize: Int
    public var valueSize: Int

    public init(shape: LoadShape, watchers: Int, streams: Int, watchConnections: Int, keys: Int, stalledWatchers: Int,
                keySize: Int, valueSize: Int) {
        self.shape = shape
        self.watchers = watchers
        self.streams = streams
        self.watchConnections = watchConnections
        self.keys = keys
        self.stalledWatchers = stalledWatchers
        self.keySize = keySize
        self.valueSize = valueSize
    }

    func validate() throws {
        try shape.validate()
        guard watchers > 0, keys > 0 else { throw BenchError("--watchers and --watched-keys must be positive") }
        guard streams > 0, streams <= watchers else { throw BenchError("--streams must be between 1 and --watchers") }
        guard watchConnections > 0, watchConnections <= streams else {
            throw BenchError("--watch-conns must be between 1 and --streams")
        }
        guard stalledWatchers >= 0 else { throw BenchError("--stalled-watchers cannot be negative") }
        guard valueSize >= 8 else { throw BenchError("--val-size must be at least 8 (the value carries the send time)") }
    }

    func key(_ index: Int) -> [UInt8] {
        KeyNames.key(index, size: keySize, prefix: "w")
    }

    public func run(workload: String) async throws -> BenchReport {
        try validate()
        return try await withEventLoopGroup(threads: shape.connections + watchConnections) { group in
            try await run(workload: workload, group: group)
        }
    }

    func run(workload: String, group: EventLoopGroup) async throws -> BenchReport {
        var watchShape = shape
        watchShape.connections = watchConnections
        let watchChannels = try await connect(watchShape, group: group)
        defer { closeAll(watchChannels) }
        var sinks: [WatchStreamSink] = []
        for stream in 0..<streams {
            let specs = stride(from: stream, to: watchers, by: streams).map { WatchStreamSink.WatchSpec(key: key($0 % keys)) }
            sinks.append(WatchStreamSink(channel: watchChannels[stream % watchChannels.count], watchers: specs))
        }
        var stalledChannels: [GRPCChannel] = []
        defer { closeAll(stalledChannels) }
        if stalledWatchers > 0 {
            var stalledShape = shape
            stalledShape.connections = 1
            stalledChannels = try await connect(stalledShape, group: group)
            let specs = (0..<stalledWatchers).map { WatchStreamSink.WatchSpec(key: key($0 % keys)) }
            let stalled = WatchStreamSink(channel: stalledChannels[0], watchers: specs)
            stalled.open()
            try await stalled.ready.futureResult.get()
            try await stalledChannels[0].stopReading()
        }
        for sink in sinks { sink.open() }
        for sink in sinks { try await sink.ready.futureResult.get() }

        let delivered = Counter()
        let expected = Counter()
        for sink in sinks {
            try await sink.channel.eventLoop.submit { sink.onEvents = { delivered.add($0) } }.get()
        }
        var watchersOnKey = Array(repeating: 0, count: keys)
        for index in 0..<watchers { watchersOnKey[index % keys] += 1 }
        let fanOut = watchersOnKey
        let keyCount = keys
        let valueSize = self.valueSize
        let keyNames = (0..<keys).map { Data(key($0)) }
        let puts = RequestLoad(shape: shape, path: "/etcdserverpb.KV/Put", makeRequest: { index in
            var request = Etcdserverpb_PutRequest()
            request.key = keyNames[index % keyCount]
            request.value = WatchValue.make(size: valueSize)
            return try request.grpcMessage()
        }, onResponse: { index, _ in expected.add(fanOut[index % keyCount]) })
        let started = DispatchTime.now().uptimeNanoseconds
        var report = try await puts.run(workload: workload, group: group)

        // Wait for the events still in flight: until all arrived, or none arrived for 5 seconds.
        var lastCount = -1
        var lastProgress = DispatchTime.now().uptimeNanoseconds
        while delivered.value < expected.value {
            let count = delivered.value
            let now = DispatchTime.now().uptimeNanoseconds
            if count != lastCount {
                lastCount = count
                lastProgress = now
            } else if now - lastProgress > 5_000_000_000 {
                break
            }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        var deliveryLatency = LatencyHistogram()
        var lastEventAt = started
        var events = 0
        for sink in sinks {
            let figures = try await sink.snapshot()
            events += figures.events
            lastEventAt = max(lastEventAt, figures.lastEventAt)
            deliveryLatency.merge(figures.latency)
            report.errors.merge(figures.errors, uniquingKeysWith: +)
            sink.cancel()
        }
        let missing = expected.value - events
        if missing > 0 { report.errors["events not delivered within 5 s of the last", default: 0] += missing }
        let eventSeconds = Double(lastEventAt - started) / 1e9
        report.figures["eventsDelivered"] = Double(events)
        report.figures["eventsPerSecond"] = eventSeconds > 0 ? Double(events) / eventSeconds : 0
        report.extraLatencies["delivery"] = deliveryLatency
        report.parameters["watchers"] = "\(watchers)"
        report.parameters["streams"] = "\(streams)"
        report.parameters["watch-conns"] = "\(watchConnections)"
        report.parameters["watched-keys"] = "\(keys)"
        if stalledWatchers > 0 { report.parameters["stalled-watchers"] = "\(stalledWatchers)" }
        return report
    }
}

/// Benchmark keys: a prefix and a zero-padded decimal index, `size` bytes in all (longer when the index needs it).
public enum KeyNames {
    static func key(_ index: Int, size: Int, prefix: String) -> [UInt8] {
        let digits = String(index)
        let padding = max(0, size - prefix.utf8.count - digits.utf8.count)
        return Array(prefix.utf8) + Array(repeating: UInt8(ascii: "0"), count: padding) + Array(digits.utf8)
    }
}

extension KeyNames {
    /// etcd's benchmark keys: the index big-endian in the last (up to) 8 bytes of `size` zero bytes.
    public static func binary(_ index: Int, size: Int) -> Data {
        var key = Data(count: size)
        let width = min(size, 8)
        withUnsafeBytes(of: UInt64(index).bigEndian) { key.replaceSubrange(size - width..<size, with: $0.suffix(width)) }
        return key
    }
}
