import Resources
import Synchronization

/// The API server's watch caches, one per resource type, each started the first time its type is watched or
/// listed from the cache.
final class WatchCaches: Sendable {
    let store: ObjectStore
    let size: Int
    private let caches = Mutex<[String: WatchCache]>([:])

    init(store: ObjectStore, size: Int) {
        self.store = store
        self.size = size
    }

    /// Starts every type's cache, as kube-apiserver does at start: a cache must be older than the lists clients
    /// resume their watches from, or those resumes would be refused as too old.
    func startAll() {
        for type in ResourceType.all { _ = cache(for: type) }
    }

    func cache(for type: ResourceType) -> WatchCache {
        let cache = caches.withLock { caches in
            // Per served type, not per store prefix: cohabiting types (core and events.k8s.io Events) share a
            // prefix but not a form.
            let id = type.apiVersion + "/" + type.plural
            if let cache = caches[id] { return cache }
            let cache = WatchCache(type: type, store: store, ringCapacity: size)
            caches[id] = cache
            return cache
        }
        cache.startIfNeeded()
        return cache
    }
}
