import ClusterClient
import Resources
import Synchronization

/// How a controller creates and deletes its pods (ReplicaSet, Job, StatefulSet, DaemonSet share it): it records
/// the writes it expects to see in `ControllerExpectations` before making them; creations go in slow-start
/// batches (1, 2, 4, … stopping at the first failure, so a quota or admission error costs one request, not
/// hundreds); deletions carry the pod's uid as a precondition. Events say what happened, as Kubernetes' do.
final class PodControl: Sendable {
    let pods: ResourceClient
    let events: EventRecorder
    private let expectations = Mutex(ControllerExpectations())
    private let clock = MonotonicClock()

    init(pods: ResourceClient, events: EventRecorder) {
        self.pods = pods
        self.events = events
    }

    func isSatisfied(_ key: String) -> Bool {
        let now = clock.now
        return expectations.withLock { $0.isSatisfied(key, now: now) }
    }

    func forget(_ key: String) { expectations.withLock { $0.forget(key) } }

    /// Seconds until unmet expectations lapse, so that a sync waiting on them looks again then.
    func secondsUntilLapse(_ key: String) -> Double? {
        let now = clock.now
        return expectations.withLock { $0.secondsUntilLapse(key, now: now) }
    }

    /// Pods being deleted whose deletion the informer has not shown yet: not to be counted.
    func pendingDeletions(_ key: String) -> Set<String> {
        expectations.withLock { $0.pendingDeletions(key) }
    }

    /// Notes what an informer event of one of `key`'s pods shows.
    func observed(_ event: Informer.Event, key: String) {
        expectations.withLock { expectations in
            switch event {
            case .added(let object):
                let pod = PodView(object)
                if pod.isTerminating { expectations.deletionObserved(key, podKey: pod.key) } else { expectations.creationObserved(key) }
            case .updated(let old, let new):
                if new[path: ["metadata", "deletionTimestamp"]] != nil, old[path: ["metadata", "deletionTimestamp"]] == nil {
                    expectations.deletionObserved(key, podKey: PodView(new).key)
                }
            case .deleted(let object):
                expectations.deletionObserved(key, podKey: PodView(object).key)
            }
        }
    }

    /// Creates `templates` (one pod each); the first failure stops the rest and is thrown.
    func create(_ templates: [JSONValue], namespace: String, key: String, involved: JSONValue) async throws(APIError) {
        guard !templates.isEmpty else { return }
        let now = clock.now
        expectations.withLock { $0.expectCreations(key, count: templates.count, now: now) }
        var next = 0
        var batch = 1
        var firstFailure: APIError?
        // A lead that lapses is cancelled: no further batch then.
        while next < templates.count && firstFailure == nil && !Task.isCancelled {
            let slice = templates[next..<min(next + batch, templates.count)]
            next += slice.count
            let failures = await withTaskGroup(of: APIError?.self) { group in
                for template in slice {
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
        let skipped = templates.count - next
        expectations.withLock { expectations in
            for _ in 0..<skipped { expectations.creationObserved(key) }
        }
        if let firstFailure {
            events.record(involved: involved, namespace: namespace, type: "Warning", reason: "FailedCreate",
                          message: "Error creating: \(firstFailure.message)")
            throw firstFailure
        }
    }

    func delete(_ victims: [PodView], key: String, involved: JSONValue) async throws(APIError) {
        guard !victims.isEmpty else { return }
        let now = clock.now
        expectations.withLock { $0.expectDeletions(key, podKeys: victims.map(\.key), now: now) }
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
            let pod = try await pods.create(template, namespace: namespace)
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
            try await pods.delete(namespace: pod.namespace, name: pod.name, uid: pod.uid)
            events.record(involved: involved, namespace: pod.namespace, type: "Normal", reason: "SuccessfulDelete", message: "Deleted pod: \(pod.name)")
            return nil
        } catch {
            expectations.withLock { $0.deletionObserved(key, podKey: pod.key) }
            return error.isNotFound ? nil : error
        }
    }
}
