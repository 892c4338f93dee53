import ClusterClient
import Logging
import Resources

/// The ResourceQuota controller: keeps each quota's status (hard from spec, used from what exists) true, so that
/// deletions free quota and the API server's admission has a status to charge. A quota is read before the
/// objects are listed and written by compare-and-swap on that read: a charge made by admission in between makes
/// the write conflict and the count is taken again, never lowered under what was admitted. Every quota is
/// recomputed when it changes and every `period` seconds.
public final class ResourceQuotaController: Controller {
    public let name = "resourcequota"
    let quotas: Informer
    private let api: APIClient
    private let loop: ControllerLoop
    private let period: Double

    public init(quotas: Informer, api: APIClient, period: Double = 5, logger: Logger) {
        self.quotas = quotas
        self.api = api
        self.period = period
        loop = ControllerLoop(name: "resourcequota", logger: logger)
        quotas.addHandler { [weak self] event in
            switch event {
            case .added(let quota), .updated(_, let quota), .deleted(let quota): self?.loop.enqueue(ObjectCache.key(of: quota))
            }
        }
    }

    public func enqueueAll() {
        for key in quotas.cache.keys { loop.enqueue(key) }
    }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        await loop.run(workers: workers, isLeading: isLeading) { key in try await self.sync(key) }
    }

    /// The resource type whose objects a quota resource counts.
    static func countedType(_ resource: String) -> ResourceType? {
        func core(_ plural: String) -> ResourceType? { ResourceType.find(group: "", version: "v1", plural: plural) }
        switch resource {
        case "pods", "cpu", "memory", "ephemeral-storage": return core("pods")
        case _ where resource.hasPrefix("requests.storage"): return core("persistentvolumeclaims")
        case _ where resource.hasPrefix("requests.") || resource.hasPrefix("limits."): return core("pods")
        case "services", "services.nodeports", "services.loadbalancers": return core("services")
        case "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers", "resourcequotas": return core(resource)
        case _ where resource.hasPrefix("count/"):
            let parts = resource.dropFirst("count/".count).split(separator: ".", maxSplits: 1).map(String.init)
            let group = parts.count == 2 ? parts[1] : ""
            return ResourceType.all.first { $0.plural == parts[0] && $0.group == group }
        default: return nil
        }
    }

    func sync(_ key: String) async throws -> ControllerLoop.Outcome {
        guard let quota = quotas.cache.object(forKey: key) else { return .done }
        let namespace = quota[path: ["metadata", "namespace"]]?.stringValue
        let hard = quota[path: ["spec", "hard"]]?.objectValue ?? [:]
        var used: [String: Int64] = [:]
        var listed: [String: [JSONValue]] = [:]
        for resource in hard.keys {
            guard let type = Self.countedType(resource) else { continue }
            let id = type.apiVersion + "/" + type.plural
            if listed[id] == nil { listed[id] = try await ResourceClient(api, type).listAll(namespace: namespace).items }
            for object in listed[id] ?? [] where object[path: ["metadata", "deletionTimestamp"]] == nil || type.kind != "Pod" {
                used[resource, default: 0] += ResourceUsage.of(object, type: type)[resource, default: 0]
            }
        }
        var list: [String: JSONValue] = [:]
        for resource in hard.keys { list[resource] = .string(ResourceUsage.format(used[resource, default: 0], resource: resource)) }
        let status: JSONValue = ["hard": .object(hard), "used": .object(list)]
        if quota["status"] != status {
            try await quotas.resource.updateStatus(of: quota, to: status)
        }
        return .requeue(after: period)
    }
}
