/// The scheduler's picture of the cluster: every node with what is placed on it, bound or assumed. The shell
/// keeps it current from the informers (and its own assumptions); a scheduling cycle reads it.
public struct ClusterSnapshot: Sendable {
    public private(set) var nodes: [String: SchedulingNode] = [:]
    /// Node names in a stable order, so that a cycle's outcome depends only on its inputs.
    public private(set) var nodeNames: [String] = []
    /// Where each placed pod is.
    public private(set) var placement: [String: String] = [:]
    /// Placed pods with required anti-affinity terms (rare): an incoming pod must not break their rules either.
    public private(set) var podsWithAntiAffinity: [String: SchedulingPod] = [:]
    /// Pods bound to nodes not known yet (the pod informer ran ahead of the node informer): placed when the node
    /// arrives, so that it never looks emptier than it is.
    private var waitingForNode: [String: [String: SchedulingPod]] = [:]

    public init() {}

    public mutating func upsert(node: SchedulingNode) {
        if nodes[node.name] != nil {
            nodes[node.name]?.update(from: node)
            return
        }
        nodes[node.name] = node
        for pod in (waitingForNode.removeValue(forKey: node.name) ?? [:]).values { place(pod, on: node.name) }
        let index = nodeNames.firstIndex { $0 > node.name } ?? nodeNames.endIndex
        nodeNames.insert(node.name, at: index)
    }

    /// Removes a node; its pods wait for it as pods bound to an unknown node do, so that a node deleted and
    /// registered again (a kubelet re-registers) comes back holding them, not empty.
    public mutating func remove(node name: String) {
        guard let node = nodes.removeValue(forKey: name) else { return }
        nodeNames.removeAll { $0 == name }
        for (key, pod) in node.pods {
            placement[key] = nil
            podsWithAntiAffinity[key] = nil
            waitingForNode[name, default: [:]][key] = pod
        }
    }

    /// Places `pod` on `node` (moving it if it was elsewhere); a node not (yet) known holds nothing.
    public mutating func place(_ pod: SchedulingPod, on node: String) {
        if let previous = placement[pod.key], previous != node { nodes[previous]?.remove(pod.key) }
        guard nodes[node] != nil else {
            placement[pod.key] = nil
            waitingForNode[node, default: [:]][pod.key] = pod
            return
        }
        nodes[node]?.add(pod)
        placement[pod.key] = node
        podsWithAntiAffinity[pod.key] = pod.antiAffinity.isEmpty ? nil : pod
    }

    public mutating func remove(pod key: String) {
        for (node, pods) in waitingForNode where pods[key] != nil { waitingForNode[node]?[key] = nil }
        guard let node = placement.removeValue(forKey: key) else { return }
        nodes[node]?.remove(key)
        podsWithAntiAffinity[key] = nil
    }
}
