import EtcdProto
import Foundation
import GRPC
import NIOCore
import Synchronization

/// The one Watch call a connection carries for all of this client's watches. etcd multiplexes watchers on a
/// stream by watch ID, so a hundred watches cost the member one stream, not a hundred. Watches are created in
/// order and the store answers creates in order (etcd and Podium both), so each "created" answer belongs to the
/// oldest create still waiting: no client-chosen IDs, which etcd before 3.4 would not honour.
///
/// All state is used on the connection's event loop only.
final class SharedWatchStream: @unchecked Sendable {
    let channel: GRPCChannel
    private var eventLoop: EventLoop { channel.eventLoop }
    private var stream: GRPCClientStream?
    /// Watches whose create was sent and not yet answered, oldest first.
    private var creating: [WatchRegistration] = []
    private var active: [Int64: WatchRegistration] = [:]
    /// Set once the call ended: a new watch then needs a new stream.
    private let endedFlag = Atomic(false)
    var isEnded: Bool { endedFlag.load(ordering: .acquiring) }

    init(channel: GRPCChannel) {
        self.channel = channel
    }

    /// Serves `registration` on this stream until it ends; the outcome says why. Cancelling the calling task
    /// cancels the watch on the store.
    func run(_ registration: WatchRegistration) async -> WatchOutcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (outcome: CheckedContinuation<WatchOutcome, Never>) in
                eventLoop.execute { self.start(registration, outcome) }
            }
        } onCancel: {
            eventLoop.execute { self.cancel(registration) }
        }
    }

    /// Asks the store for a progress notification: every watch on the stream then gets an empty batch with the
    /// current revision once it has been sent everything up to it.
    func requestProgress() {
        eventLoop.execute {
            guard let stream = self.stream, !self.isEnded else { return }
            var request = Etcdserverpb_WatchRequest()
            request.progressRequest = Etcdserverpb_WatchProgressRequest()
            Self.send(request, on: stream)
        }
    }

    private func start(_ registration: WatchRegistration, _ outcome: CheckedContinuation<WatchOutcome, Never>) {
        guard !registration.cancelRequested else { return outcome.resume(returning: .cancelled) }
        guard !isEnded else { return outcome.resume(returning: .streamEnded(GRPCStatus(.unavailable, "watch stream ended"))) }
        registration.outcome = outcome
        registration.watchID = nil
        var request = Etcdserverpb_WatchRequest()
        request.createRequest = registration.createRequest()
        creating.append(registration)
        Self.send(request, on: openedStream())
    }

    private func openedStream() -> GRPCClientStream {
        if let stream { return stream }
        let opened = channel.openStream("/etcdserverpb.Watch/Watch",
                                        onMessage: { [weak self] message in self?.received(message) },
                                        onClose: { [weak self] status in self?.ended(status) })
        stream = opened
        return opened
    }

    private func cancel(_ registration: WatchRegistration) {
        registration.cancelRequested = true
        if let id = registration.watchID, active.removeValue(forKey: id) != nil, let stream {
            var request = Etcdserverpb_WatchRequest()
            var cancel = Etcdserverpb_WatchCancelRequest()
            cancel.watchID = id
            request.cancelRequest = cancel
            Self.send(request, on: stream)
        }
        // A watch still being created is cancelled on the store when its "created" answer comes.
        registration.finish(.cancelled)
    }

    private func received(_ message: ByteBuffer) {
        guard let response = try? Etcdserverpb_WatchResponse(grpcMessage: message) else {
            stream?.cancel(GRPCStatus(.internal, "undecodable watch response"))
            return
        }
        if response.created {
            guard !creating.isEmpty else { return }
            let registration = creating.removeFirst()
            if response.canceled {
                registration.finish(Self.outcome(ofCancelled: response))
            } else if registration.cancelRequested {
                var request = Etcdserverpb_WatchRequest()
                var cancel = Etcdserverpb_WatchCancelRequest()
                cancel.watchID = response.watchID
                request.cancelRequest = cancel
                if let stream { Self.send(request, on: stream) }
            } else {
                registration.watchID = response.watchID
                if registration.nextRevision == 0 { registration.nextRevision = response.header.revision + 1 }
                active[response.watchID] = registration
            }
            return
        }
        if response.canceled {
            active.removeValue(forKey: response.watchID)?.finish(Self.outcome(ofCancelled: response))
            return
        }
        if response.watchID == -1, response.events.isEmpty {
            // A progress notification for the whole stream.
            for registration in Array(active.values) { deliver(StoreWatchBatch(events: [], revision: response.header.revision), to: registration) }
            return
        }
        guard let registration = active[response.watchID] else { return }  // One we cancelled.
        deliver(StoreWatchBatch(events: response.events, revision: response.header.revision), to: registration)
    }

    private func deliver(_ batch: StoreWatchBatch, to registration: WatchRegistration) {
        // After a resume the store may send again what the last stream delivered: never hand it over twice.
        let fresh = batch.events.filter { $0.kv.modRevision > registration.lastEventRevision }
        guard batch.events.isEmpty || !fresh.isEmpty else { return }
        let next = max(registration.nextRevision, (fresh.last?.kv.modRevision ?? batch.revision) + 1)
        switch registration.consumer.yield(StoreWatchBatch(events: fresh, revision: batch.revision)) {
        case .enqueued:
            registration.nextRevision = next
            if let last = fresh.last { registration.lastEventRevision = last.kv.modRevision }
            registration.deliveredAny = true
        case .dropped:
            registration.tooSlow = true
            cancel(registration)
        case .terminated:
            cancel(registration)
        @unknown default:
            cancel(registration)
        }
    }

    private func ended(_ status: GRPCStatus) {
        endedFlag.store(true, ordering: .releasing)
        stream = nil
        let waiting = creating + Array(active.values)
        creating = []
        active = [:]
        for registration in waiting { registration.finish(.streamEnded(status)) }
    }

    private static func outcome(ofCancelled response: Etcdserverpb_WatchResponse) -> WatchOutcome {
        if response.compactRevision > 0 { return .compacted(response.compactRevision) }
        return .refused(response.cancelReason.isEmpty ? "watch canceled by the store" : response.cancelReason)
    }

    private static func send(_ request: Etcdserverpb_WatchRequest, on stream: GRPCClientStream) {
        // A WatchRequest of ours always encodes.
        guard let message = try? request.grpcMessage() else { return }
        stream.send(message)
    }
}

