import EtcdProto
import Foundation
import GRPC
import MVCC
import NIOCore
import Synchronization

/// One Watch stream: the client's watchers on it, fed from the store's watch hub.
///
/// Stores signal a watcher from whatever thread applies writes; the signal only marks the watcher's feed and
/// schedules one drain on the connection's event loop, which polls marked feeds and sends their events.
/// While the client's flow-control window is closed the drain stops, and the store's watchers fall back to
/// catching up from storage: a client that does not read never makes writers wait or buffer without bound.
///
/// Watchers created on one stream for the same key or range, with the same filters and prevKV, and from "now"
/// share one store watcher (a feed): the store offers each event once per feed, not once per watcher, and the
/// stream writes one response per watcher from the same encoded bytes.
final class WatchStream: ServerCallReceiver, @unchecked Sendable {
    // @unchecked Sendable: everything except `signals` is touched only on `call.eventLoop`.
    struct Subscription {
        var feed: Int64
        /// Wants a progress notification (a response with no events, carrying the current revision) after each
        /// interval in which it got no events.
        var progressNotify: Bool
        var sentSinceProgress = false
    }

    /// A store watcher and the client's watchers it feeds.
    struct Feed {
        var watcher: Watcher
        /// What later watchers must ask for to join; nil for a watcher that started at a given revision, whose
        /// feed is its own.
        var sharing: Sharing?
        var members: [Member]
    }

    struct Member {
        var id: Int64
        /// The first revision this watcher may see: one that joined a running feed must get nothing from
        /// before it was created.
        var from: Int64
        var fragment: Bool
        var progressNotify: Bool
    }

    /// The part of a watch request that decides which events a watcher gets and how they look.
    struct Sharing: Hashable {
        var key: Data
        var end: Data
        var filterPuts: Bool
        var filterDeletes: Bool
        var prevKV: Bool
    }

    struct Signals {
        var marked: Set<Int64> = []
        var drainScheduled = false
    }

