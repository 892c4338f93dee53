/// One score of the scheduling cycle (a "Score" plugin): 0–100 for how well `node` suits `pod`, higher better.
protocol NodeScorer: Sendable {
    var weight: Int { get }
    func score(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> Int
}

/// NodeResourcesFit's LeastAllocated: the free share of CPU and memory after placing the pod, averaged.
struct LeastAllocatedScorer: NodeScorer {
    var weight = 1

    func score(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> Int {
        let requested = node.requestedForScoring + SchedulingNode.scoringRequests(pod.requests)
        func free(_ used: Int64, _ capacity: Int64) -> Int {
            guard capacity > 0, used <= capacity else { return 0 }
            return Int((capacity - used) * 100 / capacity)
        }
        return (free(requested.milliCPU, node.allocatable.milliCPU) + free(requested.memory, node.allocatable.memory)) / 2
    }
}

/// NodeResourcesBalancedAllocation: nodes whose CPU and memory would be used in equal shares score higher.
struct BalancedAllocationScorer: NodeScorer {
    var weight = 1

    func score(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> Int {
        let requested = node.requestedForScoring + SchedulingNode.scoringRequests(pod.requests)
        guard node.allocatable.milliCPU > 0, node.allocatable.memory > 0 else { return 0 }
        let cpu = min(Double(requested.milliCPU) / Double(node.allocatable.milliCPU), 1)
        let memory = min(Double(requested.memory) / Double(node.allocatable.memory), 1)
        // The standard deviation of two shares is half their difference.
        return Int(((1 - abs(cpu - memory) / 2) * 100).rounded(.down))
    }
}

/// Spreads pods of one controller (a ReplicaSet, a StatefulSet) and pods under soft topology spread constraints:
/// the fewer such pods a node (and its zone) already has, the higher it scores, as Kubernetes' default
/// PodTopologySpread constraints (hostname, zone) do.
struct SpreadScorer: NodeScorer {
    var weight = 2
    static let zoneKey = "topology.kubernetes.io/zone"

    func score(_ pod: SchedulingPod, _ node: SchedulingNode, _ context: CycleContext) -> Int {
        var penalty = 0
        if let owner = pod.controllerUID {
            penalty += node.pods.values.reduce(0) { $0 + ($1.controllerUID == owner && !$1.isTerminal ? 1 : 0) } * 10
        }
        for (constraint, counts, minimum) in context.spread where !constraint.hard {
            guard let domain = node.labels[constraint.topologyKey] else { continue }
            penalty += ((counts[domain] ?? 0) - minimum) * 10
        }
        return max(0, 100 - penalty)
    }
}
