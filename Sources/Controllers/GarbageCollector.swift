import ClusterClient
import Logging
import Resources
import Synchronization

/// The garbage collector's shell: informers on every type that owns or is owned (shared with the other
/// controllers where they overlap) feed each change into the graph; a change wakes a pass over what it touched
/// (passes at most every `minimumInterval` seconds; every object again every `resyncInterval`), whose actions it
/// carries out with uid preconditions. A dependent is deleted only after a live read confirms that its owners are
/// gone — a cache that has not yet seen a new owner never costs an object. An action that fails is retried in the
/// next pass.
public final class GarbageCollector: Controller {
    public let name = "garbagecollector"
    private let informers: [Informer]
    private let graph: Mutex<GarbageCollection>
    private let logger: Logger
    private let wake = WorkQueue<Int>()
    private let minimumInterval: Double
    private let resyncInterval: Double

    public init(informers: [Informer], minimumInterval: Double = 0.2, resyncInterval: Double = 30, logger: Logger) {
        self.informers = informers
        graph = Mutex(GarbageCollection(watched: Set(informers.map { $0.resource.type.apiVersion + "/" + $0.resource.type.kind })))
        self.logger = logger
        self.minimumInterval = minimumInterval
        self.resyncInterval = resyncInterval
        for (index, informer) in informers.enumerated() {
            let type = informer.resource.type
            informer.addHandler { [weak self] event in
                guard let self else { return }
                switch event {
                case .added(let json), .updated(_, let json):
                    let object = GarbageCollection.Object(type: index, apiVersion: type.apiVersion, kind: type.kind, json: json)
                    graph.withLock { $0.upsert(object) }
                case .deleted(let json):
                    let uid = json[path: ["metadata", "uid"]]?.stringValue ?? ""
                    graph.withLock { $0.remove(uid: uid) }
                }
                wake.add(0)
            }
        }
    }

    /// Objects in the graph.
    public var graphSize: Int { graph.withLock { $0.count } }

    public func enqueueAll() {
        graph.withLock { $0.markAllDirty() }
        wake.add(0)
    }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        let timer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int(resyncInterval * 1000)))
                enqueueAll()
            }
        }
        defer { timer.cancel() }
        // Whatever was planned while another instance led may not have been done: look at everything once.
        enqueueAll()
        while !Task.isCancelled, isLeading(), let token = await wake.next() {
            wake.done(token)
            await collect(workers: max(1, workers), isLeading: isLeading)
            try? await Task.sleep(for: .milliseconds(Int(minimumInterval * 1000)))
        }
    }

    func collect(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        let actions = graph.withLock { $0.plan() }
        guard !actions.isEmpty else { return }
        // A bounded number of writes in flight.
        let chunk = workers * 8
        for start in stride(from: 0, to: actions.count, by: chunk) {
            let batch = actions[start..<min(start + chunk, actions.count)]
            guard isLeading() else {
                graph.withLock { graph in for action in actions[start...] { graph.retry(uid: action.object.uid) } }
                return
            }
            await withDiscardingTaskGroup { group in
                for action in batch {
                    group.addTask {
                        if let failure = await self.attempt(action) {
                            self.logger.debug("garbage collector: \(action): \(failure)")
                            self.graph.withLock { $0.retry(uid: action.object.uid) }
                            self.wake.add(0)
                        }
                    }
                }
            }
        }
    }

    private func attempt(_ action: GarbageCollection.Action) async -> APIError? {
        do {
            try await perform(action)
            return nil
        } catch {
            return error
        }
    }

    private func perform(_ action: GarbageCollection.Action) async throws(APIError) {
        switch action {
        case .delete(let object, let propagation, let verify):
            for owner in verify where try await ownerExists(owner, namespace: object.namespace) { return }
            let client = informers[object.type].resource
            do {
                try await client.delete(namespace: object.namespace, name: object.name, uid: object.uid, propagationPolicy: propagation)
            } catch {
                if !error.isNotFound && !error.isConflict { throw error }
            }
        case .release(let object, let owners):
            try await update(object) { json in
                let kept = (json[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).filter { !owners.contains($0["uid"]?.stringValue ?? "") }
                json[path: ["metadata", "ownerReferences"]] = kept.isEmpty ? nil : .array(kept)
            }
        case .removeFinalizer(let object, let finalizer):
            try await update(object) { json in
                let kept = (json[path: ["metadata", "finalizers"]]?.arrayValue ?? []).filter { $0.stringValue != finalizer }
                json[path: ["metadata", "finalizers"]] = kept.isEmpty ? nil : .array(kept)
            }
        }
    }

    /// Whether the owner exists with that uid, read live (a quorum read, not a cache).
    private func ownerExists(_ owner: OwnerReference, namespace: String?) async throws(APIError) -> Bool {
        guard let type = ResourceType.all.first(where: { $0.apiVersion == owner.apiVersion && $0.kind == owner.kind }) else { return true }
        let client = ResourceClient(informers[0].resource.api, type)
        let found: JSONValue
        do {
            found = try await client.get(namespace: type.namespaced ? namespace : nil, name: owner.name)
        } catch {
            if error.isNotFound { return false }
            throw error
        }
        return found[path: ["metadata", "uid"]]?.stringValue == owner.uid
    }

    /// Read-modify-write of the cached object by compare-and-swap (a conflict waits for the next pass).
    private func update(_ object: GarbageCollection.Object, _ change: (inout JSONValue) -> Void) async throws(APIError) {
        let informer = informers[object.type]
        guard var json = informer.cache.object(namespace: object.namespace, name: object.name),
              json[path: ["metadata", "uid"]]?.stringValue == object.uid else { return }
        change(&json)
        do {
            _ = try await informer.resource.update(json)
        } catch {
            if !error.isNotFound && !error.isConflict { throw error }
        }
    }
}
