import Foundation
import Logging
import Resources
import Synchronization

/// Keeps an `ObjectCache` of one resource type true to the API server and tells handlers what changed, as
/// client-go's shared informer does: list (page by page), then watch from the list's resourceVersion; a watch that
/// ends is resumed from the last version seen (bookmarks keep it fresh while nothing changes); 410 Gone relists,
/// and the relist's difference is delivered as adds, updates and deletes, so that handlers never miss a delete.
/// Failures back off exponentially (0.1 s doubling to 30 s). Handlers run in event order, on the informer's task,
/// one event at a time: they should only enqueue keys (and never add a handler to the same informer).
public final class Informer: Sendable {
    public enum Event: Sendable {
        case added(JSONValue)
        case updated(old: JSONValue, new: JSONValue)
        case deleted(JSONValue)
    }

    public typealias Handler = @Sendable (Event) -> Void

    public let resource: ResourceClient
    public let cache: ObjectCache
    public let namespace: String?
    public let labelSelector: String
    public let fieldSelector: String
    private let logger: Logger
    private let state = Mutex(State())
    /// Held while the cache changes and handlers are told, and while a new handler is told of the cache, so that
    /// a new handler never sees an object's old state after its new one.
    private let delivery = Mutex(())

    private struct State {
        var handlers: [Handler] = []
        var synced = false
        var syncWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        var lastResourceVersion = ""
        var lists = 0
    }

    public init(_ resource: ResourceClient, namespace: String? = nil, labelSelector: String = "", fieldSelector: String = "",
                indexers: [ObjectCache.Indexer] = [.namespace], logger: Logger = Logger(label: "podium.informer")) {
        self.resource = resource
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        cache = ObjectCache(indexers: indexers)
        self.logger = logger
    }

    /// Adds a handler; it is told of every object already in the cache as added, then of every change.
    public func addHandler(_ handler: @escaping Handler) {
        delivery.withLock { _ in
            let existing = state.withLock { state -> [JSONValue] in
                state.handlers.append(handler)
                return state.synced ? cache.objects : []
            }
            for object in existing { handler(.added(object)) }
        }
    }

    public var hasSynced: Bool { state.withLock { $0.synced } }
    /// The last resourceVersion the cache reflects.
    public var lastResourceVersion: String { state.withLock { $0.lastResourceVersion } }
    /// How many times it listed (1 unless it had to relist).
    public var listCount: Int { state.withLock { $0.lists } }

    /// Returns once the first list is in the cache, or when the task is cancelled.
    public func waitUntilSynced() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.synced || Task.isCancelled { return true }
                    state.syncWaiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.syncWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Lists and watches until the task is cancelled.
    public func run() async {
        var backoff = Backoff(initial: 0.1, maximum: 30)
        var needsList = true
        while !Task.isCancelled {
            do {
                if needsList {
                    try await list()
                    needsList = false
                }
                try await watch { backoff.reset() }
                // The server ended the watch (its timeout): resume from where it was.
            } catch let error as APIError where error.isGone {
                logger.debug("\(resource.type.qualifiedName): \(error.message); relisting")
                needsList = true
            } catch {
                if Task.isCancelled { break }
                let delay = backoff.next()
                logger.debug("\(resource.type.qualifiedName) watch failed: \(error); retrying in \(delay) s")
                try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            }
        }
    }

    private func list() async throws {
        let list = try await resource.listAll(namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector)
        let waiters = delivery.withLock { _ in
            let (previous, removed) = cache.replace(with: list.items)
            let (handlers, waiters) = state.withLock { state in
                state.lastResourceVersion = list.resourceVersion
                state.lists += 1
                state.synced = true
                defer { state.syncWaiters = [:] }
                return (state.handlers, Array(state.syncWaiters.values))
            }
            for object in list.items {
                let event: Event
                if let old = previous[ObjectCache.key(of: object)] {
                    guard Self.version(old) != Self.version(object) else { continue }
                    event = .updated(old: old, new: object)
                } else {
                    event = .added(object)
                }
                for handler in handlers { handler(event) }
            }
            for object in removed {
                for handler in handlers { handler(.deleted(object)) }
            }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func watch(onFirstEvent: () -> Void) async throws {
        let from = lastResourceVersion
        // The server ends a watch after timeoutSeconds; a random 5–10 minutes spreads the re-watches of many
        // clients, as client-go does.
        var first = true
        try await resource.watch(namespace: namespace, resourceVersion: from, labelSelector: labelSelector,
                                 fieldSelector: fieldSelector, timeoutSeconds: Int.random(in: 300...600)) { event in
            if first {
                first = false
                onFirstEvent()
            }
            apply(event)
        }
    }

    private func apply(_ event: WatchEvent) {
        let version = Self.version(event.object)
        delivery.withLock { _ in
            let change: Event?
            switch event.kind {
            case .bookmark, .error:
                change = nil
            case .added, .modified:
                let old = cache.upsert(event.object)
                change = old.map { .updated(old: $0, new: event.object) } ?? .added(event.object)
            case .deleted:
                cache.remove(event.object)
                change = .deleted(event.object)
            }
            let handlers = state.withLock { state in
                if !version.isEmpty { state.lastResourceVersion = version }
                return state.handlers
            }
            guard let change else { return }
            for handler in handlers { handler(change) }
        }
    }

    static func version(_ object: JSONValue) -> String {
        object[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
    }
}

/// Exponential backoff with jitter: pure apart from the random jitter.
struct Backoff {
    let initial: Double
    let maximum: Double
    private var current: Double

    init(initial: Double, maximum: Double) {
        self.initial = initial
        self.maximum = maximum
        current = initial
    }

    mutating func next() -> Double {
        let delay = current * Double.random(in: 1...1.5)
        current = min(current * 2, maximum)
        return min(delay, maximum)
    }

    mutating func reset() {
        current = initial
    }
}