    let server: EtcdServer
    let call: ServerCall
    private var subscriptions: [Int64: Subscription] = [:]
    private var feeds: [Int64: Feed] = [:]
    private var sharedFeeds: [Sharing: Int64] = [:]
    private var nextFeedID: Int64 = 0
    private var nextWatchID: Int64 = 0
    /// Feeds with something to send that had to wait for the window to open.
    private var blocked: Set<Int64> = []
    private var ended = false
    private var progressTimer: RepeatedTask?
    /// The client asked for the stream's progress and has not had it yet.
    private var progressRequested = false
    private let signals = Mutex(Signals())
    private var encoder = WatchResponseEncoder()
    /// The response header field for the current drain, encoded once for all its responses.
    private var drainHeader: [UInt8]?
    /// Framed responses of the current drain not yet handed to the connection.
    private var batch: ByteBuffer?
    /// Event arrays encoded in the current drain, by the address of their elements: an array published once is
    /// shared by every watcher it was offered to, so it is encoded once for all of them. Each entry keeps its
    /// array alive, so no other array can take its address before the drain ends.
    private var encodedBatches: [UnsafeRawPointer: (events: [WatchEvent], encoded: [[UInt8]])] = [:]
    private static let sharedBatchLimit = 64
    /// The polled batches of one feed (reused, to keep its capacity).
    private var polled: [[WatchEvent]] = []
    /// Bytes of responses gathered before they go to the connection (its own batch size).
    private static let batchBytes = 64 << 10
    /// Event copies one poll of a feed may produce (its events times its watchers) before the client's window is
    /// checked again: a feed of a hundred watchers far behind once queued hundreds of MiB in one go.
    private static let copiesPerPoll = 8192

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
            // Answered once every watcher on the stream has been sent everything up to the revision it
            // reports, as etcd answers it only for synced watchers: a client resumes from that revision, so a
            // notification ahead of events still queued would make it skip them.
            progressRequested = true
            sendProgressIfCaughtUp()
        case nil:
            break
        }
    }

    /// The client sent its last request: as in etcd, its watchers keep getting events until it cancels the
    /// call or the connection closes.
    func requestsEnded() {}

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
        let sharing = create.startRevision == 0
            ? Sharing(key: create.key, end: create.rangeEnd, filterPuts: request.filterPuts,
                      filterDeletes: request.filterDeletes, prevKV: request.prevKV)
            : nil
        // Read before joining: the store counts a revision as current before it offers its events, so a feed
        // cannot have passed `header.revision` yet.
        let header = server.header()
        var member = Member(id: id, from: 0, fragment: create.fragment, progressNotify: create.progressNotify)
        let feedID: Int64
        var isNewFeed = false
        if let sharing, let shared = sharedFeeds[sharing] {
            feedID = shared
            member.from = header.revision + 1
            feeds[shared]?.members.append(member)
        } else {
            feedID = nextFeedID
            nextFeedID += 1
            isNewFeed = true
            let watcher = server.member.mvcc.watch(request) { [weak self, feedID] in self?.signal(feedID) }
            feeds[feedID] = Feed(watcher: watcher, sharing: sharing, members: [member])
            if let sharing { sharedFeeds[sharing] = feedID }
        }
        subscriptions[id] = Subscription(feed: feedID, progressNotify: create.progressNotify)
        if create.progressNotify, progressTimer == nil {
            let interval = server.configuration.watchProgressNotifyInterval
            progressTimer = call.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
                self?.notifyProgress()
            }
        }
        var response = Etcdserverpb_WatchResponse()
        response.header = header
        response.watchID = id
        response.created = true
        send(response)
        // Replay (or report compaction) right away rather than on the next write.
        if isNewFeed { signal(feedID) }
    }

    private func cancel(_ id: Int64) {
        guard let subscription = subscriptions.removeValue(forKey: id) else { return }
        leave(subscription.feed, id)
        var response = Etcdserverpb_WatchResponse()
        response.header = server.header()
        response.watchID = id
        response.canceled = true
        send(response)
    }

    /// Takes watcher `id` off its feed; the last one to leave stops the store watcher.
    private func leave(_ feedID: Int64, _ id: Int64) {
        guard var feed = feeds.removeValue(forKey: feedID) else { return }
        feed.members.removeAll { $0.id == id }
        guard feed.members.isEmpty else {
            feeds[feedID] = feed
            return
        }
        feed.watcher.cancel()
        closed(feedID, feed)
    }

    /// Forgets a feed that was removed from `feeds`.
    private func closed(_ feedID: Int64, _ feed: Feed) {
        if let sharing = feed.sharing, sharedFeeds[sharing] == feedID { sharedFeeds[sharing] = nil }
        blocked.remove(feedID)
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
        for feedID in marked { deliver(feedID) }
        sendBatch()
        encodedBatches.removeAll(keepingCapacity: true)
        if progressRequested { sendProgressIfCaughtUp() }
    }

    /// Sends the requested stream progress if nothing is pending: no feed waiting for the window, none marked,
    /// every store watcher caught up. The revision is read before the watchers are looked at, so everything up
    /// to it has been sent. Otherwise a later drain tries again.
    private func sendProgressIfCaughtUp() {
        guard !ended, blocked.isEmpty else { return }
        let revision = server.member.mvcc.watchPublishedRevision
        guard signals.withLock({ $0.marked.isEmpty }) else { return }  // The drain that follows answers.
        let lagging = feeds.filter { !$0.value.watcher.isCaughtUp }.map(\.key)
        guard lagging.isEmpty else {
            // Their drain catches them up (each poll takes what they hold), then answers.
            for feedID in lagging { signal(feedID) }
            return
        }
        progressRequested = false
        var response = Etcdserverpb_WatchResponse()
        response.header = server.header(revision: revision)
        response.watchID = -1
        send(response)
    }

    private func sendBatch() {
        guard let batch else { return }
        self.batch = nil
        call.sendFramed(batch)
    }

    private func deliver(_ feedID: Int64) {
        while let feed = feeds[feedID] {
            guard call.isWritable else {
                blocked.insert(feedID)
                return
            }
            let poll: WatchPoll
            do {
                poll = try feed.watcher.poll(batches: &polled, maxEvents: max(1, Self.copiesPerPoll / feed.members.count))
            } catch {
                end(GRPCStatus(.internal, "podium: reading watch history failed: \(error)"))
                return
            }
            switch poll {
            case .events:
                sendEvents(polled, to: feed.members)
            case .idle:
                return
            case .compacted(let compactRevision):
                feeds[feedID] = nil
                closed(feedID, feed)
                for member in feed.members {
                    subscriptions[member.id] = nil
                    var response = Etcdserverpb_WatchResponse()
                    response.header = server.header()
                    response.watchID = member.id
                    response.canceled = true
                    response.compactRevision = compactRevision
                    response.cancelReason = "etcdserver: mvcc: required revision has been compacted"
                    send(response)
                }
                return
            case .canceled:
                feeds[feedID] = nil
                closed(feedID, feed)
                for member in feed.members { subscriptions[member.id] = nil }
                return
            }
        }
    }

    /// Sends a feed's polled events to each of its watchers. The common case costs a copy per watcher: the
    /// events are encoded once, and each response is the drain's header and those event fields around the
    /// watcher's own ID. A watcher that joined after the first of these events, or wants fragments, is served
    /// one by one.
    private func sendEvents(_ batches: [[WatchEvent]], to members: [Member]) {
        let firstRevision = batches.first?.first?.kv.modRevision ?? 0
        var shared: (header: [UInt8], events: [UInt8])?
        for member in members {
            guard !member.fragment, firstRevision >= member.from else {
                sendEvents(batches, to: member)
                continue
            }
            if member.progressNotify { subscriptions[member.id]?.sentSinceProgress = true }
            do {
                let fields = try shared ?? (currentHeaderField(), WatchResponseEncoder.eventFields(batches.flatMap(encoded)))
                shared = fields
                appendResponse { buffer in
                    WatchResponseEncoder.append(headerField: fields.header, watchID: member.id, fragment: false,
                                                eventFields: fields.events, to: &buffer)
                }
            } catch {
                end(GRPCStatus(.internal, "podium: encoding a watch response failed: \(error)"))
                return
            }
        }
    }

    /// A feed's events as `member` may see them: all of them once the feed has passed the revision it joined at.
    private func sendEvents(_ batches: [[WatchEvent]], to member: Member) {
        guard let first = batches.first?.first, first.kv.modRevision < member.from else {
            sendEvents(batches, id: member.id, fragment: member.fragment, progressNotify: member.progressNotify)
            return
        }
        let visible = batches.map { $0.filter { $0.kv.modRevision >= member.from } }.filter { !$0.isEmpty }
        guard !visible.isEmpty else { return }
        sendEvents(visible, id: member.id, fragment: member.fragment, progressNotify: member.progressNotify)
    }

    /// Sends events in one response; a watcher that asked for fragments gets responses of at most the request
    /// size limit, all but the last marked `fragment`.
    private func sendEvents(_ batches: [[WatchEvent]], id: Int64, fragment: Bool, progressNotify: Bool) {
        if progressNotify { subscriptions[id]?.sentSinceProgress = true }
        do {
            let header = try currentHeaderField()
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

    /// The response header of this drain, as a WatchResponse field.
    private func currentHeaderField() throws -> [UInt8] {
        if let drainHeader { return drainHeader }
        let header = WatchResponseEncoder.headerField(try server.header().serializedBytes())
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
        appendResponse { buffer in
            WatchResponseEncoder.append(headerField: header, watchID: id, fragment: fragment,
                                        eventFields: WatchResponseEncoder.eventFields(events), to: &buffer)
        }
    }

    /// Adds a framed response to the drain's batch, handing the batch over once it is full.
    private func appendResponse(_ write: (inout ByteBuffer) -> Void) {
        var buffer = batch ?? call.allocator.buffer(capacity: Self.batchBytes)
        batch = nil
        write(&buffer)
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
        for feed in feeds.values { feed.watcher.cancel() }
        feeds = [:]
        sharedFeeds = [:]
        subscriptions = [:]
        blocked = []
    }
}

extension EtcdServer {
    func registerWatch(in router: inout GRPCRouter) {
        router.register("etcdserverpb.Watch", "Watch", .streaming { [self] call in WatchStream(server: self, call: call) })
    }
}
