/// One filter of the scheduling cycle (a Kubernetes scheduler "Filter" plugin): the reasons `node` cannot take
/// `pod`, worded as Kubernetes words them in FailedScheduling events; none when it can.
protocol NodeFilter: Sendable {
    func reasons(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> [String]
}

/// What the cycle works out once per pod for the filters and scores that look beyond one node.
struct CycleContext {
    /// Topology domains (key → values) where a placed pod conflicts with the pod's required anti-affinity, or
    /// where a placed pod's anti-affinity rejects the pod.
    var antiAffinityBlocked: [String: Set<String>] = [:]
    var existingAntiAffinityBlocked: [String: Set<String>] = [:]
    /// For each topology spread constraint: matching pods per domain value, and the least of them.
    var spread: [(constraint: SchedulingPod.SpreadConstraint, counts: [String: Int], minimum: Int)] = []
}

struct NodeUnschedulableFilter: NodeFilter {
    static let taint = NodeTaint(key: "node.kubernetes.io/unschedulable", effect: "NoSchedule")

    func reasons(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> [String] {
        guard node.unschedulable, !pod.tolerations.contains(where: { $0.tolerates(Self.taint) }) else { return [] }
        return ["node(s) were unschedulable"]
    }
}

struct NodeResourcesFitFilter: NodeFilter {
    func reasons(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> [String] {
        let free = node.allocatable - node.requested
        var reasons: [String] = []
        if node.requested.pods + 1 > node.allocatable.pods { reasons.append("Too many pods") }
        let wanted = pod.requests
        if wanted.milliCPU > 0, wanted.milliCPU > free.milliCPU { reasons.append("Insufficient cpu") }
        if wanted.memory > 0, wanted.memory > free.memory { reasons.append("Insufficient memory") }
        if wanted.ephemeralStorage > 0, wanted.ephemeralStorage > free.ephemeralStorage {
            reasons.append("Insufficient ephemeral-storage")
        }
        return reasons
    }
}

struct NodeAffinityFilter: NodeFilter {
    func reasons(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> [String] {
        Self.matches(pod, node) ? [] : ["node(s) didn't match Pod's node affinity/selector"]
    }

    static func matches(_ pod: SchedulingPod, _ node: SchedulingNode) -> Bool {
        for (key, value) in pod.nodeSelector where node.labels[key] != value { return false }
        if let terms = pod.requiredNodeAffinity {
            return terms.contains { $0.matches(labels: node.labels, nodeName: node.name) }
        }
        return true
    }
}

struct TaintTolerationFilter: NodeFilter {
    func reasons(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> [String] {
        for taint in node.taints where taint.effect == "NoSchedule" || taint.effect == "NoExecute" {
            if !pod.tolerations.contains(where: { $0.tolerates(taint) }) {
                return ["node(s) had untolerated taint {\(taint.key): \(taint.value)}"]
            }
        }
        return []
    }
}

struct NodePortsFilter: NodeFilter {
    func reasons(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> [String] {
        for wanted in pod.hostPorts {
            for used in node.hostPorts where used.port == wanted.port && used.proto == wanted.proto
                && (used.hostIP == wanted.hostIP || used.hostIP == "0.0.0.0" || wanted.hostIP == "0.0.0.0") {
                return ["node(s) didn't have free ports for the requested pod ports"]
            }
        }
        return []
    }
}

struct PodAntiAffinityFilter: NodeFilter {
    func reasons(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> [String] {
        func blocked(_ domains: [String: Set<String>]) -> Bool {
            domains.contains { key, values in node.labels[key].map(values.contains) ?? false }
        }
        if blocked(context.antiAffinityBlocked) { return ["node(s) didn't match pod anti-affinity rules"] }
        if blocked(context.existingAntiAffinityBlocked) { return ["node(s) didn't satisfy existing pods anti-affinity rules"] }
        return []
    }
}

struct PodTopologySpreadFilter: NodeFilter {
    func reasons(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> [String] {
        for (constraint, counts, minimum) in context.spread where constraint.hard {
            guard let domain = node.labels[constraint.topologyKey] else {
                return ["node(s) didn't match pod topology spread constraints (missing required label)"]
            }
            // The pod itself counts only where its constraint's selector matches it (Kubernetes' selfMatchNum).
            let itself = constraint.selector.matches(pod.labels) ? 1 : 0
            if (counts[domain] ?? 0) + itself - minimum > constraint.maxSkew {
                return ["node(s) didn't match pod topology spread constraints"]
            }
        }
        return []
    }
}
