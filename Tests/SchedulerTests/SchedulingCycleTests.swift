import Resources
import Scheduler
import Testing
import TestSupport

@Suite struct SchedulingCycleTests {
    static func node(_ name: String, cpu: String = "4", memory: String = "8Gi", pods: Int64 = 110, labels: [String: String] = [:],
                     taints: [JSONValue] = [], unschedulable: Bool = false) -> SchedulingNode {
        var labels = labels
        labels["kubernetes.io/hostname"] = name
        let node: JSONValue = [
            "metadata": ["name": .string(name), "labels": .strings(labels)],
            "spec": ["taints": .array(taints), "unschedulable": .bool(unschedulable)],
            "status": ["allocatable": ["cpu": .string(cpu), "memory": .string(memory), "pods": .string(String(pods)),
                                       "ephemeral-storage": "100Gi"]],
        ]
        return SchedulingNode(node)
    }

    static func pod(_ name: String, cpu: String? = nil, memory: String? = nil, spec extra: [String: JSONValue] = [:],
                    labels: [String: String] = [:], owner: String? = nil) -> SchedulingPod {
        var requests: [String: JSONValue] = [:]
        if let cpu { requests["cpu"] = .string(cpu) }
        if let memory { requests["memory"] = .string(memory) }
        var spec: [String: JSONValue] = ["containers": [["name": "c", "image": "i", "resources": ["requests": .object(requests)]]]]
        for (key, value) in extra { spec[key] = value }
        var metadata: JSONValue = ["name": .string(name), "namespace": "default", "labels": .strings(labels)]
        if let owner { metadata["ownerReferences"] = [["uid": .string(owner), "controller": true, "kind": "ReplicaSet", "name": "rs"]] }
        return SchedulingPod(["metadata": metadata, "spec": .object(spec)])
    }

    static func snapshot(_ nodes: [SchedulingNode]) -> ClusterSnapshot {
        var snapshot = ClusterSnapshot()
        for node in nodes { snapshot.upsert(node: node) }
        return snapshot
    }

    let cycle = SchedulingCycle()

