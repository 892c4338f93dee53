import EtcdProto
import GRPC
import MVCC
import NIOCore
import Synchronization

/// One Watch stream: the client's watchers on it, fed from the store's watch hub.
///
/// Stores signal a watcher from whatever thread applies writes; the signal only marks the watcher and
/// schedules one drain on the connection's event loop, which polls marked watchers and sends their events.
/// While the client's flow-control window is closed the drain stops, and the store's watchers fall back to
/// catching up from storage: a client that does not read never makes writers wait or buffer without bound.
final class WatchStream: ServerCallReceiver, @unchecked Sendable {
    // @unchecked Sendable: everything except `signals` is touched only on `call.eventLoop`.
    struct Subscription {
        var watcher: Watcher
        var fragment: Bool
        /// Wants a progress notification (a response with no events, carrying the current revision) after each
        /// interval in which it got no events.
        var progressNotify: Bool
        var sentSinceProgress = false
    }

    struct Signals {
        var marked: Set<Int64> = []
        var drainScheduled = false
    }

    let server: EtcdServer
    let call: ServerCall
    private var subscriptions: [Int64: Subscription] = [:]
    private var nextWatchID: Int64 = 0
    /// Watchers with something to send that had to wait for the window to open.
    private var blocked: Set<Int64> = []
    private var ended = false
    private var progressTimer: RepeatedTask?
    private let signals = Mutex(Signals())
    private var encoder = WatchResponseEncoder()
    /// The response header for the current drain, encoded once for all its responses.
    private var drainHeader: [UInt8]?
    /// Framed responses of the current drain not yet handed to the connection.
    private var batch: ByteBuffer?
    /// Event arrays encoded in the current drain, by the address of their elements: an array published once is
    /// shared by every watcher it was offered to, so it is encoded once for all of them. Each entry keeps its
    /// array alive, so no other array can take its address before the drain ends.
    private var encodedBatches: [UnsafeRawPointer: (events: [WatchEvent], encoded: [[UInt8]])] = [:]
    private static let sharedBatchLimit = 64
    /// The polled batches of one watcher (reused, to keep its capacity).
    private var polled: [[WatchEvent]] = []
    /// Bytes of responses gathered before they go to the connection (its own batch size).
    private static let batchBytes = 64 << 10

    init(server: EtcdServer, call: ServerCall) {
        self.server = server
        self.call = call
    }

    func received(_ message: ByteBuffer) {
        guard !ended else { return }
        guard message.readableBytes <= server.configuration.maxRequestBytes else {
            end(EtcdStatus.requestTooLarge)
            return
        }
        let request: Etcdserverpb_WatchRequest
        do {
            request = try Etcdserverpb_WatchRequest(grpcMessage: message)
        } catch {
            end(GRPCStatus(.internal, "grpc: error unmarshalling request: \(error)"))
            return
        }
        switch request.requestUnion {
        case .createRequest(let create): self.create(create)
        case .cancelRequest(let cancel): self.cancel(cancel.watchID)
        case .progressRequest:
            var response = Etcdserverpb_WatchResponse()
            response.header = server.header()
            response.watchID = -1
            send(response)
        case nil:
            break
        }
    }

    func requestsEnded() {
        end(.ok)
    }

    func cancelled() {
        stopWatchers()
    }

    func becameWritable() {
        let waiting = blocked
        blocked = []
        signals.withLock { $0.marked.formUnion(waiting) }
        drain()
    }

    // MARK: requests

