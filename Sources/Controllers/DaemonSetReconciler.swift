import Resources
import Scheduler

/// The DaemonSet controller's decision for one DaemonSet, pure: one pod on every node its nodeSelector, required
/// node affinity and taints allow (its pods tolerate what a node agent must: not-ready, unreachable,
/// unschedulable and the pressure taints), pinned to that node by a matchFields affinity the scheduler honours;
/// pods on nodes that no longer qualify, duplicates and failed pods are deleted; RollingUpdate replaces pods of an
/// old template at most maxUnavailable (default 1) at a time.
public struct DaemonSetReconciler: Sendable {
    public static let revisionLabel = "controller-revision-hash"

    /// What every DaemonSet pod tolerates, as Kubernetes adds.
    static let agentTolerations: [JSONValue] = [
        ["key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"],
        ["key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"],
        ["key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"],
        ["key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"],
        ["key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"],
        ["key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"],
    ]

    public enum Action: Sendable, Equatable {
        case create([JSONValue])
        case delete([PodView])
        case updateStatus(JSONValue)
        case requeue(after: Double)
    }

    public init() {}

    public static func revision(of set: JSONValue) -> String {
        PodTemplateHash.of(set[path: ["spec", "template"]] ?? [:], collisionCount: nil)
    }

    /// The node a DaemonSet pod is for: where it is bound, or the node its affinity pins it to.
    static func targetNode(of pod: PodView) -> String? {
        if let node = pod.nodeName { return node }
        let terms = pod.object[path: ["spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"]]
        return terms?.arrayValue?.first?["matchFields"]?.arrayValue?.first { $0["key"] == "metadata.name" }?["values"]?.arrayValue?.first?.stringValue
    }

    /// Whether the DaemonSet's pod should run on `node`.
    static func shouldRun(_ set: JSONValue, on node: JSONValue) -> Bool {
        let pod = SchedulingPod(template(of: set, node: nil))
        let target = SchedulingNode(node)
        guard pod.nodeSelector.allSatisfy({ target.labels[$0.key] == $0.value }) else { return false }
        if let terms = pod.requiredNodeAffinity, !terms.contains(where: { $0.matches(labels: target.labels, nodeName: target.name) }) {
            return false
        }
        return target.taints.allSatisfy { taint in
            taint.effect == "PreferNoSchedule" || pod.tolerations.contains { $0.tolerates(taint) }
        }
    }