/// Why a watch left its stream.
enum WatchOutcome: Sendable {
    case cancelled
    case compacted(Int64)
    case refused(String)
    /// The stream (its connection) ended: the watch goes on elsewhere, from `nextRevision`.
    case streamEnded(GRPCStatus)
}

/// One watch's standing with the streams that serve it in turn: what to ask for, where it has got to, and where
/// its batches go. Used on the serving stream's event loop; the watch's own task reads it only between streams.
final class WatchRegistration: @unchecked Sendable {
    let key: [UInt8]
    let rangeEnd: [UInt8]
    let prevKV: Bool
    let progressNotify: Bool
    /// The first revision not yet delivered (0 before the first create: "from now"); where a resumed watch
    /// starts. Progress notifications move it too.
    var nextRevision: Int64
    /// The newest event handed over: after a resume, events up to it are dropped as repeats. Kept apart from
    /// `nextRevision` so that a progress notification sent ahead of queued events (etcd before 3.4.24/3.5.8
    /// did) cannot make the events behind it look like repeats.
    var lastEventRevision: Int64 = 0
    let consumer: AsyncThrowingStream<StoreWatchBatch, Error>.Continuation
    var watchID: Int64?
    var outcome: CheckedContinuation<WatchOutcome, Never>?
    var cancelRequested = false
    var tooSlow = false
    var deliveredAny = false

    init(key: [UInt8], rangeEnd: [UInt8], from revision: Int64, prevKV: Bool, progressNotify: Bool,
         consumer: AsyncThrowingStream<StoreWatchBatch, Error>.Continuation) {
        self.key = key
        self.rangeEnd = rangeEnd
        nextRevision = revision
        self.prevKV = prevKV
        self.progressNotify = progressNotify
        self.consumer = consumer
    }

    func createRequest() -> Etcdserverpb_WatchCreateRequest {
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Data(key)
        create.rangeEnd = Data(rangeEnd)
        create.startRevision = nextRevision
        create.prevKv = prevKV
        create.progressNotify = progressNotify
        return create
    }

    func finish(_ outcome: WatchOutcome) {
        self.outcome?.resume(returning: outcome)
        self.outcome = nil
    }
}
