import ClusterClient
import Logging
import Resources
import Synchronization

/// The ReplicaSet controller's shell: pod and ReplicaSet events enqueue the owning set's key (and, for orphans,
/// every set whose selector matches); a sync reads the caches, asks `ReplicaSetReconciler`, and carries the
/// actions out — pods through `PodControl` (expectations, slow-start batches), adoption and status by
/// compare-and-swap on resourceVersion.
public final class ReplicaSetController: Controller {
    public let name = "replicaset"
    let sets: Informer
    let pods: Informer
    private let setsClient: ResourceClient
    private let podsClient: ResourceClient
    private let control: PodControl
    private let loop: ControllerLoop
    private let reconciler = ReplicaSetReconciler()
    private let createFailures = Mutex<[String: String]>([:])

    public init(sets: Informer, pods: Informer, events: EventRecorder, logger: Logger) {
        self.sets = sets
        self.pods = pods
        setsClient = sets.resource
        podsClient = pods.resource
        control = PodControl(pods: pods.resource, events: events)
        loop = ControllerLoop(name: "replicaset", logger: logger)
        sets.addHandler { [weak self] event in self?.setChanged(event) }
        pods.addHandler { [weak self] event in self?.podChanged(event) }
    }

    public func enqueueAll() {
        for key in sets.cache.keys { loop.enqueue(key) }
    }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        await loop.run(workers: workers, isLeading: isLeading) { key in try await self.sync(key) }
    }

    // MARK: Event handlers (they only enqueue and note expectations)

    private func setChanged(_ event: Informer.Event) {
        switch event {
        case .added(let set), .updated(_, let set):
            loop.enqueue(ObjectCache.key(of: set))
        case .deleted(let set):
            let key = ObjectCache.key(of: set)
            control.forget(key)
            loop.enqueue(key)
        }
    }

    /// The key of the ReplicaSet `reference` names in `namespace`, if the cache has that very set.
    private func ownerKey(_ reference: OwnerReference?, namespace: String) -> String? {
        guard let reference, reference.kind == "ReplicaSet" else { return nil }
        let key = ObjectCache.key(namespace: namespace, name: reference.name)
        guard sets.cache.object(forKey: key)?[path: ["metadata", "uid"]]?.stringValue == reference.uid else { return nil }
        return key
    }

    /// Sets of the pod's namespace whose selector matches its labels (candidates to adopt an orphan).
    private func matchingSets(_ pod: PodView) -> [String] {
        sets.cache.objects(index: "namespace", value: pod.namespace).compactMap { set in
            guard let selector = try? LabelSelector(object: set[path: ["spec", "selector"]]), !selector.isEverything,
                  selector.matches(pod.labels) else { return nil }
            return ObjectCache.key(of: set)
        }
    }

    private func podChanged(_ event: Informer.Event) {
        switch event {
        case .added(let object):
            let pod = PodView(object)
            if let key = ownerKey(pod.controller, namespace: pod.namespace) {
                control.observed(event, key: key)
                loop.enqueue(key)
            } else if pod.controller == nil {
                for key in matchingSets(pod) { loop.enqueue(key) }
            }
        case .updated(let oldObject, let newObject):
            let (old, new) = (PodView(oldObject), PodView(newObject))
            let newOwner = ownerKey(new.controller, namespace: new.namespace)
            if let key = newOwner { control.observed(event, key: key) }
            if old.controller != new.controller, let key = ownerKey(old.controller, namespace: old.namespace) {
                loop.enqueue(key)
            }
            if let key = newOwner {
                loop.enqueue(key)
            } else if new.controller == nil, old.labels != new.labels || old.controller != nil {
                for key in matchingSets(new) { loop.enqueue(key) }
            }
        case .deleted(let object):
            let pod = PodView(object)
            guard let key = ownerKey(pod.controller, namespace: pod.namespace) else { return }
            control.observed(event, key: key)
            loop.enqueue(key)
        }
    }

    // MARK: Sync

    func sync(_ key: String) async throws -> ControllerLoop.Outcome {
        guard let set = sets.cache.object(forKey: key) else {
            control.forget(key)
            createFailures.withLock { $0[key] = nil }
            return .done
        }
        // Expectations first, then the cache: a pod added in between is then in the list, not created again.
        let satisfied = control.isSatisfied(key)
        let deleting = control.pendingDeletions(key)
        let namespace = set[path: ["metadata", "namespace"]]?.stringValue ?? ""
        let uid = set[path: ["metadata", "uid"]]?.stringValue ?? ""
        let selector = try? LabelSelector(object: set[path: ["spec", "selector"]])
        let candidates = pods.cache.objects(index: "namespace", value: namespace).map(PodView.init).filter { pod in
            pod.controller?.uid == uid || (pod.controller == nil && selector?.matches(pod.labels) == true)
        }
        let input = ReplicaSetReconciler.Input(set: set, pods: candidates, expectationsSatisfied: satisfied, deleting: deleting,
                                               createFailure: createFailures.withLock { $0[key] }, now: wallClock())
        var outcome = ControllerLoop.Outcome.done
        var failure: APIError?
        let actions = reconciler.reconcile(input)
        if !actions.contains(where: { if case .create = $0 { true } else { false } }) {
            createFailures.withLock { $0[key] = nil }
        }
        for action in actions {
            do {
                outcome = try await perform(action, for: set, key: key) ?? outcome
            } catch {
                if error.isNotFound { continue }
                // A pod that could not be adopted or released may be another set's now: nothing more this round.
                if case .adopt = action { throw error }
                if case .release = action { throw error }
                failure = failure ?? error
            }
        }
        if !satisfied, let lapse = control.secondsUntilLapse(key) { outcome = .requeue(after: max(lapse, 0.1)) }
        if let failure { throw failure }
        return outcome
    }

    /// Carries out one action; a requeue comes back as its outcome.
    private func perform(_ action: ReplicaSetReconciler.Action, for set: JSONValue, key: String) async throws(APIError) -> ControllerLoop.Outcome? {
        let uid = set[path: ["metadata", "uid"]]?.stringValue ?? ""
        switch action {
        case .adopt(let pod):
            _ = try await podsClient.update(OwnerReference.adopting(pod.object, by: OwnerReference(controllerOf: set, apiVersion: "apps/v1", kind: "ReplicaSet")))
        case .release(let pod):
            _ = try await podsClient.update(OwnerReference.releasing(pod.object, from: uid))
        case .create(let count):
            try await create(count, for: set, key: key)
        case .delete(let victims):
            try await delete(victims, of: set, key: key)
        case .updateStatus(let status):
            try await setsClient.updateStatus(of: set, to: status)
        case .requeue(let delay):
            return .requeue(after: delay)
        }
        return nil
    }

    private func create(_ count: Int, for set: JSONValue, key: String) async throws(APIError) {
        let namespace = set[path: ["metadata", "namespace"]]?.stringValue ?? "default"
        let failure: APIError
        do {
            try await control.create(Array(repeating: ReplicaSetReconciler.pod(for: set), count: count), namespace: namespace, key: key,
                                     involved: reference(to: set, apiVersion: "apps/v1", kind: "ReplicaSet"))
            createFailures.withLock { $0[key] = nil }
            return
        } catch {
            failure = error
        }
        createFailures.withLock { $0[key] = failure.message }
        throw failure
    }

    private func delete(_ victims: [PodView], of set: JSONValue, key: String) async throws(APIError) {
        try await control.delete(victims, key: key, involved: reference(to: set, apiVersion: "apps/v1", kind: "ReplicaSet"))
    }
}