    private func create(_ create: Etcdserverpb_WatchCreateRequest) {
        var id = create.watchID
        if id == 0 {
            while subscriptions[nextWatchID] != nil { nextWatchID += 1 }
            id = nextWatchID
            nextWatchID += 1
        } else if subscriptions[id] != nil || id < 0 {
            var response = Etcdserverpb_WatchResponse()
            response.header = server.header()
            response.watchID = -1
            response.created = true
            response.canceled = true
            response.cancelReason = "mvcc: duplicate watch ID provided on the WatchStream"
            send(response)
            return
        }
        let request = WatchRequest(range: KeyRange(key: create.key, end: create.rangeEnd),
                                   startRevision: create.startRevision,
                                   filterPuts: create.filters.contains(.noput),
                                   filterDeletes: create.filters.contains(.nodelete),
                                   prevKV: create.prevKv)
        let watcher = server.member.mvcc.watch(request) { [weak self, id] in self?.signal(id) }
        subscriptions[id] = Subscription(watcher: watcher, fragment: create.fragment, progressNotify: create.progressNotify)
        if create.progressNotify, progressTimer == nil {
            let interval = server.configuration.watchProgressNotifyInterval
            progressTimer = call.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
                self?.notifyProgress()
            }
        }
        var response = Etcdserverpb_WatchResponse()
        response.header = server.header()
        response.watchID = id
        response.created = true
        send(response)
        // Replay (or report compaction) right away rather than on the next write.
        signal(id)
    }

    private func cancel(_ id: Int64) {
        guard let subscription = subscriptions.removeValue(forKey: id) else { return }
        subscription.watcher.cancel()
        var response = Etcdserverpb_WatchResponse()
        response.header = server.header()
        response.watchID = id
        response.canceled = true
        send(response)
    }

    // MARK: delivery

    private func signal(_ id: Int64) {
        let schedule = signals.withLock { signals -> Bool in
            signals.marked.insert(id)
            defer { signals.drainScheduled = true }
            return !signals.drainScheduled
        }
        if schedule { call.eventLoop.execute { self.drain() } }
    }

    private func drain() {
        let marked = signals.withLock { signals -> Set<Int64> in
            signals.drainScheduled = false
            defer { signals.marked = [] }
            return signals.marked
        }
        guard !ended else { return }
        drainHeader = nil
        for id in marked {
            guard let subscription = subscriptions[id] else { continue }
            deliver(id, subscription)
        }
        sendBatch()
        encodedBatches.removeAll(keepingCapacity: true)
    }

    private func sendBatch() {
        guard let batch else { return }
        self.batch = nil
        call.sendFramed(batch)
    }

    private func deliver(_ id: Int64, _ subscription: Subscription) {
        while true {
            guard call.isWritable else {
                blocked.insert(id)
                return
            }
            let poll: WatchPoll
            do {
                poll = try subscription.watcher.poll(batches: &polled)
            } catch {
                end(GRPCStatus(.internal, "podium: reading watch history failed: \(error)"))
                return
            }
            switch poll {
            case .events:
                sendEvents(polled, id: id, fragment: subscription.fragment)
            case .idle:
                return
            case .compacted(let compactRevision):
                subscriptions[id] = nil
                var response = Etcdserverpb_WatchResponse()
                response.header = server.header()
                response.watchID = id
                response.canceled = true
                response.compactRevision = compactRevision
                response.cancelReason = "etcdserver: mvcc: required revision has been compacted"
                send(response)
                return
            case .canceled:
                subscriptions[id] = nil
                return
            }
        }
    }

    /// Sends events in one response; a watcher that asked for fragments gets responses of at most the request
    /// size limit, all but the last marked `fragment`.
    private func sendEvents(_ batches: [[WatchEvent]], id: Int64, fragment: Bool) {
        do {
            let header = try currentHeader()
            if !fragment, batches.count == 1 {
                sendChunk(try encoded(batches[0]), id: id, header: header, fragment: false)
                return
            }
            let limit = server.configuration.maxRequestBytes
            var chunk: [[UInt8]] = []
            var chunkBytes = 0
            for encoded in try batches.flatMap({ try self.encoded($0) }) {
                if fragment, !chunk.isEmpty, chunkBytes + encoded.count > limit {
                    sendChunk(chunk, id: id, header: header, fragment: true)
                    chunk = []
                    chunkBytes = 0
                }
                chunk.append(encoded)
                chunkBytes += encoded.count + 6
            }
            sendChunk(chunk, id: id, header: header, fragment: false)
        } catch {
            end(GRPCStatus(.internal, "podium: encoding a watch response failed: \(error)"))
        }
    }

    /// The wire form of each event of a polled batch, encoded once per drain however many watchers share it.
    /// Only small batches are remembered: a published revision's are, a long read from storage (one watcher's
    /// own catch-up) is not kept for the rest of the drain.
    private func encoded(_ events: [WatchEvent]) throws -> [[UInt8]] {
        let address = events.count <= Self.sharedBatchLimit
            ? events.withUnsafeBufferPointer { $0.baseAddress.map(UnsafeRawPointer.init) } : nil
        if let address, let known = encodedBatches[address] { return known.encoded }
        let encoded = try events.map { try encoder.encoded($0) }
        if let address { encodedBatches[address] = (events, encoded) }
        return encoded
    }

    private func currentHeader() throws -> [UInt8] {
        if let drainHeader { return drainHeader }
        let header: [UInt8] = try server.header().serializedBytes()
        drainHeader = header
        return header
    }

    /// Tells each idle watcher that asked for it how far the store has got, so it can resume from there.
    private func notifyProgress() {
        guard !ended else { return }
        for (id, subscription) in subscriptions where subscription.progressNotify {
            if subscription.sentSinceProgress {
                subscriptions[id]?.sentSinceProgress = false
                continue
            }
            var response = Etcdserverpb_WatchResponse()
            response.header = server.header()
            response.watchID = id
            send(response)
        }
    }

    private func sendChunk(_ events: [[UInt8]], id: Int64, header: [UInt8], fragment: Bool) {
        subscriptions[id]?.sentSinceProgress = true
        var buffer = batch ?? call.allocator.buffer(capacity: Self.batchBytes)
        batch = nil
        encoder.append(header: header, watchID: id, events: events, fragment: fragment, to: &buffer)
        if buffer.readableBytes >= Self.batchBytes {
            call.sendFramed(buffer)
        } else {
            batch = buffer
        }
    }

    private func send(_ response: Etcdserverpb_WatchResponse) {
        // Behind whatever this drain gathered: a watcher's events must not be overtaken by its cancellation.
        sendBatch()
        do {
            call.send(try response.grpcMessage())
        } catch {
            end(GRPCStatus(.internal, "podium: encoding a watch response failed: \(error)"))
        }
    }

    private func end(_ status: GRPCStatus) {
        guard !ended else { return }
        stopWatchers()
        call.finish(status)
    }

    private func stopWatchers() {
        ended = true
        progressTimer?.cancel()
        progressTimer = nil
        for subscription in subscriptions.values { subscription.watcher.cancel() }
        subscriptions = [:]
        blocked = []
    }
}

extension EtcdServer {
    func registerWatch(in router: inout GRPCRouter) {
        router.register("etcdserverpb.Watch", "Watch", .streaming { [self] call in WatchStream(server: self, call: call) })
    }
}
