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
    private let events: PodOwnerEvents
    private let reconciler = JobReconciler()

    public init(jobs: Informer, pods: Informer, events: EventRecorder, logger: Logger) {
        self.jobs = jobs
        self.pods = pods
        control = PodControl(pods: pods.resource, events: events)
        loop = ControllerLoop(name: "job", logger: logger)
        self.events = PodOwnerEvents(kind: "Job", owners: jobs, control: control, loop: loop)
        let events = self.events
        jobs.addHandler { events.handleOwner($0) }
        pods.addHandler { events.handle($0) }
    }

    public func enqueueAll() {
        for key in jobs.cache.keys { loop.enqueue(key) }
    }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        await loop.run(workers: workers, isLeading: isLeading) { key in try await self.sync(key) }
    }

    func sync(_ key: String) async throws -> ControllerLoop.Outcome {
        let satisfied = control.isSatisfied(key)
        guard let job = jobs.cache.object(forKey: key) else {
            control.forget(key)
            return .done
        }
        let namespace = job[path: ["metadata", "namespace"]]?.stringValue ?? "default"
        let uid = job[path: ["metadata", "uid"]]?.stringValue ?? ""
        let deleting = control.pendingDeletions(key)
        let owned = pods.cache.objects(index: "controller", value: uid).map(PodView.init).filter { !deleting.contains($0.key) }
        let involved = reference(to: job, apiVersion: "batch/v1", kind: "Job")
        var outcome = ControllerLoop.Outcome.done
        for action in reconciler.reconcile(job, pods: owned, expectationsSatisfied: satisfied, now: wallClock()) {
            try Task.checkCancellation()
            switch action {
            case .create(let templates):
                try await control.create(templates, namespace: namespace, key: key, involved: involved)
            case .delete(let victims):
                try await control.delete(victims, key: key, involved: involved)
            case .updateStatus(let status):
                var updated = job
                updated["status"] = status
                _ = try await jobs.resource.updateStatus(updated)
            case .event(let type, let reason, let message):
                control.events.record(involved: involved, namespace: namespace, type: type, reason: reason, message: message)
            case .deleteJob:
                let failure: APIError
                do {
                    try await jobs.resource.delete(namespace: namespace, name: job[path: ["metadata", "name"]]?.stringValue ?? "",
                                                   uid: uid, propagationPolicy: "Background")
                    continue
                } catch {
                    failure = error
                }
                if !failure.isNotFound { throw failure }
            case .requeue(let delay):
                if case .requeue(let current) = outcome, current < delay { continue }
                outcome = .requeue(after: delay)
            }
        }
        if !satisfied, let lapse = control.secondsUntilLapse(key) { outcome = .requeue(after: max(lapse, 0.1)) }
        return outcome
    }
}
