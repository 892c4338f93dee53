import ClusterClient
import Logging
import Resources

/// The Deployment controller's shell: Deployment and ReplicaSet events enqueue the Deployment's key; a sync
/// reads the caches, asks `DeploymentReconciler` for one step, and writes it — every update a compare-and-swap
/// on the resourceVersion it read, so that a stale cache costs a retry, never a wrong write. Events go on the
/// Deployment, as `kubectl describe deployment` shows them.
public final class DeploymentController: Controller {
    public let name = "deployment"
    let deployments: Informer
    let sets: Informer
    let pods: Informer
    let configMaps: Informer
    let secrets: Informer
    private let deploymentsClient: ResourceClient
    private let setsClient: ResourceClient
    private let events: EventRecorder
    private let loop: ControllerLoop
    private let reconciler = DeploymentReconciler()

    public init(deployments: Informer, sets: Informer, pods: Informer, configMaps: Informer, secrets: Informer, events: EventRecorder,
                logger: Logger) {
        self.deployments = deployments
        self.sets = sets
        self.pods = pods
        self.configMaps = configMaps
        self.secrets = secrets
        deploymentsClient = deployments.resource
        setsClient = sets.resource
        self.events = events
        loop = ControllerLoop(name: "deployment", logger: logger)
        deployments.addHandler { [weak self] event in self?.deploymentChanged(event) }
        sets.addHandler { [weak self] event in self?.setChanged(event) }
        pods.addHandler { [weak self] event in self?.podChanged(event) }
        configMaps.addHandler { [weak self] event in self?.configChanged(event) }
        secrets.addHandler { [weak self] event in self?.configChanged(event) }
    }

    /// A ConfigMap or Secret changed: the Deployments of its namespace that roll out on such changes look again.
    private func configChanged(_ event: Informer.Event) {
        let object: JSONValue
        switch event {
        case .added(let changed), .updated(_, let changed), .deleted(let changed): object = changed
        }
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue ?? ""
        for deployment in deployments.cache.objects(index: "namespace", value: namespace)
        where deployment[path: ["metadata", "annotations", ConfigReferences.optInAnnotation]]?.stringValue == "true" {
            loop.enqueue(ObjectCache.key(of: deployment))
        }
    }

    /// A Recreate rollout waits for old pods to be gone: their removal is what lets it go on.
    private func podChanged(_ event: Informer.Event) {
        guard case .deleted(let pod) = event, let owner = OwnerReference.controller(of: pod), owner.kind == "ReplicaSet",
              let set = sets.cache.object(namespace: pod[path: ["metadata", "namespace"]]?.stringValue, name: owner.name) else { return }
        setChanged(.updated(old: set, new: set))
    }

