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
    private let shell: PodOwnerShell
    private let reconciler = DaemonSetReconciler()

    public init(sets: Informer, nodes: Informer, pods: Informer, events recorder: EventRecorder, logger: Logger) {
        self.sets = sets
        self.nodes = nodes
        self.pods = pods
        control = PodControl(pods: pods.resource, events: recorder)
        loop = ControllerLoop(name: "daemonset", logger: logger)
        shell = PodOwnerShell(apiVersion: "apps/v1", kind: "DaemonSet", owners: sets, pods: pods, control: control, loop: loop)
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

    public func enqueueAll() { shell.enqueueAll() }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        await loop.run(workers: workers, isLeading: isLeading) { key in try await self.sync(key) }
    }

    func sync(_ key: String) async throws -> ControllerLoop.Outcome {
        guard let observed = shell.observe(key) else { return .done }
        let (set, namespace, owned, involved, satisfied) = (observed.object, observed.namespace, observed.owned, observed.involved, observed.satisfied)
        var outcome = ControllerLoop.Outcome.done
        for action in reconciler.reconcile(set, nodes: nodes.cache.objects, pods: owned, expectationsSatisfied: satisfied, now: wallClock()) {
            try Task.checkCancellation()
            switch action {
            case .create(let templates):
                try await control.create(templates, namespace: namespace, key: key, involved: involved)
            case .delete(let victims):
                try await control.delete(victims, key: key, involved: involved)
            case .updateStatus(let status):
                try await sets.resource.updateStatus(of: set, to: status)
            case .requeue(let delay):
                outcome = .requeue(after: delay)
            }
        }
        return shell.outcome(outcome, for: key, satisfied: satisfied)
    }
}
