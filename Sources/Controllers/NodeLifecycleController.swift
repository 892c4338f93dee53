import ClusterClient
import Logging
import Resources
import Synchronization

/// The node lifecycle controller's shell: node and node-Lease informers feed heartbeats into `NodeLifecycle`;
/// every `period` seconds it reconciles all nodes, writes conditions and taints by compare-and-swap, and evicts
/// pods (a graceful delete, as the taint manager does) at most `evictionsPerSecond` per second.
public final class NodeLifecycleController: Controller {
    public let name = "nodelifecycle"
    let nodes: Informer
    let leases: Informer
    let pods: Informer
    private let nodesClient: ResourceClient
    private let events: EventRecorder
    private let logger: Logger
    private let core: Mutex<NodeLifecycle>
    private let clock = MonotonicClock()
    private let period: Double
    private let evictionsPerSecond: Int

    public init(nodes: Informer, leases: Informer, pods: Informer, events: EventRecorder, configuration: NodeLifecycle.Configuration,
                period: Double = 1, evictionsPerSecond: Int = 100, logger: Logger) {
        self.nodes = nodes
        self.leases = leases
        self.pods = pods
        nodesClient = nodes.resource
        self.events = events
        self.logger = logger
        self.period = period
        self.evictionsPerSecond = evictionsPerSecond
        core = Mutex(NodeLifecycle(configuration: configuration))
        nodes.addHandler { [weak self] event in self?.nodeChanged(event) }
        leases.addHandler { [weak self] event in self?.leaseChanged(event) }
    }

    private func observe(_ name: String) {
        guard let node = nodes.cache.object(forKey: name) else { return }
        let signature = NodeLifecycle.signature(node: node, lease: leases.cache.object(namespace: "kube-node-lease", name: name))
        let now = clock.now
        core.withLock { $0.observe(node: name, signature: signature, now: now) }
    }

    private func nodeChanged(_ event: Informer.Event) {
        switch event {
        case .added(let node), .updated(_, let node):
            observe(node[path: ["metadata", "name"]]?.stringValue ?? "")
        case .deleted(let node):
            let name = node[path: ["metadata", "name"]]?.stringValue ?? ""
            core.withLock { $0.forget(node: name) }
        }
    }

    private func leaseChanged(_ event: Informer.Event) {
        switch event {
        case .added(let lease), .updated(_, let lease):
            observe(lease[path: ["metadata", "name"]]?.stringValue ?? "")
        case .deleted:
            break
        }
    }

    public func enqueueAll() {
        // Heartbeats are re-observed from the caches: a new leader gives every node a full grace period.
        let now = clock.now
        for key in nodes.cache.keys {
            guard let node = nodes.cache.object(forKey: key) else { continue }
            let signature = NodeLifecycle.signature(node: node, lease: leases.cache.object(namespace: "kube-node-lease", name: key))
            core.withLock { core in
                core.forget(node: key)
                core.observe(node: key, signature: signature, now: now)
            }
        }
    }

    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async {
        while !Task.isCancelled && isLeading() {
            await reconcileOnce(isLeading: isLeading)
            try? await Task.sleep(for: .milliseconds(Int(period * 1000)))
        }
    }

    func reconcileOnce(isLeading: @Sendable () -> Bool) async {
        let byNode = Dictionary(grouping: pods.cache.objects.map(PodView.init).filter { $0.nodeName != nil }) { $0.nodeName ?? "" }
        let allNodes = nodes.cache.objects
        let snapshot = core.withLock { $0 }
        let actions = snapshot.reconcile(nodes: allNodes, pods: { byNode[$0] ?? [] }, now: clock.now, wallNow: wallClock())
        var evictions = 0
        for action in actions where isLeading() {
            do {
                switch action {
                case .markUnreachable(let name):
                    try await markUnreachable(name)
                case .markReachable(let name):
                    guard let node = nodes.cache.object(forKey: name) else { continue }
                    _ = try await nodesClient.update(NodeLifecycle.withUnreachableTaints(node, false, wallNow: wallClock()))
                    events.record(involved: ["apiVersion": "v1", "kind": "Node", "name": .string(name), "uid": node[path: ["metadata", "uid"]] ?? ""],
                                  namespace: "default", type: "Normal", reason: "NodeReachable", message: "Node \(name) is reachable again")
                case .evict(let pod, let node):
                    guard evictions < evictionsPerSecond else { continue }
                    evictions += 1
                    try await pods.resource.delete(namespace: pod.namespace, name: pod.name, uid: pod.uid)
                    events.record(involved: ["apiVersion": "v1", "kind": "Pod", "namespace": .string(pod.namespace), "name": .string(pod.name),
                                             "uid": .string(pod.uid)],
                                  namespace: pod.namespace, type: "Normal", reason: "TaintManagerEviction",
                                  message: "Marking for deletion Pod \(pod.namespace)/\(pod.name)")
                    logger.info("evicted \(pod.namespace)/\(pod.name) from unreachable node \(node)")
                }
            } catch {
                logger.debug("nodelifecycle: \(action): \(error)")
            }
        }
    }

    private func markUnreachable(_ name: String) async throws(APIError) {
        guard var node = nodes.cache.object(forKey: name) else { return }
        let wallNow = wallClock()
        if NodeLifecycle.readyStatus(of: node) != "Unknown" {
            node = try await nodesClient.updateStatus(NodeLifecycle.markedUnknown(node, wallNow: wallNow))
            events.record(involved: ["apiVersion": "v1", "kind": "Node", "name": .string(name), "uid": node[path: ["metadata", "uid"]] ?? ""],
                          namespace: "default", type: "Normal", reason: "NodeNotReady", message: "Node \(name) status is now: NodeNotReady")
        }
        if !NodeLifecycle.unreachableTaints(of: node).contains(where: { $0["effect"] == "NoExecute" }) {
            _ = try await nodesClient.update(NodeLifecycle.withUnreachableTaints(node, true, wallNow: wallNow))
        }
    }
}