    public func enqueueAll() {
        for key in deployments.cache.keys { loop.enqueue(key) }
    }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        await loop.run(workers: workers, isLeading: isLeading) { key in try await self.sync(key) }
    }

    private func deploymentChanged(_ event: Informer.Event) {
        switch event {
        case .added(let object), .updated(_, let object), .deleted(let object):
            loop.enqueue(ObjectCache.key(of: object))
        }
    }

    private func setChanged(_ event: Informer.Event) {
        let objects: [JSONValue]
        switch event {
        case .added(let object), .deleted(let object): objects = [object]
        case .updated(let old, let new): objects = [old, new]
        }
        for object in objects {
            let namespace = object[path: ["metadata", "namespace"]]?.stringValue ?? ""
            if let owner = OwnerReference.controller(of: object) {
                guard owner.kind == "Deployment" else { continue }
                let key = ObjectCache.key(namespace: namespace, name: owner.name)
                if deployments.cache.object(forKey: key)?[path: ["metadata", "uid"]]?.stringValue == owner.uid { loop.enqueue(key) }
            } else {
                let labels = object[path: ["metadata", "labels"]]?.stringMap ?? [:]
                for deployment in deployments.cache.objects(index: "namespace", value: namespace) {
                    guard let selector = try? LabelSelector(object: deployment[path: ["spec", "selector"]]), !selector.isEverything,
                          selector.matches(labels) else { continue }
                    loop.enqueue(ObjectCache.key(of: deployment))
                }
            }
        }
    }

    func sync(_ key: String) async throws -> ControllerLoop.Outcome {
        guard var current = deployments.cache.object(forKey: key) else { return .done }
        let namespace = current[path: ["metadata", "namespace"]]?.stringValue ?? ""
        let uid = current[path: ["metadata", "uid"]]?.stringValue ?? ""
        let selector = try? LabelSelector(object: current[path: ["spec", "selector"]])
        let candidates = sets.cache.objects(index: "namespace", value: namespace).filter { set in
            if let owner = OwnerReference.controller(of: set) { return owner.uid == uid }
            return selector?.matches(set[path: ["metadata", "labels"]]?.stringMap ?? [:]) == true
        }
        let involved = reference(to: current, apiVersion: "apps/v1", kind: "Deployment")
        var outcome = ControllerLoop.Outcome.done
        var running: [String: Int] = [:]
        if current[path: ["spec", "strategy", "type"]]?.stringValue == "Recreate" {
            for set in candidates {
                guard let setUID = set[path: ["metadata", "uid"]]?.stringValue else { continue }
                running[setUID] = pods.cache.objects(index: "controller", value: setUID).map(PodView.init)
                    .filter { $0.phase != "Succeeded" && $0.phase != "Failed" }.count
            }
        }
        var configHash: String?
        if current[path: ["metadata", "annotations", ConfigReferences.optInAnnotation]]?.stringValue == "true" {
            let names = ConfigReferences.names(in: current[path: ["spec", "template"]] ?? [:])
            configHash = ConfigReferences.hash(names, configMap: { self.configMaps.cache.object(namespace: namespace, name: $0) },
                                               secret: { self.secrets.cache.object(namespace: namespace, name: $0) })
        }
        for action in reconciler.reconcile(current, replicaSets: candidates, runningPods: running, configHash: configHash, now: wallClock()) {
            // A lead that lapsed is cancelled: no write after that.
            try Task.checkCancellation()
            switch action {
            case .adopt(let set):
                _ = try await setsClient.update(OwnerReference.adopting(set, by: OwnerReference(controllerOf: current, apiVersion: "apps/v1", kind: "Deployment")))
            case .createReplicaSet(let set):
                if let collided = try await create(set, for: current) {
                    // Another object holds the new set's name: a new hash on the next round.
                    var bumped = current
                    bumped[path: ["status", "collisionCount"]] = .int((current[path: ["status", "collisionCount"]]?.intValue ?? 0) + 1)
                    _ = try await deploymentsClient.updateStatus(bumped)
                    throw collided
                }
            case .updateReplicaSet(let set):
                _ = try await setsClient.update(set)
            case .deleteReplicaSet(let name, let setUID):
                try await setsClient.deleteIfPresent(namespace: namespace, name: name, uid: setUID)
            case .updateDeployment(let object):
                current = try await deploymentsClient.update(object)
            case .updateStatus(let status):
                current = try await deploymentsClient.updateStatus(of: current, to: status)
            case .event(let type, let reason, let message):
                events.record(involved: involved, namespace: namespace, type: type, reason: reason, message: message)
            case .requeue(let delay):
                outcome = .requeue(after: delay)
            }
        }
        return outcome
    }

    /// Creates the new set; an existing set of that name is fine if it is ours with this template, and a hash
    /// collision (returned) otherwise.
    private func create(_ set: JSONValue, for deployment: JSONValue) async throws(APIError) -> APIError? {
        let failure: APIError
        do {
            _ = try await setsClient.create(set)
            return nil
        } catch {
            failure = error
        }
        guard failure.isAlreadyExists else { throw failure }
        do {
            let existing = try await setsClient.get(namespace: set[path: ["metadata", "namespace"]]?.stringValue,
                                                    name: set[path: ["metadata", "name"]]?.stringValue ?? "")
            let ours = OwnerReference.controller(of: existing)?.uid == deployment[path: ["metadata", "uid"]]?.stringValue
            if ours && ReplicaSetView(existing).templateWithoutHash == ReplicaSetView(set).templateWithoutHash { return nil }
            return failure
        }
    }
}
