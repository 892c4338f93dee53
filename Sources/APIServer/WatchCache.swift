import EtcdProto
import Foundation
import NIOCore
import NIOHTTP1
import Resources
import StoreClient
import Synchronization

/// One resource type's objects and recent changes, kept from a single store watch and fanned out to every API
/// watcher of the type, as kube-apiserver's cacher does: ten thousand watchers cost the store one watch. Each
/// change is encoded once and its bytes written to every plain watcher that sees it, grouped by event loop, so
/// a change costs one hop per loop rather than one per watcher. A ring of recent changes lets a watcher resume
/// from a recent resourceVersion; older than the ring is 410 Gone.
final class WatchCache: Sendable {
    /// Changes held for a watcher still being sent its initial objects; past this it is closed (it relists).
    static let catchUpLimit = 50_000

    struct Change: Sendable {
        var type: String
        var object: JSONValue
        /// The object before the change (for watchers whose selectors it moved in or out of).
        var old: JSONValue?
        var revision: Int64
        /// `{"type":…,"object":…}\n`, encoded once for every plain watcher and for the ring (nil only for a
        /// change not yet applied).
        var line: ByteBuffer?
        /// The object's store key.
        var key = ""
    }

    /// A change as the ring keeps it: its bytes, not its parsed trees, which take several times the memory (the
    /// ring is most of an API server's memory under churn). A watcher resuming from the ring parses them again.
    struct Recorded: Sendable {
        var type: String
        var revision: Int64
        var key: String
        /// The change's `{"type":…,"object":…}` line.
        var line: ByteBuffer
        /// A line holding the object before the change (nil: it did not exist), for watchers whose selectors
        /// the change moved it in or out of. Usually the storage of the key's previous line, shared.
        var oldLine: ByteBuffer?

        /// The change with its objects parsed back from the lines.
        var change: Change? {
            guard let object = Self.object(in: line) else { return nil }
            return Change(type: type, object: object, old: oldLine.flatMap(Self.object(in:)), revision: revision,
                          line: line, key: key)
        }

        private static func object(in line: ByteBuffer) -> JSONValue? {
            (try? JSONParser.parse(Array(line.readableBytesView)))?["object"]
        }
    }

    final class Watcher: @unchecked Sendable {
        // @unchecked Sendable: `encoder` and `overflow` are used on `stream.channel.eventLoop` only; the rest
        // is immutable or guarded by the cache's lock.
        let id: Int
        let namespace: String?
        let selection: ResourceHandler.Selection
        let stream: ResponseStream
        let table: Bool
        let bookmarks: Bool
        var encoder: WatchEventEncoder
        /// Lines queued while the initial objects are being sent (nil once live). Guarded by the cache's lock.
        var catchingUp: [Change]? = []
        /// Bytes written while the socket was not writable (event loop only).
        var overflow = 0
        var lastBookmark = Date()

        init(id: Int, namespace: String?, selection: ResourceHandler.Selection, stream: ResponseStream,
             encoder: WatchEventEncoder, table: Bool, bookmarks: Bool) {
            self.id = id
            self.namespace = namespace
            self.selection = selection
            self.stream = stream
            self.encoder = encoder
            self.table = table
            self.bookmarks = bookmarks
        }

        func sees(_ object: JSONValue?) -> Bool {
            guard let object else { return false }
            if let namespace, object[path: ["metadata", "namespace"]]?.stringValue != namespace { return false }
            return selection.matches(object)
        }

        /// What this watcher is told of `change`, if anything: the event type and the object.
        func view(of change: Change) -> (String, JSONValue)? {
            let now = change.type != "DELETED" && sees(change.object)
            let before = change.type == "ADDED" ? false : sees(change.old ?? (change.type == "DELETED" ? change.object : nil))
            switch (before, now) {
            case (false, true): return ("ADDED", change.object)
            case (true, true): return ("MODIFIED", change.object)
            case (true, false):
                var gone = change.old ?? change.object
                gone[path: ["metadata", "resourceVersion"]] = .string(String(change.revision))
                return ("DELETED", gone)
            case (false, false): return nil
            }
        }
    }

