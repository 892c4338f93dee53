/// One pod's scheduling decision, pure: filter the nodes, score those that fit, pick the best (ties broken by
/// `tieBreak`, which the shell draws at random so equal nodes share the load), or say why none fits in the
/// FailedScheduling wording ("0/3 nodes are available: 3 Insufficient cpu."). In a large cluster it stops
/// looking once it has found enough feasible nodes (Kubernetes' percentageOfNodesToScore: 50 % less 1 % per
/// 125 nodes, at least 5 % and at least 100 nodes), starting where the previous pod stopped, so every node gets
/// its turn.
public struct SchedulingCycle: Sendable {
    public enum Decision: Sendable, Equatable {
        case node(String)
        case unschedulable(message: String)
    }

    let filters: [any NodeFilter] = [
        NodeUnschedulableFilter(), NodeResourcesFitFilter(), NodeAffinityFilter(), NodePortsFilter(),
        TaintTolerationFilter(), PodAntiAffinityFilter(), PodTopologySpreadFilter(),
    ]
    let scorers: [any NodeScorer] = [LeastAllocatedScorer(), BalancedAllocationScorer(), SpreadScorer()]

    public init() {}

    /// How many feasible nodes are enough among `count`.
    public static func feasibleNodesToFind(_ count: Int) -> Int {
        guard count > 100 else { return count }
        let percentage = max(5, 50 - count / 125)
        return max(100, count * percentage / 100)
    }

    public func schedule(_ pod: SchedulingPod, in snapshot: ClusterSnapshot, tieBreak: UInt64 = 0) -> Decision {
        schedule(pod, in: snapshot, tieBreak: tieBreak, startingAt: 0).decision
    }

    /// The decision, and how many nodes it looked at (the next pod starts after them).
    public func schedule(_ pod: SchedulingPod, in snapshot: ClusterSnapshot, tieBreak: UInt64, startingAt start: Int) -> (decision: Decision, examined: Int) {
        let context = Self.context(for: pod, in: snapshot)
        var reasons: [String: Int] = [:]
        var best: [String] = []
        var bestScore = Int.min
        let names = snapshot.nodeNames
        let enough = Self.feasibleNodesToFind(names.count)
        var feasible = 0
        var examined = 0
        for offset in 0..<names.count where feasible < enough {
            examined += 1
            let name = names[(start + offset) % names.count]
            guard let node = snapshot.nodes[name] else { continue }
            var failed = false
            for filter in filters {
                let found = filter.reasons(pod, node, context)
                guard !found.isEmpty else { continue }
                for reason in found { reasons[reason, default: 0] += 1 }
                failed = true
                break
            }
            if failed { continue }
            feasible += 1
            var score = 0
            for scorer in scorers { score += scorer.weight * scorer.score(pod, node, context) }
            if score > bestScore {
                bestScore = score
                best = [name]
            } else if score == bestScore {
                best.append(name)
            }
        }
        if !best.isEmpty { return (.node(best[Int(tieBreak % UInt64(best.count))]), examined) }
        return (.unschedulable(message: Self.message(nodes: names.count, reasons: reasons)), examined)
    }

    /// Kubernetes' FitError wording: counts per reason, sorted.
    static func message(nodes: Int, reasons: [String: Int]) -> String {
        guard nodes > 0 else { return "no nodes available to schedule pods" }
        let parts = reasons.map { "\($0.value) \($0.key)" }.sorted()
        return "0/\(nodes) nodes are available: " + parts.joined(separator: ", ") + "."
    }

    static func context(for pod: SchedulingPod, in snapshot: ClusterSnapshot) -> CycleContext {
        var context = CycleContext()
        if !pod.antiAffinity.isEmpty {
            for node in snapshot.nodes.values {
                for other in node.pods.values where !other.isTerminal {
                    for term in pod.antiAffinity where term.namespaces.contains(other.namespace) && term.selector.matches(other.labels) {
                        if let domain = node.labels[term.topologyKey] {
                            context.antiAffinityBlocked[term.topologyKey, default: []].insert(domain)
                        }
                    }
                }
            }
        }
        for (key, other) in snapshot.podsWithAntiAffinity where !other.isTerminal {
            guard let nodeName = snapshot.placement[key], let node = snapshot.nodes[nodeName] else { continue }
            for term in other.antiAffinity where term.namespaces.contains(pod.namespace) && term.selector.matches(pod.labels) {
                if let domain = node.labels[term.topologyKey] {
                    context.existingAntiAffinityBlocked[term.topologyKey, default: []].insert(domain)
                }
            }
        }
        for constraint in pod.spreadConstraints {
            var counts: [String: Int] = [:]
            for node in snapshot.nodes.values where NodeAffinityFilter.matches(pod, node) {
                guard let domain = node.labels[constraint.topologyKey] else { continue }
                let matching = node.pods.values.reduce(0) {
                    $0 + ($1.namespace == pod.namespace && !$1.isTerminal && constraint.selector.matches($1.labels) ? 1 : 0)
                }
                counts[domain, default: 0] += matching
            }
            context.spread.append((constraint, counts, counts.values.min() ?? 0))
        }
        return context
    }
}
