import ClusterClient
import Logging
import Resources

/// The DaemonSet controller's shell: DaemonSet, node and pod events enqueue the DaemonSets concerned; a sync asks
/// `DaemonSetReconciler` and writes its decision — pods through `PodControl`, status by compare-and-swap.
public final class DaemonSetController: Controller {
    public let name = "daemonset"
    let sets: Informer
    let nodes: Informer
    let pods: Informer
    private let control: PodControl
    private let loop: ControllerLoop
    private let events: PodOwnerEvents
    private let reconciler = DaemonSetReconciler()

    public init(sets: Informer, nodes: Informer, pods: Informer, events recorder: EventRecorder, logger: Logger) {
        self.sets = sets
        self.nodes = nodes
        self.pods = pods
        control = PodControl(pods: pods.resource, events: recorder)
        loop = ControllerLoop(name: "daemonset", logger: logger)
        events = PodOwnerEvents(kind: "DaemonSet", owners: sets, control: control, loop: loop)
        let events = self.events
        sets.addHandler { events.handleOwner($0) }
        pods.addHandler { events.handle($0) }
        nodes.addHandler { [weak self] event in self?.nodeChanged(event) }
    }

    /// A node that comes, goes or changes labels or taints may change where every DaemonSet runs.
    private func nodeChanged(_ event: Informer.Event) {
        if case .updated(let old, let new) = event, old["metadata"]?["labels"] == new["metadata"]?["labels"],
           old[path: ["spec", "taints"]] == new[path: ["spec", "taints"]] {
            return
        }
        enqueueAll()
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
        let involved = reference(to: set, apiVersion: "apps/v1", kind: "DaemonSet")
        var outcome = ControllerLoop.Outcome.done
        for action in reconciler.reconcile(set, nodes: nodes.cache.objects, pods: owned, expectationsSatisfied: satisfied, now: wallClock()) {
            try Task.checkCancellation()
            switch action {
            case .create(let templates):
                try await control.create(templates, namespace: namespace, key: key, involved: involved)
            case .delete(let victims):
                try await control.delete(victims, key: key, involved: involved)
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
}
