import ClusterClient
import Logging
import Resources
import Synchronization

/// The ReplicaSet controller's shell: pod and ReplicaSet events enqueue the owning set's key (and, for orphans,
/// every set whose selector matches); a sync reads the caches, asks `ReplicaSetReconciler`, and carries the
/// actions out — creations in slow-start batches (1, 2, 4, … stopping at the first failure, so a quota or
/// admission error costs one request, not hundreds), deletions with uid preconditions, adoption and status by
/// compare-and-swap on resourceVersion — recording what it expects to see in `ControllerExpectations` first.
public final class ReplicaSetController: Controller {
    public let name = "replicaset"
    let sets: Informer
    let pods: Informer
    private let setsClient: ResourceClient
    private let podsClient: ResourceClient
    private let events: EventRecorder
    private let loop: ControllerLoop
    private let reconciler = ReplicaSetReconciler()
    private let expectations = Mutex(ControllerExpectations())
    private let createFailures = Mutex<[String: String]>([:])
    private let clock = MonotonicClock()

    public init(sets: Informer, pods: Informer, events: EventRecorder, logger: Logger) {
        self.sets = sets
        self.pods = pods
        setsClient = sets.resource
        podsClient = pods.resource
        self.events = events
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
            expectations.withLock { $0.forget(key) }
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
                expectations.withLock { expectations in
                    if pod.isTerminating {
                        expectations.deletionObserved(key, podKey: pod.key)
                    } else {
                        expectations.creationObserved(key)
                    }
                }
                loop.enqueue(key)
            } else if pod.controller == nil {
                for key in matchingSets(pod) { loop.enqueue(key) }
            }
        case .updated(let oldObject, let newObject):
            let (old, new) = (PodView(oldObject), PodView(newObject))
            let newOwner = ownerKey(new.controller, namespace: new.namespace)
            if new.isTerminating && !old.isTerminating, let key = newOwner {
                expectations.withLock { $0.deletionObserved(key, podKey: new.key) }
            }
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
            expectations.withLock { $0.deletionObserved(key, podKey: pod.key) }
            loop.enqueue(key)
        }
    }

    // MARK: Sync

    func sync(_ key: String) async throws -> ControllerLoop.Outcome {
        guard let set = sets.cache.object(forKey: key) else {
            expectations.withLock { $0.forget(key) }
            createFailures.withLock { $0[key] = nil }
            return .done
        }
        let namespace = set[path: ["metadata", "namespace"]]?.stringValue ?? ""
        let uid = set[path: ["metadata", "uid"]]?.stringValue ?? ""
        let selector = try? LabelSelector(object: set[path: ["spec", "selector"]])
        let candidates = pods.cache.objects(index: "namespace", value: namespace).map(PodView.init).filter { pod in
            pod.controller?.uid == uid || (pod.controller == nil && selector?.matches(pod.labels) == true)
        }
        let now = clock.now
        let satisfied = expectations.withLock { $0.isSatisfied(key, now: now) }
        let input = ReplicaSetReconciler.Input(set: set, pods: candidates, expectationsSatisfied: satisfied,
                                               createFailure: createFailures.withLock { $0[key] }, now: wallClock())
        var outcome = ControllerLoop.Outcome.done
        var failure: APIError?
        for action in reconciler.reconcile(input) {
            do {
                outcome = try await perform(action, for: set, key: key) ?? outcome
            } catch {
                if !error.isNotFound { failure = failure ?? error }
            }
        }
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
            var updated = set
            updated["status"] = status
            _ = try await setsClient.updateStatus(updated)
        case .requeue(let delay):
            return .requeue(after: delay)
        }
        return nil
    }

    private func create(_ count: Int, for set: JSONValue, key: String) async throws(APIError) {
        expectations.withLock { $0.expectCreations(key, count: count, now: clock.now) }
        let template = ReplicaSetReconciler.pod(for: set)
        let involved = reference(to: set, apiVersion: "apps/v1", kind: "ReplicaSet")
        let namespace = set[path: ["metadata", "namespace"]]?.stringValue ?? "default"
        var remaining = count
        var batch = 1
        var firstFailure: APIError?
        while remaining > 0 && firstFailure == nil {
            let size = min(batch, remaining)
            remaining -= size
            let failures = await withTaskGroup(of: APIError?.self) { group in
                for _ in 0..<size {
                    group.addTask { await self.createOne(template, namespace: namespace, involved: involved, key: key) }
                }
                var failures: [APIError] = []
                for await failure in group { if let failure { failures.append(failure) } }
                return failures
            }
            firstFailure = failures.first
            batch *= 2
        }
        // Creations never attempted will not show up either.
        expectations.withLock { expectations in
            for _ in 0..<remaining { expectations.creationObserved(key) }
        }
        if let firstFailure {
            createFailures.withLock { $0[key] = firstFailure.message }
            events.record(involved: involved, namespace: namespace, type: "Warning", reason: "FailedCreate",
                          message: "Error creating: \(firstFailure.message)")
            throw firstFailure
        }
        createFailures.withLock { $0[key] = nil }
    }

    private func delete(_ victims: [PodView], of set: JSONValue, key: String) async throws(APIError) {
        expectations.withLock { $0.expectDeletions(key, podKeys: victims.map(\.key), now: clock.now) }
        let involved = reference(to: set, apiVersion: "apps/v1", kind: "ReplicaSet")
        let failures = await withTaskGroup(of: APIError?.self) { group in
            for pod in victims {
                group.addTask { await self.deleteOne(pod, involved: involved, key: key) }
            }
            var failures: [APIError] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
        if let failure = failures.first { throw failure }
    }

    private func createOne(_ template: JSONValue, namespace: String, involved: JSONValue, key: String) async -> APIError? {
        do {
            let pod = try await podsClient.create(template, namespace: namespace)
            let name = pod[path: ["metadata", "name"]]?.stringValue ?? ""
            events.record(involved: involved, namespace: namespace, type: "Normal", reason: "SuccessfulCreate", message: "Created pod: \(name)")
            return nil
        } catch {
            expectations.withLock { $0.creationObserved(key) }
            return error
        }
    }

    private func deleteOne(_ pod: PodView, involved: JSONValue, key: String) async -> APIError? {
        do {
            try await podsClient.delete(namespace: pod.namespace, name: pod.name, uid: pod.uid)
            events.record(involved: involved, namespace: pod.namespace, type: "Normal", reason: "SuccessfulDelete", message: "Deleted pod: \(pod.name)")
            return nil
        } catch {
            expectations.withLock { $0.deletionObserved(key, podKey: pod.key) }
            return error.isNotFound ? nil : error
        }
    }
}
