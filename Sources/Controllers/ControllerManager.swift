import ClusterClient
import Logging
import Resources

/// `kube-controller-manager` for Podium: the shared informers every controller reads (one list and one watch per
/// resource type, however many controllers use it) and the controllers `--controllers` enables. Standbys run
/// the informers too, so that a takeover starts from a warm cache; `lead` runs the controllers while this
/// instance holds the kube-controller-manager Lease.
public final class ControllerManager: Sendable {
    /// Every controller this build knows, in the names `--controllers` takes.
    public static let known = ["replicaset", "deployment", "statefulset", "daemonset", "job", "cronjob", "nodelifecycle", "garbagecollector", "endpoints", "resourcequota"]

    public let controllers: [any Controller]
    private let informers: [Informer]
    private let recorders: [EventRecorder]
    private let workers: Int

    /// - Parameters: `enabled` is a `--controllers` list: names, `*` for all, `-name` to leave one out.
    public init(api: APIClient, enabled: [String] = ["*"], workers: Int = 5, nodeLifecycle: NodeLifecycle.Configuration = .init(),
                logger: Logger = Logger(label: "podium.controllers")) throws {
        let chosen = try Self.select(enabled)
        func type(_ group: String, _ plural: String) throws -> ResourceType {
            let version = "v1"
            guard let type = ResourceType.find(group: group, version: version, plural: plural) else {
                throw ClusterAccessError("the catalogue lacks \(group.isEmpty ? "core" : group)/\(version) \(plural)")
            }
            return type
        }
        let pods = Informer(ResourceClient(api, try type("", "pods")), indexers: [.namespace, .controller], logger: logger)
        let sets = Informer(ResourceClient(api, try type("apps", "replicasets")), indexers: [.namespace, .controller], logger: logger)
        let deployments = Informer(ResourceClient(api, try type("apps", "deployments")), indexers: [.namespace], logger: logger)
        var controllers: [any Controller] = []
        var used: [Informer] = []
        var recorders: [EventRecorder] = []
        if chosen.contains("replicaset") {
            let events = try EventRecorder(api: api, component: "replicaset-controller")
            recorders.append(events)
            controllers.append(ReplicaSetController(sets: sets, pods: pods, events: events, logger: logger))
            used += [sets, pods]
        }
        let configMaps = Informer(ResourceClient(api, try type("", "configmaps")), indexers: [.namespace], logger: logger)
        let secrets = Informer(ResourceClient(api, try type("", "secrets")), indexers: [.namespace], logger: logger)
        if chosen.contains("deployment") {
            let events = try EventRecorder(api: api, component: "deployment-controller")
            recorders.append(events)
            controllers.append(DeploymentController(deployments: deployments, sets: sets, pods: pods, configMaps: configMaps, secrets: secrets,
                                                    events: events, logger: logger))
            used += [deployments, sets, pods, configMaps, secrets]
        }
        let nodes = Informer(ResourceClient(api, try type("", "nodes")), indexers: [], logger: logger)
        let statefulSets = Informer(ResourceClient(api, try type("apps", "statefulsets")), indexers: [.namespace], logger: logger)
        let daemonSets = Informer(ResourceClient(api, try type("apps", "daemonsets")), indexers: [.namespace], logger: logger)
        if chosen.contains("statefulset") {
            let events = try EventRecorder(api: api, component: "statefulset-controller")
            recorders.append(events)
            controllers.append(StatefulSetController(sets: statefulSets, pods: pods, claims: ResourceClient(api, try type("", "persistentvolumeclaims")),
                                                     events: events, logger: logger))
            used += [statefulSets, pods]
        }
        if chosen.contains("daemonset") {
            let events = try EventRecorder(api: api, component: "daemonset-controller")
            recorders.append(events)
            controllers.append(DaemonSetController(sets: daemonSets, nodes: nodes, pods: pods, events: events, logger: logger))
            used += [daemonSets, nodes, pods]
        }
        if chosen.contains("nodelifecycle") {
            let events = try EventRecorder(api: api, component: "node-controller")
            recorders.append(events)
            let leases = Informer(ResourceClient(api, try type("coordination.k8s.io", "leases")), namespace: "kube-node-lease", indexers: [], logger: logger)
            controllers.append(NodeLifecycleController(nodes: nodes, leases: leases, pods: pods, events: events, configuration: nodeLifecycle, logger: logger))
            used += [nodes, leases, pods]
        }
        let jobs = Informer(ResourceClient(api, try type("batch", "jobs")), indexers: [.namespace, .controller], logger: logger)
        let cronJobs = Informer(ResourceClient(api, try type("batch", "cronjobs")), indexers: [.namespace], logger: logger)
        if chosen.contains("cronjob") {
            let events = try EventRecorder(api: api, component: "cronjob-controller")
            recorders.append(events)
            controllers.append(CronJobController(cronJobs: cronJobs, jobs: jobs, events: events, logger: logger))
            used += [cronJobs, jobs]
        }
        if chosen.contains("job") {
            let events = try EventRecorder(api: api, component: "job-controller")
            recorders.append(events)
            controllers.append(JobController(jobs: jobs, pods: pods, events: events, logger: logger))
            used += [jobs, pods]
        }
        let services = Informer(ResourceClient(api, try type("", "services")), indexers: [.namespace], logger: logger)
        let slices = Informer(ResourceClient(api, try type("discovery.k8s.io", "endpointslices")), indexers: [.namespace], logger: logger)
        if chosen.contains("endpoints") {
            let endpoints = Informer(ResourceClient(api, try type("", "endpoints")), indexers: [.namespace], logger: logger)
            controllers.append(EndpointsController(services: services, pods: pods, endpoints: endpoints, slices: slices, logger: logger))
            used += [services, pods, endpoints, slices]
        }
        if chosen.contains("resourcequota") {
            let quotas = Informer(ResourceClient(api, try type("", "resourcequotas")), indexers: [.namespace], logger: logger)
            controllers.append(ResourceQuotaController(quotas: quotas, api: api, logger: logger))
            used.append(quotas)
        }
        if chosen.contains("garbagecollector") {
            // Every type that owns or is owned in practice; those other controllers watch are shared.
            var graph: [Informer] = [pods, sets, deployments, services, slices, jobs, cronJobs, statefulSets, daemonSets, configMaps, secrets]
            let others: [(String, String)] = [("", "persistentvolumeclaims"),
                                              ("apps", "controllerrevisions")]
            for (group, plural) in others {
                guard let type = ResourceType.find(group: group, version: "v1", plural: plural) else { continue }
                graph.append(Informer(ResourceClient(api, type), indexers: [], logger: logger))
            }
            controllers.append(GarbageCollector(informers: graph, logger: logger))
            used += graph
        }
        var seen = Set<ObjectIdentifier>()
        informers = used.filter { seen.insert(ObjectIdentifier($0)).inserted }
        self.controllers = controllers
        self.recorders = recorders
        self.workers = workers
    }

