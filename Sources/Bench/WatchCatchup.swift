import EtcdProto
import Foundation
import GRPC
import NIOCore

/// A watcher that starts `revisions` revisions back: writes that many revisions first, then times one watcher
/// replaying them all from history.
public struct WatchCatchup: Sendable {
    /// Shapes the writes that build the history; the watcher uses the first endpoint.
    public var shape: LoadShape
    public var revisions: Int
    public var keySize: Int
    public var valueSize: Int

    public init(shape: LoadShape, revisions: Int, keySize: Int, valueSize: Int) {
        self.shape = shape
        self.revisions = revisions
        self.keySize = keySize
        self.valueSize = valueSize
    }

    public func run(workload: String) async throws -> BenchReport {
        guard revisions > 0 else { throw BenchError("--revisions must be positive") }
        var fill = shape
        fill.total = revisions
        fill.duration = nil
        fill.rate = nil
        try fill.validate()
        return try await withEventLoopGroup(threads: fill.connections + 1) { group in
            let keySize = self.keySize
            let value = Data(repeating: UInt8(ascii: "c"), count: valueSize)
            let writes = try await RequestLoad(shape: fill, path: "/etcdserverpb.KV/Put") { index in
                var request = Etcdserverpb_PutRequest()
                request.key = Data(KeyNames.key(index % 1000, size: keySize, prefix: "c"))
                request.value = value
                return try request.grpcMessage()
            }.run(workload: "\(workload) (writing history)", group: group)
            guard writes.failed == 0 else {
                throw BenchError("writing the history failed: \(writes.errors.map { "\($0.key) ×\($0.value)" })")
            }
            var watchShape = shape
            watchShape.connections = 1
            let channel = try await connect(watchShape, group: group)[0]
            defer { channel.closeSoon() }
            var range = Etcdserverpb_RangeRequest()
            range.key = Data("c".utf8)
            range.limit = 1
            let head = try Etcdserverpb_RangeResponse(
                grpcMessage: try await channel.unary("/etcdserverpb.KV/Range", message: range, timeout: .seconds(10)))
            let start = head.header.revision - Int64(revisions) + 1
            let sink = WatchStreamSink(channel: channel, watchers: [
                .init(key: Array("c".utf8), rangeEnd: Array("d".utf8), startRevision: start),
            ])
            let progress = ProgressBar(label: workload, total: revisions, duration: nil, enabled: shape.progress)
            defer { progress.stop() }
            try await channel.eventLoop.submit { sink.onEvents = { progress.completed.add($0, ordering: .relaxed) } }.get()
            let started = DispatchTime.now().uptimeNanoseconds
            sink.open()
            let deadline = started + 300_000_000_000
            while progress.completed.load(ordering: .relaxed) < revisions, DispatchTime.now().uptimeNanoseconds < deadline {
                try await Task.sleep(nanoseconds: 2_000_000)
            }
            let figures = try await sink.snapshot()
            sink.cancel()
            var report = BenchReport(workload: workload)
            report.parameters = fill.parameters
            report.parameters["revisions"] = "\(revisions)"
            report.seconds = Double(max(figures.lastEventAt, started) - started) / 1e9
            report.succeeded = figures.events
            report.errors = figures.errors
            if figures.events < revisions {
                report.errors["events not replayed within 300 s", default: 0] += revisions - figures.events
            }
            report.figures["eventsPerSecond"] = report.throughput
            report.figures["historyWritesPerSecond"] = writes.throughput
            return report
        }
    }
}
