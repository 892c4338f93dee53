import ClusterClient
import Logging
import Resources
import Synchronization

/// The garbage collector's shell: informers on every type that owns or is owned (shared with the other
/// controllers where they overlap); any change wakes a pass over the whole graph (passes at most every
/// `minimumInterval` seconds, and at least every 10 s), whose actions it carries out with uid preconditions. A
/// dependent is deleted only after a live read confirms that its owners are gone — a cache that has not yet seen
/// a new owner never costs an object.
public final class GarbageCollector: Controller {
    public let name = "garbagecollector"
    private let informers: [Informer]
    private let watched: Set<String>
    private let logger: Logger
    private let wake = WorkQueue<Int>()
    private let minimumInterval: Double

    public init(informers: [Informer], minimumInterval: Double = 0.2, logger: Logger) {
        self.informers = informers
        watched = Set(informers.map { $0.resource.type.apiVersion + "/" + $0.resource.type.kind })
        self.logger = logger
        self.minimumInterval = minimumInterval
        for informer in informers {
            informer.addHandler { [weak self] _ in self?.wake.add(0) }
        }
    }

    public func enqueueAll() { wake.add(0) }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        let timer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(10))
                wake.add(0)
            }
        }
        defer { timer.cancel() }
        while !Task.isCancelled, isLeading(), let token = await wake.next() {
            wake.done(token)
            await collect(workers: max(1, workers), isLeading: isLeading)
            try? await Task.sleep(for: .milliseconds(Int(minimumInterval * 1000)))
        }
    }

    func collect(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        var objects: [GarbageCollection.Object] = []
        for (index, informer) in informers.enumerated() {
            let type = informer.resource.type
            for json in informer.cache.objects {
                objects.append(GarbageCollection.Object(type: index, apiVersion: type.apiVersion, kind: type.kind, json: json))
            }
        }
        let actions = GarbageCollection.plan(objects, watched: watched)
        guard !actions.isEmpty else { return }
        // A bounded number of writes in flight.
        let chunk = workers * 8
        for start in stride(from: 0, to: actions.count, by: chunk) where isLeading() {
            await withDiscardingTaskGroup { group in
                for action in actions[start..<min(start + chunk, actions.count)] {
                    group.addTask {
                        do {
                            try await self.perform(action)
                        } catch {
                            self.logger.debug("garbage collector: \(action): \(error)")
                        }
                    }
                }
            }
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
