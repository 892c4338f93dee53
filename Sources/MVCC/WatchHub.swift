import Synchronization

/// Delivers the store's changes to its watchers.
///
/// The writer publishes each revision's events once; the hub hands them to every in-sync watcher whose range
/// matches, into that watcher's bounded buffer. A watcher whose buffer is full, or that starts in the past,
/// is "behind": the writer skips it, and its consumer reads the missing revisions from storage when it polls,
/// then rejoins the live stream. So a slow consumer costs the writer nothing, and every watcher still sees
/// every event exactly once, in revision order.
public final class WatchHub: Sendable {
    struct Registry {
        /// The last revision published.
        var revision: Int64
        var compactRevision: Int64
        var nextID: Int64 = 1
        var singleKey: [[UInt8]: [Int64: Watcher]] = [:]
        var ranges: [Int64: Watcher] = [:]
        var count = 0
    }

    let registry: Mutex<Registry>
    let history: EventHistory
    /// Events a watcher may have buffered before it falls behind and catches up from storage instead.
    let bufferLimit: Int
    /// History entries read per catch-up step.
    let catchUpBatch: Int

    init(history: EventHistory, revision: Int64, compactRevision: Int64, bufferLimit: Int, catchUpBatch: Int) {
        self.history = history
        self.bufferLimit = bufferLimit
        self.catchUpBatch = catchUpBatch
        registry = Mutex(Registry(revision: revision, compactRevision: compactRevision))
    }

    deinit {
        // The store is gone: wake every consumer so none waits forever on a watcher that can never fire.
        let watchers = registry.withLock { registry in
            registry.singleKey.values.flatMap(\.values) + Array(registry.ranges.values)
        }
        for watcher in watchers { watcher.finish(.canceled) }
    }

    /// The number of active watchers.
    public var watcherCount: Int { registry.withLock { $0.count } }

    /// Starts a watcher. `notify` is called (on the writer's thread, so it must be quick) whenever the watcher
    /// has something new after it was created or after a poll returned `.idle`.
    public func watch(_ request: WatchRequest, notify: @escaping @Sendable () -> Void = {}) -> Watcher {
        let watcher: Watcher = registry.withLock { registry in
            let id = registry.nextID
            registry.nextID += 1
            let start = request.startRevision
            let behind = start > 0 && start <= registry.revision
            let watcher = Watcher(id: id, request: request, hub: self, notify: notify,
                                  nextRevision: start > 0 ? start : registry.revision + 1, behind: behind)
            if request.range.isSingleKey {
                registry.singleKey[request.range.key, default: [:]][id] = watcher
            } else {
                registry.ranges[id] = watcher
            }
            registry.count += 1
            return watcher
        }
        if watcher.startsBehind { watcher.signal() }
        return watcher
    }

    /// Called by the writer after a revision's changes are durable in storage and visible to readers.
    func publish(revision: Int64, events: [WatchEvent]) {
        var toSignal: [Watcher] = []
        registry.withLock { registry in
            registry.revision = revision
            if registry.count == 0 { return }
            if events.count == 1 {
                // Most watchers do not ask for previous values: strip them once here rather than once per watcher.
                let event = events[0]
                var stripped = event
                stripped.prevKV = nil
                let withoutPrevKV = event.prevKV == nil ? events : [stripped]
                for watcher in matching(event.kv.key, in: registry)
                where watcher.offer(events, withoutPrevKV: withoutPrevKV, revision: revision, limit: bufferLimit) {
                    toSignal.append(watcher)
                }
                return
            }
            var perWatcher: [Int64: (watcher: Watcher, events: [WatchEvent])] = [:]
            for event in events {
                for watcher in matching(event.kv.key, in: registry) {
                    perWatcher[watcher.id, default: (watcher, [])].events.append(event)
                }
            }
            for (watcher, matched) in perWatcher.values {
                let stripped = watcher.request.prevKV ? matched : matched.map { event in
                    var copy = event
                    copy.prevKV = nil
                    return copy
                }
                guard watcher.offer(matched, withoutPrevKV: stripped, revision: revision, limit: bufferLimit) else { continue }
                toSignal.append(watcher)
            }
        }
        for watcher in toSignal { watcher.signal() }
    }

    /// The store's state was replaced by a snapshot: every watcher reads on from storage, from where it was.
    func restored(revision: Int64, compactRevision: Int64) {
        let watchers = registry.withLock { registry in
            registry.revision = revision
            registry.compactRevision = compactRevision
            return registry.singleKey.values.flatMap(\.values) + Array(registry.ranges.values)
        }
        for watcher in watchers {
            watcher.fallBehind()
            watcher.signal()
        }
    }

    func compacted(at revision: Int64) {
        registry.withLock { $0.compactRevision = revision }
    }

    private func matching(_ key: [UInt8], in registry: Registry) -> [Watcher] {
        var found: [Watcher] = []
        if let exact = registry.singleKey[key] { found.append(contentsOf: exact.values) }
        for watcher in registry.ranges.values where watcher.request.range.contains(key) { found.append(watcher) }
        return found
    }

    func remove(_ watcher: Watcher) {
        registry.withLock { registry in
            let removed: Watcher?
            if watcher.request.range.isSingleKey {
                removed = registry.singleKey[watcher.request.range.key]?.removeValue(forKey: watcher.id)
                if registry.singleKey[watcher.request.range.key]?.isEmpty == true {
                    registry.singleKey[watcher.request.range.key] = nil
                }
            } else {
                removed = registry.ranges.removeValue(forKey: watcher.id)
            }
            if removed != nil { registry.count -= 1 }
        }
    }

    /// The last published revision and the compaction point, read together.
    func positions() -> (revision: Int64, compactRevision: Int64) {
        registry.withLock { ($0.revision, $0.compactRevision) }
    }

    /// Puts a behind watcher back in sync if it has read everything published so far. Holding the registry
    /// lock means no revision can be published in between, so none is missed or seen twice.
    func rejoin(_ watcher: Watcher) {
        registry.withLock { registry in watcher.rejoinIfCaughtUp(publishedRevision: registry.revision) }
    }
}