    struct State {
        var objects: [String: JSONValue] = [:]
        /// Each object's latest line, once it has one (objects from the fill have none until they change): the
        /// `oldLine` of its next change, without encoding it again.
        var lines: [String: ByteBuffer] = [:]
        var ring: [Recorded] = []
        /// Index of the oldest change in `ring` (it is a circular buffer once full).
        var ringStart = 0
        /// Every change up to this revision has been applied.
        var revision: Int64 = 0
        /// The revision the cache was filled at: resumes from before it are too old.
        var startRevision: Int64 = 0
        /// The newest change the ring has let go of (0: none yet): resumes from before it are too old.
        var evictedThrough: Int64 = 0
        var ready = false
        var watchers: [Int: Watcher] = [:]
        var nextID = 0
        var waiting: [(Int64, CheckedContinuation<Void, Never>)] = []
    }

    let type: ResourceType
    let store: ObjectStore
    /// How many recent changes are kept for watchers resuming from a resourceVersion.
    let ringCapacity: Int
    private let state = Mutex(State())
    private let started = Atomic(false)

    init(type: ResourceType, store: ObjectStore, ringCapacity: Int) {
        self.type = type
        self.store = store
        self.ringCapacity = max(ringCapacity, 1)
    }

    // MARK: filling

    /// Lists the type and watches it from there, for as long as the server runs; a watch that falls behind the
    /// store's compaction relists, ending every watcher (their clients relist too, as after a 410).
    func startIfNeeded() {
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        Task { await self.run() }
    }

