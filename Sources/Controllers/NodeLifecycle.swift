import Resources
import Scheduler

/// The node lifecycle controller's core, pure: a node is healthy while its heartbeats (its Lease's renewTime, its
/// Ready condition's lastHeartbeatTime) keep changing; one whose heartbeat has not moved for `gracePeriod`
/// seconds of this controller's own clock (remote clocks are not trusted) is marked Ready=Unknown and tainted
/// `node.kubernetes.io/unreachable` (NoSchedule and NoExecute); its pods are evicted once their toleration of
/// that taint runs out — unless most nodes went dark at once, which is a problem on the masters' side (Kubernetes'
/// disruption modes), not on the nodes'. A node whose heartbeat resumes is untainted.
public struct NodeLifecycle: Sendable {
    public static let unreachableTaint = "node.kubernetes.io/unreachable"

    public struct Configuration: Sendable {
        /// Seconds without a heartbeat before a node is unreachable (Kubernetes: 40–50 s).
        public var gracePeriod: Double = 8
        /// With more than 2 nodes unreachable and at least this share of all, nothing is evicted.
        public var disruptionThreshold: Double = 0.55

        public init() {}
    }

    public enum Action: Sendable, Equatable {
        /// Ready=Unknown in status, then the unreachable taints on spec.
        case markUnreachable(node: String)
        /// Remove the unreachable taints.
        case markReachable(node: String)
        /// Delete the pod (its node is gone past its toleration).
        case evict(PodView, node: String)
    }

    public let configuration: Configuration
    /// Per node: its last heartbeat signature, when this controller saw it change, and whether it has changed
    /// since this controller started watching (only a heartbeat that moves proves a tainted node is back).
    private var heartbeats: [String: (signature: String, seenAt: Double, moved: Bool)] = [:]

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Notes a node's heartbeat signature as seen at `now` (monotonic seconds); a change restarts its grace.
    public mutating func observe(node: String, signature: String, now: Double) {
        guard let known = heartbeats[node] else {
            heartbeats[node] = (signature, now, false)
            return
        }
        if known.signature != signature { heartbeats[node] = (signature, now, true) }
    }

    public mutating func forget(node: String) {
        heartbeats[node] = nil
    }

    /// The heartbeat signature of a node and its Lease: both times, whichever moves.
    public static func signature(node: JSONValue, lease: JSONValue?) -> String {
        let ready = (node[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"] == "Ready" }
        return (lease?[path: ["spec", "renewTime"]]?.stringValue ?? "") + "|" + (ready?["lastHeartbeatTime"]?.stringValue ?? "")
    }

    public func isUnreachable(_ node: String, now: Double) -> Bool {
        guard let beat = heartbeats[node] else { return false }
        return now - beat.seenAt >= configuration.gracePeriod
    }

    /// What to do now. `pods(node)` are the pods bound to the node; `now` is monotonic, `wallNow` wall-clock
    /// seconds (taints' timeAdded and tolerations are wall-clock).
    public func reconcile(nodes: [JSONValue], pods: (String) -> [PodView], now: Double, wallNow: Double) -> [Action] {
        var actions: [Action] = []
        var unreachable: [(name: String, node: JSONValue)] = []
        for node in nodes {
            guard let name = node[path: ["metadata", "name"]]?.stringValue else { continue }
            let tainted = Self.unreachableTaints(of: node).contains { $0["effect"] == "NoExecute" }
            if isUnreachable(name, now: now) {
                unreachable.append((name, node))
                if !tainted || Self.readyStatus(of: node) != "Unknown" { actions.append(.markUnreachable(node: name)) }
            } else if heartbeats[name]?.moved == true || Self.readyStatus(of: node) == "True", !Self.unreachableTaints(of: node).isEmpty {
                actions.append(.markReachable(node: name))
            }
        }
        let disrupted = (!unreachable.isEmpty && unreachable.count == nodes.count)
            || (unreachable.count > 2 && Double(unreachable.count) >= configuration.disruptionThreshold * Double(nodes.count))
        guard !disrupted else { return actions }
        for (name, node) in unreachable {
            let taint = Self.unreachableTaints(of: node).first { $0["effect"] == "NoExecute" }
            let since = taint?["timeAdded"]?.stringValue.flatMap(RFC3339.parse) ?? wallNow
            let nodeTaint = NodeTaint(key: Self.unreachableTaint, effect: "NoExecute")
            for pod in pods(name) where pod.isActive || (pod.isTerminating && pod.phase != "Succeeded" && pod.phase != "Failed") {
                guard !pod.isTerminating else { continue }
                let tolerations = SchedulingPod(pod.object).tolerations.filter { $0.tolerates(nodeTaint) }
                // No toleration: out at once; else the shortest tolerationSeconds; none with seconds: forever.
                let seconds: Int64? = tolerations.isEmpty ? 0 : tolerations.compactMap(\.tolerationSeconds).min()
                guard let seconds else { continue }
                if wallNow >= since + Double(max(0, seconds)) { actions.append(.evict(pod, node: name)) }
            }
        }
        return actions
    }

    static func unreachableTaints(of node: JSONValue) -> [JSONValue] {
        (node[path: ["spec", "taints"]]?.arrayValue ?? []).filter { $0["key"] == .string(unreachableTaint) }
    }

    static func readyStatus(of node: JSONValue) -> String? {
        (node[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"] == "Ready" }?["status"]?.stringValue
    }

    /// The node with Ready (and the other conditions) Unknown, as Kubernetes words it.
    public static func markedUnknown(_ node: JSONValue, wallNow: Double) -> JSONValue {
        var node = node
        let stamp = JSONValue.string(RFC3339.format(wallNow))
        let conditions = (node[path: ["status", "conditions"]]?.arrayValue ?? []).map { condition -> JSONValue in
            guard condition["status"] != "Unknown" else { return condition }
            var condition = condition
            condition["status"] = "Unknown"
            condition["reason"] = "NodeStatusUnknown"
            condition["message"] = "Kubelet stopped posting node status."
            condition["lastTransitionTime"] = stamp
            return condition
        }
        var all = conditions
        if !all.contains(where: { $0["type"] == "Ready" }) {
            all.append(["type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                        "message": "Kubelet never posted node status.", "lastTransitionTime": stamp, "lastHeartbeatTime": stamp])
        }
        node[path: ["status", "conditions"]] = .array(all)
        return node
    }

    /// The node with (`tainted`) or without the unreachable taints.
    public static func withUnreachableTaints(_ node: JSONValue, _ tainted: Bool, wallNow: Double) -> JSONValue {
        var node = node
        var taints = (node[path: ["spec", "taints"]]?.arrayValue ?? []).filter { $0["key"] != .string(unreachableTaint) }
        if tainted {
            let stamp = JSONValue.string(RFC3339.format(wallNow))
            taints.append(["key": .string(unreachableTaint), "effect": "NoSchedule", "timeAdded": stamp])
            taints.append(["key": .string(unreachableTaint), "effect": "NoExecute", "timeAdded": stamp])
        }
        node[path: ["spec", "taints"]] = taints.isEmpty ? nil : .array(taints)
        return node
    }
}