    /// The controllers a `--controllers` list names.
    public static func select(_ list: [String]) throws -> Set<String> {
        var chosen = Set<String>()
        for item in list.flatMap({ $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }) where !item.isEmpty {
            let name = item.hasPrefix("-") ? String(item.dropFirst()) : item
            if name == "*" {
                chosen.formUnion(known)
                continue
            }
            guard known.contains(name) else {
                throw ClusterAccessError("--controllers: unknown controller \"\(name)\" (known: \(known.joined(separator: ", ")))")
            }
            if item.hasPrefix("-") { chosen.remove(name) } else { chosen.insert(name) }
        }
        // "-name" anywhere leaves it out, wherever "*" stands.
        for item in list.flatMap({ $0.split(separator: ",") }) where item.hasPrefix("-") {
            chosen.remove(String(item.dropFirst()).trimmingCharacters(in: .whitespaces))
        }
        return chosen
    }

    /// Keeps the informers and event writers running until cancelled.
    public func runInformers() async {
        await withDiscardingTaskGroup { group in
            for informer in informers { group.addTask { await informer.run() } }
            for recorder in recorders { group.addTask { await recorder.run() } }
        }
    }

    /// Runs the controllers until cancelled (while leading): once the caches are synced, every object is looked at;
    /// `isLeading` is checked before each sync.
    public func lead(isLeading: @escaping @Sendable () -> Bool) async {
        for informer in informers { await informer.waitUntilSynced() }
        guard !Task.isCancelled else { return }
        await withDiscardingTaskGroup { group in
            for controller in controllers {
                controller.enqueueAll()
                group.addTask { await controller.run(workers: self.workers, isLeading: isLeading) }
            }
        }
    }
}
