import EtcdProto
import Foundation
import GRPC
import NIOCore

/// One Watch stream carrying many watchers: creates them, then counts the events delivered, checks that each
/// watcher sees strictly increasing revisions, and records delivery latency from the send time stamped in the
/// first 8 bytes of each value (see `WatchValue`). Lives on its connection's event loop.
final class WatchStreamSink: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is used only on `channel.eventLoop`.
    let channel: GRPCChannel
    let watchers: [WatchSpec]
    private var stream: GRPCClientStream?
    private var created = 0
    private var settled = false
    private(set) var events = 0
    private(set) var lastEventAt: UInt64 = 0
    private(set) var latency = LatencyHistogram()
    private(set) var errors: [String: Int] = [:]
    private var lastRevision: [Int64: Int64] = [:]
    /// The events of the response being read (kept to reuse its storage).
    private var scanned: [WatchResponseScanner.Event] = []
    let ready: EventLoopPromise<Void>
    /// Called on the event loop after each response with the number of events it carried.
    var onEvents: ((Int) -> Void)?

    struct WatchSpec: Sendable {
        var key: [UInt8]
        var rangeEnd: [UInt8] = []
        var startRevision: Int64 = 0
    }

    init(channel: GRPCChannel, watchers: [WatchSpec]) {
        self.channel = channel
        self.watchers = watchers
        ready = channel.eventLoop.makePromise()
    }

    /// Opens the stream and sends the create requests; `ready` completes once the server confirmed them all.
    func open() {
        channel.eventLoop.execute { [self] in
            let stream = channel.openStream("/etcdserverpb.Watch/Watch", onMessage: { [self] in received($0) },
                                            onClose: { [self] status in closed(status) })
            self.stream = stream
            for spec in watchers {
                var request = Etcdserverpb_WatchRequest()
                request.createRequest.key = Data(spec.key)
                request.createRequest.rangeEnd = Data(spec.rangeEnd)
                request.createRequest.startRevision = spec.startRevision
                do {
                    stream.send(try request.grpcMessage())
                } catch {
                    settle(BenchError("cannot encode a watch request: \(error)"))
                    return
                }
            }
            if watchers.isEmpty { settle(nil) }
        }
    }

    func cancel() {
        channel.eventLoop.execute { [self] in stream?.cancel() }
    }

    private func received(_ message: ByteBuffer) {
        let response: WatchResponseScanner
        do {
            response = try WatchResponseScanner(message, events: &scanned)
        } catch {
            errors["malformed watch response", default: 0] += 1
            return
        }
        if response.created {
            created += 1
            if created == watchers.count { settle(nil) }
        }
        if response.canceled {
            errors["watch canceled: \(response.cancelReason)", default: 0] += 1
        }
        guard !scanned.isEmpty else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        var last = lastRevision[response.watchID] ?? 0
        for event in scanned {
            if event.modRevision <= last { errors["event out of order or repeated", default: 0] += 1 }
            last = event.modRevision
            if let sent = event.stamp, sent <= now { latency.record(now - sent) }
        }
        lastRevision[response.watchID] = last
        events += scanned.count
        lastEventAt = now
        onEvents?(scanned.count)
    }

    private func closed(_ status: GRPCStatus) {
        if status.code != .ok && status.code != .cancelled {
            errors["watch stream closed: \(status)", default: 0] += 1
        }
        settle(status)
    }

    private func settle(_ error: Error?) {
        guard !settled else { return }
        settled = true
        if let error { ready.fail(error) } else { ready.succeed() }
    }

    /// Reads the sink's figures on its event loop.
    func snapshot() async throws -> (events: Int, lastEventAt: UInt64, latency: LatencyHistogram, errors: [String: Int]) {
        try await channel.eventLoop.submit { [self] in (events, lastEventAt, latency, errors) }.get()
    }
}

/// Values written by the watch workloads: the put's send time (monotonic nanoseconds, big-endian) and padding.
enum WatchValue {
    static func make(size: Int) -> Data {
        var value = Data(count: max(size, 8))
        let now = DispatchTime.now().uptimeNanoseconds.bigEndian
        withUnsafeBytes(of: now) { value.replaceSubrange(0..<8, with: $0) }
        return value
    }

}
