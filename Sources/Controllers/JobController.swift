import ClusterClient
import Logging
import Resources

/// The Job controller's shell: Job and pod events enqueue the Job; a sync asks `JobReconciler` and writes its
/// decision — pods through `PodControl`, status by compare-and-swap, the Job's own deletion (TTL) with its pods
/// in the background.
public final class JobController: Controller {
    public let name = "job"
    let jobs: Informer
    let pods: Informer
    private let control: PodControl
    private let loop: ControllerLoop
    private let shell: PodOwnerShell
    private let reconciler = JobReconciler()

    public init(jobs: Informer, pods: Informer, events: EventRecorder, logger: Logger) {
        self.jobs = jobs
        self.pods = pods
        control = PodControl(pods: pods.resource, events: events)
        loop = ControllerLoop(name: "job", logger: logger)
        shell = PodOwnerShell(apiVersion: "batch/v1", kind: "Job", owners: jobs, pods: pods, control: control, loop: loop)
    }

    public func enqueueAll() { shell.enqueueAll() }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        await loop.run(workers: workers, isLeading: isLeading) { key in try await self.sync(key) }
    }

    func sync(_ key: String) async throws -> ControllerLoop.Outcome {
        guard let observed = shell.observe(key) else { return .done }
        let (job, namespace, owned, involved, satisfied) = (observed.object, observed.namespace, observed.owned, observed.involved, observed.satisfied)
        var outcome = ControllerLoop.Outcome.done
        for action in reconciler.reconcile(job, pods: owned, expectationsSatisfied: satisfied, now: wallClock()) {
            try Task.checkCancellation()
            switch action {
            case .create(let templates):
                try await control.create(templates, namespace: namespace, key: key, involved: involved)
            case .delete(let victims):
                try await control.delete(victims, key: key, involved: involved)
            case .updateStatus(let status):
                try await jobs.resource.updateStatus(of: job, to: status)
            case .event(let type, let reason, let message):
                control.events.record(involved: involved, namespace: namespace, type: type, reason: reason, message: message)
            case .deleteJob:
                try await jobs.resource.deleteIfPresent(namespace: namespace, name: job[path: ["metadata", "name"]]?.stringValue ?? "",
                                                        uid: job[path: ["metadata", "uid"]]?.stringValue, propagationPolicy: "Background")
            case .requeue(let delay):
                if case .requeue(let current) = outcome, current < delay { continue }
                outcome = .requeue(after: delay)
            }
        }
        return shell.outcome(outcome, for: key, satisfied: satisfied)
    }
}
