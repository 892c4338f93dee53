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
    private let shell: PodOwnerShell
    private let reconciler = StatefulSetReconciler()

    public init(sets: Informer, pods: Informer, claims: ResourceClient, events recorder: EventRecorder, logger: Logger) {
        self.sets = sets
        self.pods = pods
        self.claims = claims
        control = PodControl(pods: pods.resource, events: recorder)
        loop = ControllerLoop(name: "statefulset", logger: logger)
        shell = PodOwnerShell(apiVersion: "apps/v1", kind: "StatefulSet", owners: sets, pods: pods, control: control, loop: loop)
    }

    public func enqueueAll() { shell.enqueueAll() }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        await loop.run(workers: workers, isLeading: isLeading) { key in try await self.sync(key) }
    }

    func sync(_ key: String) async throws -> ControllerLoop.Outcome {
        guard let observed = shell.observe(key) else { return .done }
        let (set, namespace, owned, involved, satisfied) = (observed.object, observed.namespace, observed.owned, observed.involved, observed.satisfied)
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
                try await sets.resource.updateStatus(of: set, to: status)
            case .requeue(let delay):
                outcome = .requeue(after: delay)
            }
        }
        return shell.outcome(outcome, for: key, satisfied: satisfied)
    }

    private func createClaim(_ claim: JSONValue, involved: JSONValue, namespace: String) async throws(APIError) {
        guard try await claims.createIfAbsent(claim, namespace: namespace) else { return }
        control.events.record(involved: involved, namespace: namespace, type: "Normal", reason: "SuccessfulCreate",
                              message: "create Claim \(claim[path: ["metadata", "name"]]?.stringValue ?? "") success")
    }
}
