import Controllers
import Resources
import Testing

@Suite struct StatefulSetReconcilerTests {
    static let now = 1_700_000_000.0

    static func set(replicas: Int64 = 3, parallel: Bool = false, image: String = "db:1", partition: Int64 = 0) -> JSONValue {
        ["metadata": ["name": "db", "namespace": "default", "uid": "sts-uid", "generation": 1],
         "spec": ["replicas": .int(replicas), "serviceName": "db", "podManagementPolicy": parallel ? "Parallel" : "OrderedReady",
                  "selector": ["matchLabels": ["app": "db"]],
                  "updateStrategy": ["type": "RollingUpdate", "rollingUpdate": ["partition": .int(partition)]],
                  "template": ["metadata": ["labels": ["app": "db"]], "spec": ["containers": [["name": "db", "image": .string(image)]]]],
                  "volumeClaimTemplates": [["metadata": ["name": "data"], "spec": ["accessModes": ["ReadWriteOnce"]]]]]]
    }

    /// The pods a round creates become Running and Ready; deleted ones go.
    static func apply(_ actions: [StatefulSetReconciler.Action], to pods: inout [String: PodView]) {
        for action in actions {
            switch action {
            case .create(var pod, _):
                pod[path: ["metadata", "uid"]] = pod[path: ["metadata", "name"]]
                pod["status"] = ["phase": "Running", "conditions": [["type": "Ready", "status": "True", "lastTransitionTime": .string(RFC3339.format(now))]]]
                let view = PodView(pod)
                pods[view.name] = view
            case .delete(let pod):
                pods[pod.name] = nil
            case .updateStatus, .requeue:
                break
            }
        }
    }

    func creations(_ actions: [StatefulSetReconciler.Action]) -> [String] {
        actions.compactMap { if case .create(let pod, _) = $0 { pod[path: ["metadata", "name"]]?.stringValue } else { nil } }
    }

    @Test func orderedReadyCreatesOneAtATimeInOrdinalOrder() {
        var pods: [String: PodView] = [:]
        var order: [String] = []
        for _ in 0..<5 {
            let actions = StatefulSetReconciler().reconcile(Self.set(), pods: Array(pods.values), expectationsSatisfied: true, now: Self.now)
            let created = creations(actions)
            #expect(created.count <= 1)
            order += created
            Self.apply(actions, to: &pods)
        }
        #expect(order == ["db-0", "db-1", "db-2"])
        let pod = pods["db-1"]?.object
        #expect(pod?[path: ["spec", "hostname"]] == "db-1" && pod?[path: ["spec", "subdomain"]] == "db")
        #expect(pod?[path: ["spec", "volumes"]] == [["name": "data", "persistentVolumeClaim": ["claimName": "data-db-1"]]])
        #expect(StatefulSetReconciler.claims(for: Self.set(), ordinal: 2).first?[path: ["metadata", "name"]] == "data-db-2")
    }

    @Test func parallelCreatesAllAtOnce() {
        let actions = StatefulSetReconciler().reconcile(Self.set(parallel: true), pods: [], expectationsSatisfied: true, now: Self.now)
        #expect(creations(actions) == ["db-0", "db-1", "db-2"])
    }

    @Test func scalingDownRemovesTheHighestOrdinalFirst() {
        var pods: [String: PodView] = [:]
        for _ in 0..<4 { Self.apply(StatefulSetReconciler().reconcile(Self.set(), pods: Array(pods.values), expectationsSatisfied: true, now: Self.now), to: &pods) }
        let actions = StatefulSetReconciler().reconcile(Self.set(replicas: 1), pods: Array(pods.values), expectationsSatisfied: true, now: Self.now)
        #expect(actions.contains(.delete(pods["db-2"]!)) && !actions.contains(.delete(pods["db-1"]!)))
    }

    @Test func aRollingUpdateGoesFromTheHighestOrdinalDownToThePartition() {
        var pods: [String: PodView] = [:]
        for _ in 0..<4 { Self.apply(StatefulSetReconciler().reconcile(Self.set(), pods: Array(pods.values), expectationsSatisfied: true, now: Self.now), to: &pods) }
        let updated = Self.set(image: "db:2", partition: 1)
        var replaced: [String] = []
        for _ in 0..<8 {
            let actions = StatefulSetReconciler().reconcile(updated, pods: Array(pods.values), expectationsSatisfied: true, now: Self.now)
            replaced += actions.compactMap { if case .delete(let pod) = $0 { pod.name } else { nil } }
            Self.apply(actions, to: &pods)
        }
        #expect(replaced == ["db-2", "db-1"])
        let revision = StatefulSetReconciler.revision(of: updated)
        #expect(pods["db-0"]?.labels["controller-revision-hash"] != revision && pods["db-2"]?.labels["controller-revision-hash"] == revision)
    }
}