    /// - Parameters: `pods` are the pods the DaemonSet controls; `now` is wall-clock seconds.
    public func reconcile(_ set: JSONValue, nodes: [JSONValue], pods: [PodView], expectationsSatisfied: Bool, now: Double) -> [Action] {
        let revision = Self.revision(of: set)
        let minReady = Int(set[path: ["spec", "minReadySeconds"]]?.intValue ?? 0)
        var byNode: [String: [PodView]] = [:]
        for pod in pods where pod.isActive || pod.phase == "Failed" {
            if let node = Self.targetNode(of: pod) { byNode[node, default: []].append(pod) }
        }
        var creates: [JSONValue] = []
        var deletes: [PodView] = []
        var desired = 0, scheduled = 0, misscheduled = 0, ready = 0, available = 0, updated = 0
        var oldHealthy: [PodView] = []
        var unavailable = 0
        let names = Set(nodes.compactMap { $0[path: ["metadata", "name"]]?.stringValue })
        for node in nodes {
            let name = node[path: ["metadata", "name"]]?.stringValue ?? ""
            let here = byNode[name] ?? []
            let running = here.filter(\.isActive)
            if Self.shouldRun(set, on: node) {
                desired += 1
                deletes += here.filter { $0.phase == "Failed" }
                if running.isEmpty {
                    creates.append(Self.template(of: set, node: name))
                    unavailable += 1
                    continue
                }
                scheduled += 1
                // The newest of the current revision stays, else the oldest; the rest are duplicates.
                let keeper = running.filter { $0.labels[Self.revisionLabel] == revision }.max { $0.created < $1.created }
                    ?? running.min { $0.created < $1.created }
                deletes += running.filter { $0.uid != keeper?.uid }
                guard let keeper else { continue }
                if keeper.isReady { ready += 1 }
                let isAvailable = keeper.isAvailable(minReadySeconds: minReady, now: now)
                if isAvailable { available += 1 } else { unavailable += 1 }
                if keeper.labels[Self.revisionLabel] == revision {
                    updated += 1
                } else if isAvailable {
                    oldHealthy.append(keeper)
                } else {
                    // An old pod that is not available anyway: replacing it costs nothing.
                    deletes.append(keeper)
                }
            } else if !running.isEmpty {
                misscheduled += 1
                deletes += running
            }
        }
        // Pods for nodes that are gone.
        for (node, here) in byNode where !names.contains(node) { deletes += here.filter(\.isActive) }
        if (set[path: ["spec", "updateStrategy", "type"]]?.stringValue ?? "RollingUpdate") == "RollingUpdate" {
            let maxUnavailable = IntOrPercent(set[path: ["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"]] ?? 1)?
                .resolve(desired, roundUp: true) ?? 1
            let budget = max(0, max(maxUnavailable, 1) - unavailable)
            deletes += oldHealthy.sorted { $0.created < $1.created }.prefix(budget)
        }
        var actions: [Action] = []
        if expectationsSatisfied && set[path: ["metadata", "deletionTimestamp"]] == nil {
            if !creates.isEmpty { actions.append(.create(creates)) }
            if !deletes.isEmpty { actions.append(.delete(deletes)) }
        }
        var status: JSONValue = [
            "desiredNumberScheduled": .int(Int64(desired)), "currentNumberScheduled": .int(Int64(scheduled)),
            "numberMisscheduled": .int(Int64(misscheduled)), "numberReady": .int(Int64(ready)),
            "numberAvailable": .int(Int64(available)), "updatedNumberScheduled": .int(Int64(updated)),
        ]
        if desired - available > 0 { status["numberUnavailable"] = .int(Int64(desired - available)) }
        if let generation = set[path: ["metadata", "generation"]] { status["observedGeneration"] = generation }
        if status != (set["status"] ?? [:]) { actions.append(.updateStatus(status)) }
        return actions
    }

    /// The DaemonSet's pod for `node` (nil: the template as the scheduler would judge it, for `shouldRun`).
    static func template(of set: JSONValue, node: String?) -> JSONValue {
        let template = set[path: ["spec", "template"]] ?? [:]
        var labels = template[path: ["metadata", "labels"]]?.stringMap ?? [:]
        labels[revisionLabel] = revision(of: set)
        var metadata: JSONValue = [
            "generateName": .string((set[path: ["metadata", "name"]]?.stringValue ?? "daemon") + "-"),
            "namespace": set[path: ["metadata", "namespace"]] ?? "default", "labels": .strings(labels),
            "ownerReferences": [OwnerReference(controllerOf: set, apiVersion: "apps/v1", kind: "DaemonSet").json],
        ]
        if let annotations = template[path: ["metadata", "annotations"]] { metadata["annotations"] = annotations }
        var spec = template["spec"] ?? [:]
        var tolerations = spec["tolerations"]?.arrayValue ?? []
        for toleration in agentTolerations where !tolerations.contains(toleration) { tolerations.append(toleration) }
        spec["tolerations"] = .array(tolerations)
        if let node {
            var terms = spec[path: ["affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"]]?.arrayValue ?? [[:]]
            if terms.isEmpty { terms = [[:]] }
            // Every term gets the pin (the terms are ORed): the pod can go nowhere else.
            terms = terms.map { term in
                var term = term
                term["matchFields"] = [["key": "metadata.name", "operator": "In", "values": [.string(node)]]]
                return term
            }
            spec[path: ["affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"]] = .array(terms)
        }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec]
    }
}