    private func run() async {
        while true {
            do {
                let page = try await store.list(prefix: type.storagePrefix)
                var objects: [String: JSONValue] = [:]
                for item in page.items { objects[item.key] = try ResourceHandler.object(item, as: type) }
                let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    for watcher in state.watchers.values { watcher.stream.channel.close(promise: nil) }
                    let waiting = state.waiting.map(\.1)
                    let nextID = state.nextID
                    state = State()
                    state.nextID = nextID
                    state.objects = objects
                    state.revision = page.revision
                    state.startRevision = page.revision
                    state.ready = true
                    return waiting
                }
                for waiter in waiters { waiter.resume() }
                let prefix = type.storagePrefix
                for try await batch in store.client.watch(key: Array(prefix.utf8), rangeEnd: Array(ObjectStore.prefixEnd(prefix)),
                                                         from: page.revision + 1, prevKV: true) {
                    apply(batch)
                }
            } catch {
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    private func apply(_ batch: StoreWatchBatch) {
        var changes: [Change] = []
        for event in batch.events {
            let key = String(decoding: event.kv.key, as: UTF8.self)
            let revision = event.kv.modRevision
            switch event.type {
            case .put:
                guard var object = try? JSONParser.parse(Array(event.kv.value)) else { continue }
                if let version = type.storageVersion { object = version.fromStorage(object) }
                object[path: ["metadata", "resourceVersion"]] = .string(String(revision))
                let created = event.kv.createRevision == event.kv.modRevision
                let type = created ? "ADDED" : "MODIFIED"
                changes.append(Change(type: type, object: object, old: nil, revision: revision,
                                      line: Self.line(type, object), key: key))
            case .delete:
                changes.append(Change(type: "DELETED", object: .null, old: nil, revision: revision, line: nil, key: key))
            default:
                continue
            }
        }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            var deliveries: [Change] = []
            for var change in changes {
                change.old = state.objects[change.key]
                let line: ByteBuffer
                if change.type == "DELETED" {
                    guard var gone = change.old else { continue }
                    gone[path: ["metadata", "resourceVersion"]] = .string(String(change.revision))
                    change.object = gone
                    line = Self.line("DELETED", gone)
                    change.line = line
                    state.objects[change.key] = nil
                } else {
                    // Encoded above, outside the lock, for every put.
                    line = change.line ?? Self.line(change.type, change.object)
                    state.objects[change.key] = change.object
                }
                let oldLine = state.lines[change.key] ?? change.old.map { Self.line("MODIFIED", $0) }
                state.lines[change.key] = change.type == "DELETED" ? nil : line
                Self.append(Recorded(type: change.type, revision: change.revision, key: change.key, line: line, oldLine: oldLine),
                            to: &state, capacity: ringCapacity)
                deliveries.append(change)
            }
            state.revision = max(state.revision, batch.revision, changes.last?.revision ?? 0)
            deliver(deliveries, bookmark: batch.events.isEmpty ? state.revision : nil, state: &state)
            let ready = state.waiting.filter { $0.0 <= state.revision }.map(\.1)
            state.waiting.removeAll { $0.0 <= state.revision }
            return ready
        }
        for waiter in waiters { waiter.resume() }
    }

    static func line(_ type: String, _ object: JSONValue) -> ByteBuffer {
        var bytes = JSONWriter.bytes(["type": .string(type), "object": object])
        bytes.append(UInt8(ascii: "\n"))
        return ByteBuffer(bytes: bytes)
    }

    private static func append(_ change: Recorded, to state: inout State, capacity: Int) {
        if state.ring.count < capacity {
            state.ring.append(change)
        } else {
            state.evictedThrough = state.ring[state.ringStart].revision
            state.ring[state.ringStart] = change
            state.ringStart = (state.ringStart + 1) % capacity
        }
    }

    /// The ring's changes after `revision`, in revision order.
    private static func recorded(in state: State, after revision: Int64) -> [Recorded] {
        let ordered = state.ringStart == 0 ? state.ring[...] : ArraySlice(state.ring[state.ringStart...] + state.ring[..<state.ringStart])
        // In revision order: the changes after `revision` are a suffix.
        let first = ordered.firstIndex { $0.revision > revision } ?? ordered.endIndex
        return Array(ordered[first...])
    }

    // MARK: fan-out

    /// Hands `changes` to every watcher, one event-loop hop per loop; called with the lock held, so that what
    /// each watcher is sent keeps the changes' order.
    private func deliver(_ changes: [Change], bookmark: Int64?, state: inout State) {
        guard !state.watchers.isEmpty else { return }
        var byLoop: [ObjectIdentifier: (EventLoop, [(Watcher, [Change])])] = [:]
        var closed: [Int] = []
        for watcher in state.watchers.values {
            if watcher.stream.isClosed { closed.append(watcher.id); continue }
            if watcher.catchingUp != nil {
                watcher.catchingUp?.append(contentsOf: changes)
                if (watcher.catchingUp?.count ?? 0) > Self.catchUpLimit {
                    watcher.stream.channel.close(promise: nil)
                    closed.append(watcher.id)
                }
                continue
            }
            let loop = watcher.stream.channel.eventLoop
            byLoop[ObjectIdentifier(loop), default: (loop, [])].1.append((watcher, changes))
        }
        for id in closed { state.watchers[id] = nil }
        let bookmarkRevision = bookmark
        let type = self.type
        for (_, (loop, work)) in byLoop {
            loop.execute {
                for (watcher, changes) in work {
                    Self.write(changes, to: watcher, bookmark: bookmarkRevision, type: type)
                }
            }
        }
    }

    /// Writes changes to one watcher on its event loop: the shared line when the watcher sees the change as it
    /// happened, its own encoding otherwise (Tables, selector transitions).
    static func write(_ changes: [Change], to watcher: Watcher, bookmark: Int64?, type: ResourceType) {
        let channel = watcher.stream.channel
        guard channel.isActive else { return }
        var wrote = false
        for change in changes {
            guard let (eventType, object) = watcher.view(of: change) else { continue }
            let buffer: ByteBuffer
            if !watcher.table, eventType == change.type {
                buffer = change.line ?? Self.line(change.type, change.object)
            } else {
                buffer = ByteBuffer(bytes: watcher.encoder.encode(eventType, object))
            }
            send(buffer, to: watcher)
            wrote = true
        }
        if let bookmark, watcher.bookmarks, Date().timeIntervalSince(watcher.lastBookmark) >= 5 {
            watcher.lastBookmark = Date()
            send(ByteBuffer(bytes: watcher.encoder.bookmark(revision: bookmark)), to: watcher)
            wrote = true
        }
        if wrote { channel.flush() }
    }

    /// A watcher that stops reading is cut off once 16 MiB wait for it (its client resumes or relists).
    static func send(_ buffer: ByteBuffer, to watcher: Watcher) {
        let channel = watcher.stream.channel
        if channel.isWritable {
            watcher.overflow = 0
        } else {
            watcher.overflow += buffer.readableBytes
            if watcher.overflow > ResponseStream.maxBufferedBytes {
                channel.close(promise: nil)
                return
            }
        }
        channel.write(HTTPServerResponsePart.body(.byteBuffer(buffer)), promise: nil)
    }

    // MARK: serving

    /// Waits (bounded) until the cache has applied every change up to `revision`.
    func waitUntil(_ revision: Int64, timeout: Duration = .seconds(3)) async throws(Status) {
        startIfNeeded()
        let reached = state.withLock { $0.ready && $0.revision >= revision }
        if reached { return }
        store.client.requestWatchProgress()
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.releaseWaiters()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.ready && state.revision >= revision { return true }
                state.waiting.append((revision, continuation))
                return false
            }
            if now { continuation.resume() }
        }
        timer.cancel()
        let ok = state.withLock { $0.ready && $0.revision >= revision }
        if !ok { throw Status.timeout("Too large resource version: \(revision), the cache has not caught up with it yet") }
    }

    private func releaseWaiters() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            defer { state.waiting = [] }
            return state.waiting.map(\.1)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The object at `key` as the cache has it now (nil: not there, or the cache is not filled yet). It may lag
    /// the store by the watch's delay; callers that must see a just-written object read the store.
    func object(at key: String) -> JSONValue? {
        state.withLock { state in state.ready ? state.objects[key] : nil }
    }

    /// The cached objects that `selection` picks in `namespace` (all when nil), in key order, and the revision.
    func list(namespace: String?, selection: ResourceHandler.Selection) async throws(Status) -> ([JSONValue], Int64) {
        try await waitUntil(0)
        return state.withLock { state in
            let prefix = type.storagePrefix(namespace: namespace)
            let objects = state.objects.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map(\.value)
                .filter { selection.matches($0) }
            return (objects, state.revision)
        }
    }

    /// Starts serving a watcher from `revision` (nil: the current objects first, as ADDED); returns the initial
    /// objects to send before it goes live, or throws 410 when `revision` is older than the cache keeps.
    func register(_ watcher: Watcher, from revision: Int64?) throws(Status) -> [JSONValue] {
        if let revision {
            let missed = try state.withLock { state throws(Status) -> [Recorded] in
                // Complete history runs from the fill, or from the last change the ring let go of.
                let oldest = max(state.startRevision, state.evictedThrough)
                guard revision >= oldest else {
                    throw Status.gone("too old resource version: \(revision) (\(oldest))")
                }
                watcher.catchingUp = []
                state.watchers[watcher.id] = watcher
                return Self.recorded(in: state, after: revision)
            }
            // Parsed outside the lock (the store's changes keep applying meanwhile, queued behind these).
            let changes = missed.compactMap(\.change)
            state.withLock { _ in watcher.catchingUp = changes + (watcher.catchingUp ?? []) }
            return []
        }
        return state.withLock { state -> [JSONValue] in
            let prefix = type.storagePrefix(namespace: watcher.namespace)
            let initial = state.objects.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map(\.value)
                .filter { watcher.selection.matches($0) }
            watcher.catchingUp = []
            state.watchers[watcher.id] = watcher
            return initial
        }
    }

    func nextWatcherID() -> Int {
        state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
    }

    /// Ends the catching-up phase: what was queued meanwhile is sent, then changes go to the watcher live.
    func goLive(_ watcher: Watcher) {
        state.withLock { state in
            let queued = watcher.catchingUp ?? []
            watcher.catchingUp = nil
            let type = self.type
            watcher.stream.channel.eventLoop.execute { Self.write(queued, to: watcher, bookmark: nil, type: type) }
        }
    }

    func remove(_ watcher: Watcher) {
        _ = state.withLock { $0.watchers.removeValue(forKey: watcher.id) }
    }

    var watcherCount: Int { state.withLock { $0.watchers.count } }
}