    @Test func tooBigAPodGetsKubernetesWording() {
        let snapshot = Self.snapshot((1...3).map { Self.node("n\($0)", cpu: "2") })
        #expect(cycle.schedule(Self.pod("p", cpu: "3"), in: snapshot) == .unschedulable(message: "0/3 nodes are available: 3 Insufficient cpu."))
        #expect(cycle.schedule(Self.pod("p", cpu: "3", memory: "9Gi"), in: snapshot)
            == .unschedulable(message: "0/3 nodes are available: 3 Insufficient cpu, 3 Insufficient memory."))
        #expect(cycle.schedule(Self.pod("p"), in: ClusterSnapshot()) == .unschedulable(message: "no nodes available to schedule pods"))
    }

    @Test func placedPodsUseUpANode() {
        var snapshot = Self.snapshot([Self.node("n1", cpu: "1", pods: 3)])
        snapshot.place(Self.pod("a", cpu: "600m"), on: "n1")
        #expect(cycle.schedule(Self.pod("b", cpu: "500m"), in: snapshot) == .unschedulable(message: "0/1 nodes are available: 1 Insufficient cpu."))
        #expect(cycle.schedule(Self.pod("b", cpu: "400m"), in: snapshot) == .node("n1"))
        snapshot.place(Self.pod("b"), on: "n1")
        snapshot.place(Self.pod("b"), on: "n1")  // counted once
        snapshot.place(Self.pod("c"), on: "n1")
        #expect(cycle.schedule(Self.pod("d"), in: snapshot) == .unschedulable(message: "0/1 nodes are available: 1 Too many pods."))
        snapshot.remove(pod: "default/a")
        snapshot.remove(pod: "default/c")
        #expect(cycle.schedule(Self.pod("e", cpu: "1"), in: snapshot) == .node("n1"))
    }

    @Test func selectorsAffinityTaintsAndPortsFilterNodes() {
        let snapshot = Self.snapshot([
            Self.node("ssd", labels: ["disk": "ssd", "rank": "5"]),
            Self.node("tainted", labels: ["disk": "ssd"], taints: [["key": "dedicated", "value": "db", "effect": "NoSchedule"]]),
            Self.node("cordoned", labels: ["disk": "ssd"], unschedulable: true),
            Self.node("hdd", labels: ["disk": "hdd"]),
        ])
        let selected = Self.pod("p", spec: ["nodeSelector": ["disk": "ssd"]])
        #expect(cycle.schedule(selected, in: snapshot) == .node("ssd"))
        let affinity: JSONValue = ["nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": [
            ["matchExpressions": [["key": "rank", "operator": "Gt", "values": ["7"]]]],
            ["matchExpressions": [["key": "disk", "operator": "NotIn", "values": ["ssd"]]]],
        ]]]]
        #expect(cycle.schedule(Self.pod("p", spec: ["affinity": affinity]), in: snapshot) == .node("hdd"))
        let nowhere: JSONValue = ["nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": [
            ["matchExpressions": [["key": "zone", "operator": "Exists"]]],
        ]]]]
        #expect(cycle.schedule(Self.pod("p", spec: ["affinity": nowhere]), in: snapshot) == .unschedulable(message:
            "0/4 nodes are available: 1 node(s) were unschedulable, 3 node(s) didn't match Pod's node affinity/selector."))
        let tolerant = Self.pod("p", cpu: "1", spec: ["nodeSelector": ["disk": "ssd"], "tolerations": [["key": "dedicated", "operator": "Exists"]]])
        var busy = snapshot
        busy.place(Self.pod("hog", cpu: "4"), on: "ssd")
        #expect(cycle.schedule(tolerant, in: busy) == .node("tainted"))
        let big = Self.pod("p", cpu: "1", spec: ["nodeSelector": ["disk": "ssd"]])
        #expect(cycle.schedule(big, in: busy) == .unschedulable(message:
            "0/4 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) were unschedulable."))

        let port: [String: JSONValue] = ["containers": [["name": "c", "image": "i", "ports": [["containerPort": 80, "hostPort": 8080]]]]]
        var ports = Self.snapshot([Self.node("a"), Self.node("b")])
        ports.place(Self.pod("web1", spec: port), on: "a")
        #expect(cycle.schedule(Self.pod("web2", spec: port), in: ports) == .node("b"))
        ports.place(Self.pod("web2", spec: port), on: "b")
        #expect(cycle.schedule(Self.pod("web3", spec: port), in: ports) == .unschedulable(message:
            "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."))
    }

    @Test func antiAffinityOnHostnameKeepsReplicasApartBothWays() {
        let term: JSONValue = ["podAntiAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [
            ["labelSelector": ["matchLabels": ["app": "db"]], "topologyKey": "kubernetes.io/hostname"],
        ]]]
        var snapshot = Self.snapshot([Self.node("a"), Self.node("b")])
        snapshot.place(Self.pod("db-0", spec: ["affinity": term], labels: ["app": "db"]), on: "a")
        #expect(cycle.schedule(Self.pod("db-1", spec: ["affinity": term], labels: ["app": "db"]), in: snapshot) == .node("b"))
        // A pod without the rule is still kept off the node by the placed pod's rule.
        let plain = Self.pod("other", labels: ["app": "db"])
        #expect(cycle.schedule(plain, in: snapshot) == .node("b"))
        snapshot.place(Self.pod("db-1", spec: ["affinity": term], labels: ["app": "db"]), on: "b")
        #expect(cycle.schedule(Self.pod("db-2", spec: ["affinity": term], labels: ["app": "db"]), in: snapshot) == .unschedulable(message:
            "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."))
    }

    @Test func replicasSpreadAcrossNodesAndTopologyConstraintsHold() {
        var snapshot = Self.snapshot((1...4).map { Self.node("n\($0)", labels: ["topology.kubernetes.io/zone": $0 <= 2 ? "z1" : "z2"]) })
        var perNode: [String: Int] = [:]
        for index in 0..<40 {
            let pod = Self.pod("r\(index)", cpu: "10m", labels: ["app": "web"], owner: "rs-1")
            guard case .node(let name) = cycle.schedule(pod, in: snapshot, tieBreak: UInt64(index)) else {
                Issue.record("unschedulable")
                return
            }
            snapshot.place(pod, on: name)
            perNode[name, default: 0] += 1
        }
        #expect(perNode.values.allSatisfy { $0 == 10 }, "\(perNode)")

        let spread: JSONValue = [["maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                                  "labelSelector": ["matchLabels": ["app": "api"]]]]
        var zones = Self.snapshot([Self.node("a", labels: ["topology.kubernetes.io/zone": "z1"]),
                                   Self.node("b", labels: ["topology.kubernetes.io/zone": "z2"]), Self.node("nolabel")])
        zones.place(Self.pod("api-0", labels: ["app": "api"]), on: "a")
        let next = Self.pod("api-1", spec: ["topologySpreadConstraints": spread], labels: ["app": "api"])
        for tie in 0..<4 { #expect(cycle.schedule(next, in: zones, tieBreak: UInt64(tie)) == .node("b")) }
    }

    /// Kubernetes' selfMatchNum: the incoming pod adds to a domain's count only if the constraint selects it.
    @Test func aPodTheSpreadSelectorDoesNotMatchDoesNotCountItself() {
        let spread: JSONValue = [["maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                                  "labelSelector": ["matchLabels": ["app": "api"]]]]
        var zones = Self.snapshot([Self.node("a", labels: ["topology.kubernetes.io/zone": "z1"]),
                                   Self.node("b", labels: ["topology.kubernetes.io/zone": "z2"], unschedulable: true)])
        zones.place(Self.pod("api-0", labels: ["app": "api"]), on: "a")
        // z1 holds 1, z2 (cordoned, still a domain) 0: another api pod would make the skew 2; a sidecar pod keeps it 1.
        #expect(cycle.schedule(Self.pod("api-1", spec: ["topologySpreadConstraints": spread], labels: ["app": "api"]), in: zones)
            == .unschedulable(message: "0/2 nodes are available: 1 node(s) didn't match pod topology spread constraints, 1 node(s) were unschedulable."))
        #expect(cycle.schedule(Self.pod("probe", spec: ["topologySpreadConstraints": spread], labels: ["app": "probe"]), in: zones) == .node("a"))
    }

    /// A node deleted and registered again (a kubelet re-registers) still holds the pods bound to it.
    @Test func aNodeRegisteredAgainStillHoldsItsPods() {
        var snapshot = Self.snapshot([Self.node("n", pods: 1)])
        snapshot.place(Self.pod("p"), on: "n")
        snapshot.remove(node: "n")
        #expect(snapshot.placement["default/p"] == nil)
        snapshot.upsert(node: Self.node("n", pods: 1))
        #expect(snapshot.placement["default/p"] == "n")
        #expect(cycle.schedule(Self.pod("q"), in: snapshot) == .unschedulable(message: "0/1 nodes are available: 1 Too many pods."))
        // A pod deleted while its node was away is gone when the node comes back.
        snapshot.remove(node: "n")
        snapshot.remove(pod: "default/p")
        snapshot.upsert(node: Self.node("n", pods: 1))
        #expect(cycle.schedule(Self.pod("q"), in: snapshot) == .node("n"))
    }

    @Test func initContainersAndRequestlessPodsAreCountedAsKubernetesDoes() {
        let pod = SchedulingPod(["metadata": ["name": "p"], "spec": [
            "initContainers": [["name": "i", "resources": ["requests": ["cpu": "2", "memory": "1Gi"]]]],
            "containers": [["name": "a", "resources": ["requests": ["cpu": "500m", "memory": "3Gi"]]],
                           ["name": "b", "resources": ["requests": ["cpu": "500m"]]]],
        ]])
        #expect(pod.requests == ResourceAmounts(milliCPU: 2000, memory: 3 << 30, pods: 1))
        #expect(pod.schedulerName == "default-scheduler")
        // 10 request-less pods still fill a node's pod slots but not its CPU.
        var snapshot = Self.snapshot([Self.node("n", cpu: "100m", pods: 10)])
        for index in 0..<10 {
            let placed = Self.pod("p\(index)")
            #expect(cycle.schedule(placed, in: snapshot) == .node("n"))
            snapshot.place(placed, on: "n")
        }
        #expect(cycle.schedule(Self.pod("more"), in: snapshot) == .unschedulable(message: "0/1 nodes are available: 1 Too many pods."))
    }

    /// Random clusters and pods: whatever the cycle picks passes every filter, i.e. never overcommits a node.
    @Test(arguments: 0..<30)
    func randomPlacementsNeverOvercommit(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let nodeCount = random.int(1...12)
        var snapshot = Self.snapshot((0..<nodeCount).map { Self.node("n\($0)", cpu: "\(random.int(1...8))", memory: "\(random.int(1...16))Gi",
                                                                     pods: Int64(random.int(1...20))) })
        var placed = 0
        for index in 0..<300 {
            let pod = Self.pod("p\(index)", cpu: "\(random.int(0...1500))m", memory: "\(random.int(0...3000))Mi")
            if case .node(let name) = cycle.schedule(pod, in: snapshot, tieBreak: random.next()) {
                snapshot.place(pod, on: name)
                placed += 1
            }
            if random.chance(0.1), let victim = snapshot.placement.keys.sorted().first { snapshot.remove(pod: victim) }
        }
        for node in snapshot.nodes.values {
            #expect(node.requested.milliCPU <= node.allocatable.milliCPU && node.requested.memory <= node.allocatable.memory
                && Int64(node.pods.count) <= node.allocatable.pods, "seed \(seed): \(node.name) overcommitted")
        }
        #expect(placed > 0)
    }
}

@Suite struct NodeSamplingTests {
    @Test func largeClustersAreSampledAsKubernetesDoes() {
        #expect(SchedulingCycle.feasibleNodesToFind(50) == 50)
        #expect(SchedulingCycle.feasibleNodesToFind(100) == 100)
        #expect(SchedulingCycle.feasibleNodesToFind(1_000) == 420)
        #expect(SchedulingCycle.feasibleNodesToFind(5_000) == 500)
        #expect(SchedulingCycle.feasibleNodesToFind(100_000) == 5_000)
    }

    @Test func eachPodStartsWhereTheLastStoppedSoEveryNodeIsSeen() {
        var snapshot = ClusterSnapshot()
        for index in 0..<300 {
            snapshot.upsert(node: SchedulingNode(name: String(format: "n%03d", index), allocatable: ResourceAmounts(list: ["cpu": "4", "memory": "8Gi", "pods": "110"])))
        }
        let pod = SchedulingPod(["metadata": ["name": "p", "namespace": "default", "uid": "u"], "spec": ["containers": [["name": "c"]]]])
        var start = 0
        var seen = Set<String>()
        for _ in 0..<3 {
            let (decision, examined) = SchedulingCycle().schedule(pod, in: snapshot, tieBreak: 0, startingAt: start)
            // 300 nodes: 48 % of them, 144, are enough.
            #expect(examined == 144)
            if case .node(let name) = decision { seen.insert(name) }
            start = (start + examined) % 300
        }
        // Equal nodes: the first examined wins each time, from three different stretches.
        #expect(seen == ["n000", "n144", "n288"])
    }
}
