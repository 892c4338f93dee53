import Controllers
import Resources
import Testing

@Suite struct NodeLifecycleTests {
    static let wall = 1_700_000_000.0

    static func node(_ name: String, tainted: Double? = nil, ready: String = "True") -> JSONValue {
        var node: JSONValue = ["metadata": ["name": .string(name)],
                               "status": ["conditions": [["type": "Ready", "status": .string(ready), "lastHeartbeatTime": "t0"]]]]
        if let tainted { node = NodeLifecycle.withUnreachableTaints(node, true, wallNow: tainted) }
        return node
    }

    static func pod(_ name: String, toleration: Int64?? = .some(10)) -> PodView {
        var pod: JSONValue = ["metadata": ["name": .string(name), "namespace": "default", "uid": .string(name)],
                              "spec": ["nodeName": "n1"], "status": ["phase": "Running"]]
        if case .some(let seconds) = toleration {
            var toleration: JSONValue = ["key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"]
            if let seconds { toleration["tolerationSeconds"] = .int(seconds) }
            pod[path: ["spec", "tolerations"]] = [toleration]
        }
        return PodView(pod)
    }

    func world(_ nodes: [String], silent: Set<String>, for seconds: Double) -> NodeLifecycle {
        var core = NodeLifecycle()
        for node in nodes { core.observe(node: node, signature: "a", now: 0) }
        for node in nodes where !silent.contains(node) { core.observe(node: node, signature: "b", now: seconds) }
        return core
    }

    @Test func aSilentNodeIsMarkedAfterTheGracePeriodAndNotBefore() {
        let nodes = ["n1", "n2", "n3"].map { Self.node($0) }
        let early = world(["n1", "n2", "n3"], silent: ["n1"], for: 7.9)
        #expect(early.reconcile(nodes: nodes, pods: { _ in [] }, now: 7.9, wallNow: Self.wall).isEmpty)
        let late = world(["n1", "n2", "n3"], silent: ["n1"], for: 8)
        #expect(late.reconcile(nodes: nodes, pods: { _ in [] }, now: 8, wallNow: Self.wall) == [.markUnreachable(node: "n1")])
    }

    @Test func podsLeaveWhenTheirTolerationRunsOut() {
        let core = world(["n1", "n2", "n3"], silent: ["n1"], for: 20)
        let nodes = [Self.node("n1", tainted: Self.wall, ready: "Unknown"), Self.node("n2"), Self.node("n3")]
        let pods = [Self.pod("ten"), Self.pod("none", toleration: .none), Self.pod("forever", toleration: .some(nil)), Self.pod("long", toleration: 60)]
        let at9 = core.reconcile(nodes: nodes, pods: { $0 == "n1" ? pods : [] }, now: 20, wallNow: Self.wall + 9)
        #expect(at9 == [.evict(pods[1], node: "n1")])
        let at10 = core.reconcile(nodes: nodes, pods: { $0 == "n1" ? pods : [] }, now: 20, wallNow: Self.wall + 10)
        #expect(at10 == [.evict(pods[0], node: "n1"), .evict(pods[1], node: "n1")])
    }

    @Test func whenMostNodesGoDarkAtOnceNothingIsEvicted() {
        let names = ["n1", "n2", "n3", "n4", "n5"]
        let core = world(names, silent: ["n1", "n2", "n3"], for: 30)
        let nodes = names.map { Self.node($0, tainted: ["n1", "n2", "n3"].contains($0) ? Self.wall : nil, ready: ["n1", "n2", "n3"].contains($0) ? "Unknown" : "True") }
        let actions = core.reconcile(nodes: nodes, pods: { _ in [Self.pod("p")] }, now: 30, wallNow: Self.wall + 60)
        #expect(!actions.contains { if case .evict = $0 { true } else { false } }, "\(actions)")
        // Two of five is a node problem, not a master-side one: their pods go.
        let two = world(names, silent: ["n1", "n2"], for: 30)
        let evicted = two.reconcile(nodes: nodes, pods: { ["n1", "n2"].contains($0) ? [Self.pod("p-" + $0)] : [] }, now: 30, wallNow: Self.wall + 60)
        #expect(evicted.filter { if case .evict = $0 { true } else { false } }.count == 2)
    }

    @Test func aNodeThatComesBackIsUntainted() {
        var core = world(["n1"], silent: ["n1"], for: 30)
        core.observe(node: "n1", signature: "new", now: 31)
        let actions = core.reconcile(nodes: [Self.node("n1", tainted: Self.wall, ready: "Unknown")], pods: { _ in [] }, now: 31, wallNow: Self.wall)
        #expect(actions == [.markReachable(node: "n1")])
        let untainted = NodeLifecycle.withUnreachableTaints(Self.node("n1", tainted: Self.wall), false, wallNow: Self.wall)
        #expect(untainted[path: ["spec", "taints"]] == nil)
    }

    @Test func markingUnknownWordsItAsKubernetes() {
        let marked = NodeLifecycle.markedUnknown(Self.node("n1"), wallNow: Self.wall)
        let ready = marked[path: ["status", "conditions"]]?.arrayValue?.first
        #expect(ready?["status"] == "Unknown" && ready?["reason"] == "NodeStatusUnknown")
        #expect(ready?["message"] == "Kubelet stopped posting node status.")
    }
}
