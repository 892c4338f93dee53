import ClusterClient
import Logging
import Resources

/// The StatefulSet controller's shell: StatefulSet and pod events enqueue the set; a sync asks
/// `StatefulSetReconciler` and writes its decision — claims (an existing one is fine) before their pod, pods
/// through `PodControl`, status by compare-and-swap.
public final class StatefulSetController: Controller {
    public let name = "statefulset"
    let sets: Informer
    let pods: Informer
    private let claims: ResourceClient
    private let control: PodControl
    private let loop: ControllerLoop
    private let events: PodOwnerEvents
    private let reconciler = StatefulSetReconciler()

    public init(sets: Informer, pods: Informer, claims: ResourceClient, events recorder: EventRecorder, logger: Logger) {
        self.sets = sets
        self.pods = pods
        self.claims = claims
        control = PodControl(pods: pods.resource, events: recorder)
        loop = ControllerLoop(name: "statefulset", logger: logger)
        events = PodOwnerEvents(kind: "StatefulSet", owners: sets, control: control, loop: loop)
        let events = self.events
        sets.addHandler { events.handleOwner($0) }
        pods.addHandler { events.handle($0) }
    }

    public func enqueueAll() {
        for key in sets.cache.keys { loop.enqueue(key) }
    }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        await loop.run(workers: workers, isLeading: isLeading) { key in try await self.sync(key) }
    }

    func sync(_ key: String) async throws -> ControllerLoop.Outcome {
        let satisfied = control.isSatisfied(key)
        guard let set = sets.cache.object(forKey: key) else {
            control.forget(key)
            return .done
        }
        let namespace = set[path: ["metadata", "namespace"]]?.stringValue ?? "default"
        let uid = set[path: ["metadata", "uid"]]?.stringValue ?? ""
        let deleting = control.pendingDeletions(key)
        let owned = pods.cache.objects(index: "controller", value: uid).map(PodView.init).filter { !deleting.contains($0.key) }
        let involved = reference(to: set, apiVersion: "apps/v1", kind: "StatefulSet")
        var outcome = ControllerLoop.Outcome.done
        for action in reconciler.reconcile(set, pods: owned, expectationsSatisfied: satisfied, now: wallClock()) {
            try Task.checkCancellation()
            switch action {
            case .create(let pod, let claims):
                for claim in claims { try await createClaim(claim, involved: involved, namespace: namespace) }
                try await control.create([pod], namespace: namespace, key: key, involved: involved)
            case .delete(let pod):
                try await control.delete([pod], key: key, involved: involved)
            case .updateStatus(let status):
                var updated = set
                updated["status"] = status
                _ = try await sets.resource.updateStatus(updated)
            case .requeue(let delay):
                outcome = .requeue(after: delay)
            }
        }
        if !satisfied, let lapse = control.secondsUntilLapse(key) { outcome = .requeue(after: max(lapse, 0.1)) }
        return outcome
    }

    private func createClaim(_ claim: JSONValue, involved: JSONValue, namespace: String) async throws(APIError) {
        let failure: APIError
        do {
            _ = try await claims.create(claim, namespace: namespace)
            control.events.record(involved: involved, namespace: namespace, type: "Normal", reason: "SuccessfulCreate",
                                  message: "create Claim \(claim[path: ["metadata", "name"]]?.stringValue ?? "") success")
            return
        } catch {
            failure = error
        }
        if !failure.isAlreadyExists { throw failure }
    }
}