@Suite struct DaemonSetReconcilerTests {
    static let now = 1_700_000_000.0

    static func daemonSet(image: String = "agent:1", nodeSelector: [String: String]? = nil) -> JSONValue {
        var spec: JSONValue = ["containers": [["name": "agent", "image": .string(image)]]]
        if let nodeSelector { spec["nodeSelector"] = .strings(nodeSelector) }
        return ["metadata": ["name": "agent", "namespace": "kube-system", "uid": "ds-uid", "generation": 1],
                "spec": ["selector": ["matchLabels": ["app": "agent"]], "updateStrategy": ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": 1]],
                         "template": ["metadata": ["labels": ["app": "agent"]], "spec": spec]]]
    }

    static func node(_ name: String, labels: [String: String] = [:], taint: String? = nil) -> JSONValue {
        var node: JSONValue = ["metadata": ["name": .string(name), "labels": .strings(labels)]]
        if let taint { node[path: ["spec", "taints"]] = [["key": .string(taint), "effect": "NoSchedule"]] }
        return node
    }

    static func running(_ template: JSONValue, node: String, name: String) -> PodView {
        var pod = template
        pod[path: ["metadata", "name"]] = .string(name)
        pod[path: ["metadata", "uid"]] = .string(name)
        pod[path: ["spec", "nodeName"]] = .string(node)
        pod["status"] = ["phase": "Running", "conditions": [["type": "Ready", "status": "True", "lastTransitionTime": .string(RFC3339.format(now - 60))]]]
        return PodView(pod)
    }

    func created(_ actions: [DaemonSetReconciler.Action]) -> [JSONValue] {
        actions.compactMap { if case .create(let pods) = $0 { pods } else { nil } }.first ?? []
    }

    @Test func onePodPinnedToEachNodeThatQualifies() {
        let nodes = [Self.node("a", labels: ["disk": "ssd"]), Self.node("b", labels: ["disk": "ssd"]), Self.node("c"),
                     Self.node("d", labels: ["disk": "ssd"], taint: "dedicated"),
                     Self.node("e", labels: ["disk": "ssd"], taint: "node.kubernetes.io/unschedulable")]
        let pods = created(DaemonSetReconciler().reconcile(Self.daemonSet(nodeSelector: ["disk": "ssd"]), nodes: nodes, pods: [],
                                                           expectationsSatisfied: true, now: Self.now))
        let pinned = pods.compactMap {
            $0[path: ["spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"]]?
                .arrayValue?.first?["matchFields"]?.arrayValue?.first?["values"]?.arrayValue?.first?.stringValue
        }
        #expect(Set(pinned) == ["a", "b", "e"])
    }

    @Test func aRollingUpdateReplacesOneAvailablePodAtATime() {
        let nodes = ["a", "b", "c"].map { Self.node($0) }
        let old = Self.daemonSet()
        let pods = ["a", "b", "c"].map { Self.running(DaemonSetReconcilerTests.pin(old), node: $0, name: "agent-\($0)") }
        let actions = DaemonSetReconciler().reconcile(Self.daemonSet(image: "agent:2"), nodes: nodes, pods: pods, expectationsSatisfied: true, now: Self.now)
        let deleted = actions.compactMap { if case .delete(let victims) = $0 { victims.map(\.name) } else { nil } }.first
        #expect(deleted?.count == 1)
        let status = actions.compactMap { if case .updateStatus(let status) = $0 { status } else { nil } }.first
        #expect(status?["desiredNumberScheduled"] == 3 && status?["numberAvailable"] == 3 && status?["updatedNumberScheduled"] == 0)
    }

    @Test func podsOfNodesThatNoLongerQualifyGo() {
        let set = Self.daemonSet(nodeSelector: ["disk": "ssd"])
        let pod = Self.running(Self.pin(set), node: "a", name: "agent-a")
        let actions = DaemonSetReconciler().reconcile(set, nodes: [Self.node("a")], pods: [pod], expectationsSatisfied: true, now: Self.now)
        #expect(actions.contains(.delete([pod])))
    }

    /// The pod the DaemonSet's current template makes (as if created a while ago).
    static func pin(_ set: JSONValue) -> JSONValue {
        var pod = set[path: ["spec", "template"]] ?? [:]
        pod[path: ["metadata", "labels", "controller-revision-hash"]] = .string(DaemonSetReconciler.revision(of: set))
        pod[path: ["metadata", "creationTimestamp"]] = .string(RFC3339.format(now - 100))
        return pod
    }
}
