import ClusterClient
import Logging
import Resources

/// The Endpoints and EndpointSlice controllers' shell (one sync writes both): Service, pod, Endpoints and slice
/// events enqueue the Service; a sync compares `EndpointsReconciler`'s desired objects with the caches and writes
/// only what differs (updates guarded by resourceVersion), deleting slices no longer wanted. When the Service is
/// gone its Endpoints go too (its slices are the garbage collector's: the Service owns them).
public final class EndpointsController: Controller {
    public let name = "endpoints"
    let services: Informer
    let pods: Informer
    let endpoints: Informer
    let slices: Informer
    private let loop: ControllerLoop

    public init(services: Informer, pods: Informer, endpoints: Informer, slices: Informer, logger: Logger) {
        self.services = services
        self.pods = pods
        self.endpoints = endpoints
        self.slices = slices
        loop = ControllerLoop(name: "endpoints", logger: logger)
        services.addHandler { [weak self] event in self?.objectChanged(event) }
        endpoints.addHandler { [weak self] event in self?.objectChanged(event) }
        slices.addHandler { [weak self] event in self?.sliceChanged(event) }
        pods.addHandler { [weak self] event in self?.podChanged(event) }
    }

    public func enqueueAll() {
        for key in services.cache.keys { loop.enqueue(key) }
    }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        await loop.run(workers: workers, isLeading: isLeading) { key in try await self.sync(key) }
    }

    private func objectChanged(_ event: Informer.Event) {
        switch event {
        case .added(let object), .updated(_, let object), .deleted(let object): loop.enqueue(ObjectCache.key(of: object))
        }
    }

    private func sliceChanged(_ event: Informer.Event) {
        switch event {
        case .added(let object), .updated(_, let object), .deleted(let object):
            guard let service = object[path: ["metadata", "labels", EndpointsReconciler.serviceNameLabel]]?.stringValue else { return }
            loop.enqueue(ObjectCache.key(namespace: object[path: ["metadata", "namespace"]]?.stringValue, name: service))
        }
    }

    private func podChanged(_ event: Informer.Event) {
        let changed: [JSONValue]
        switch event {
        case .added(let pod), .deleted(let pod): changed = [pod]
        case .updated(let old, let new): changed = [old, new]
        }
        var keys = Set<String>()
        for pod in changed {
            let namespace = pod[path: ["metadata", "namespace"]]?.stringValue ?? ""
            let labels = pod[path: ["metadata", "labels"]]?.stringMap ?? [:]
            for service in services.cache.objects(index: "namespace", value: namespace) {
                guard let selector = service[path: ["spec", "selector"]]?.stringMap, !selector.isEmpty,
                      selector.allSatisfy({ labels[$0.key] == $0.value }) else { continue }
                keys.insert(ObjectCache.key(of: service))
            }
        }
        for key in keys { loop.enqueue(key) }
    }

    func sync(_ key: String) async throws -> ControllerLoop.Outcome {
        guard let service = services.cache.object(forKey: key) else {
            if let stale = endpoints.cache.object(forKey: key) {
                try await endpoints.resource.deleteIfPresent(namespace: stale[path: ["metadata", "namespace"]]?.stringValue,
                                                             name: stale[path: ["metadata", "name"]]?.stringValue ?? "",
                                                             uid: stale[path: ["metadata", "uid"]]?.stringValue)
            }
            return .done
        }
        let namespace = service[path: ["metadata", "namespace"]]?.stringValue ?? ""
        let podViews = pods.cache.objects(index: "namespace", value: namespace).map(PodView.init)
        guard let desired = EndpointsReconciler.desired(for: service, pods: podViews) else { return .done }
        try await write(desired.endpoints, over: endpoints.cache.object(forKey: key), with: endpoints.resource)
        let serviceName = service[path: ["metadata", "name"]]?.stringValue ?? ""
        let existing = slices.cache.objects(index: "namespace", value: namespace).filter {
            $0[path: ["metadata", "labels", EndpointsReconciler.serviceNameLabel]]?.stringValue == serviceName
                && $0[path: ["metadata", "labels", EndpointsReconciler.managedByLabel]]?.stringValue == EndpointsReconciler.managedBy
        }
        var wanted = Set<String>()
        for slice in desired.slices {
            let name = slice[path: ["metadata", "name"]]?.stringValue ?? ""
            wanted.insert(name)
            try await write(slice, over: existing.first { $0[path: ["metadata", "name"]]?.stringValue == name }, with: slices.resource)
        }
        for slice in existing where !wanted.contains(slice[path: ["metadata", "name"]]?.stringValue ?? "") {
            try await slices.resource.deleteIfPresent(namespace: namespace, name: slice[path: ["metadata", "name"]]?.stringValue ?? "",
                                                      uid: slice[path: ["metadata", "uid"]]?.stringValue)
        }
        return .done
    }

    /// Creates `desired`, or replaces `current` with it when the fields this controller owns differ.
    private func write(_ desired: JSONValue, over current: JSONValue?, with client: ResourceClient) async throws(APIError) {
        guard var current else {
            let failure: APIError
            do {
                _ = try await client.create(desired)
                return
            } catch {
                failure = error
            }
            if failure.isAlreadyExists { throw APIError(code: 409, reason: "Conflict", message: "created meanwhile; retrying") }
            throw failure
        }
        var changed = false
        for field in ["subsets", "endpoints", "ports", "addressType"] where current[field] != desired[field] {
            current[field] = desired[field]
            changed = true
        }
        for field in ["labels", "ownerReferences"] where current[path: ["metadata", field]] != desired[path: ["metadata", field]] {
            current[path: ["metadata", field]] = desired[path: ["metadata", field]]
            changed = true
        }
        if changed { _ = try await client.update(current) }
    }
}
