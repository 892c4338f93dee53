import ClusterClient
import Logging
import Resources

/// The CronJob controller's shell: CronJob and Job events enqueue the CronJob; a sync asks `CronJobReconciler`
/// and writes its decision; the requeue it asks for wakes it at the next scheduled time.
public final class CronJobController: Controller {
    public let name = "cronjob"
    let cronJobs: Informer
    let jobs: Informer
    private let events: EventRecorder
    private let loop: ControllerLoop
    private let reconciler = CronJobReconciler()

    public init(cronJobs: Informer, jobs: Informer, events: EventRecorder, logger: Logger) {
        self.cronJobs = cronJobs
        self.jobs = jobs
        self.events = events
        loop = ControllerLoop(name: "cronjob", logger: logger)
        cronJobs.addHandler { [weak self] event in
            switch event {
            case .added(let object), .updated(_, let object), .deleted(let object): self?.loop.enqueue(ObjectCache.key(of: object))
            }
        }
        jobs.addHandler { [weak self] event in
            switch event {
            case .added(let job), .updated(_, let job), .deleted(let job):
                guard let owner = OwnerReference.controller(of: job), owner.kind == "CronJob" else { return }
                self?.loop.enqueue(ObjectCache.key(namespace: job[path: ["metadata", "namespace"]]?.stringValue, name: owner.name))
            }
        }
    }

    public func enqueueAll() {
        for key in cronJobs.cache.keys { loop.enqueue(key) }
    }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        await loop.run(workers: workers, isLeading: isLeading) { key in try await self.sync(key) }
    }

    func sync(_ key: String) async throws -> ControllerLoop.Outcome {
        guard let cronJob = cronJobs.cache.object(forKey: key) else { return .done }
        let namespace = cronJob[path: ["metadata", "namespace"]]?.stringValue ?? "default"
        let uid = cronJob[path: ["metadata", "uid"]]?.stringValue ?? ""
        let owned = jobs.cache.objects(index: "controller", value: uid)
        let involved = reference(to: cronJob, apiVersion: "batch/v1", kind: "CronJob")
        var outcome = ControllerLoop.Outcome.done
        for action in reconciler.reconcile(cronJob, jobs: owned, now: wallClock()) {
            try Task.checkCancellation()
            switch action {
            case .createJob(let job):
                try await jobs.resource.createIfAbsent(job)
            case .deleteJob(let name, let jobUID):
                try await jobs.resource.deleteIfPresent(namespace: namespace, name: name, uid: jobUID, propagationPolicy: "Background")
            case .updateStatus(let status):
                try await cronJobs.resource.updateStatus(of: cronJob, to: status)
            case .event(let type, let reason, let message):
                events.record(involved: involved, namespace: namespace, type: type, reason: reason, message: message)
            case .requeue(let delay):
                outcome = .requeue(after: delay)
            }
        }
        return outcome
    }
}
