import Controllers
import Resources
import Testing

@Suite struct ReplicaSetReconcilerTests {
    static let now = 1_700_000_000.0

    static func set(replicas: Int, minReadySeconds: Int = 0) -> JSONValue {
        ["apiVersion": "apps/v1", "kind": "ReplicaSet",
         "metadata": ["name": "web", "namespace": "default", "uid": "set-uid", "generation": 2],
         "spec": ["replicas": .int(Int64(replicas)), "minReadySeconds": .int(Int64(minReadySeconds)),
                  "selector": ["matchLabels": ["app": "web"]],
                  "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "c", "image": "i"]]]]]]
    }

    static func pod(_ name: String, owner: String? = "set-uid", labels: [String: String] = ["app": "web"], node: String? = "n1",
                    phase: String = "Running", readyFor: Double? = 100, created: Double = 0) -> PodView {
        var pod: JSONValue = ["metadata": ["name": .string(name), "namespace": "default", "uid": .string("uid-" + name),
                                           "labels": .strings(labels), "creationTimestamp": .string(RFC3339.format(now - 1000 + created))],
                              "spec": [:], "status": ["phase": .string(phase)]]
        if let owner {
            pod[path: ["metadata", "ownerReferences"]] = [["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": .string(owner), "controller": true]]
        }
        if let node { pod[path: ["spec", "nodeName"]] = .string(node) }
        if let readyFor {
            pod[path: ["status", "conditions"]] = [["type": "Ready", "status": "True", "lastTransitionTime": .string(RFC3339.format(now - readyFor))]]
        }
        return PodView(pod)
    }

    func reconcile(_ set: JSONValue, _ pods: [PodView], satisfied: Bool = true) -> [ReplicaSetReconciler.Action] {
        ReplicaSetReconciler().reconcile(.init(set: set, pods: pods, expectationsSatisfied: satisfied, now: Self.now))
    }

    @Test func missingPodsAreCreatedOnlyWhileExpectationsAreMet() {
        let pods = [Self.pod("a")]
        #expect(reconcile(Self.set(replicas: 3), pods).contains(.create(2)))
        #expect(!reconcile(Self.set(replicas: 3), pods, satisfied: false).contains { if case .create = $0 { true } else { false } })
    }

    @Test func creationsPerRoundAreBounded() {
        #expect(reconcile(Self.set(replicas: 10_000), []).contains(.create(ReplicaSetReconciler.burstReplicas)))
    }

    @Test func scalingDownDeletesUnscheduledThenNotReadyThenNewestFirst() {
        let pods = [Self.pod("old-ready", created: 0), Self.pod("new-ready", readyFor: 100, created: 50),
                    Self.pod("not-ready", readyFor: nil), Self.pod("unscheduled", node: nil, phase: "Pending", readyFor: nil),
                    Self.pod("recently-ready", readyFor: 5)]
        let deleted = reconcile(Self.set(replicas: 1), pods).compactMap { action -> [String]? in
            if case .delete(let victims) = action { return victims.map(\.name) }
            return nil
        }.first
        #expect(deleted == ["unscheduled", "not-ready", "recently-ready", "new-ready"])
    }

    @Test func orphansAreAdoptedAndPodsThatStopMatchingReleased() {
        let orphan = Self.pod("orphan", owner: nil)
        let strayed = Self.pod("strayed", labels: ["app": "other"])
        let foreign = Self.pod("foreign", owner: "other-uid")
        let actions = reconcile(Self.set(replicas: 1), [orphan, strayed, foreign])
        #expect(actions.contains(.adopt(orphan)))
        #expect(actions.contains(.release(strayed)))
        #expect(!actions.contains { if case .create = $0 { true } else { false } })
    }

    @Test func finishedAndDeletingPodsDoNotCount() {
        var deleting = Self.pod("going").object
        deleting[path: ["metadata", "deletionTimestamp"]] = .string(RFC3339.format(Self.now))
        let actions = reconcile(Self.set(replicas: 2), [Self.pod("done", phase: "Succeeded"), PodView(deleting), Self.pod("up")])
        #expect(actions.contains(.create(1)))
    }

    @Test func statusCountsReadyAndAvailableAfterMinReadySeconds() {
        let pods = [Self.pod("a", readyFor: 100), Self.pod("b", readyFor: 3), Self.pod("c", readyFor: nil)]
        let actions = reconcile(Self.set(replicas: 3, minReadySeconds: 10), pods)
        let status = actions.compactMap { action -> JSONValue? in
            if case .updateStatus(let status) = action { return status }
            return nil
        }.first
        #expect(status?["replicas"] == 3 && status?["readyReplicas"] == 2 && status?["availableReplicas"] == 1)
        #expect(status?["observedGeneration"] == 2 && status?["fullyLabeledReplicas"] == 3)
        // b becomes available 7 s from now: look again then.
        #expect(actions.contains(.requeue(after: 7)))
    }

    @Test func theStatusOfARoundThatDeletesLeavesTheVictimsOut() {
        let status = reconcile(Self.set(replicas: 1), [Self.pod("a"), Self.pod("b")]).compactMap { action -> JSONValue? in
            if case .updateStatus(let status) = action { return status }
            return nil
        }.first
        #expect(status?["replicas"] == 1 && status?["availableReplicas"] == 1)
    }

    @Test func aPodFromTheTemplateNamesItsController() {
        let pod = ReplicaSetReconciler.pod(for: Self.set(replicas: 1))
        #expect(pod[path: ["metadata", "generateName"]] == "web-")
        #expect(pod[path: ["metadata", "labels", "app"]] == "web")
        #expect(OwnerReference.controller(of: pod) == OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: "web", uid: "set-uid"))
    }

    @Test func expectationsLapseAndCountBothWays() {
        var expectations = ControllerExpectations()
        expectations.expectCreations("k", count: 2, now: 0)
        expectations.expectDeletions("k", podKeys: ["ns/a"], now: 0)
        #expect(!expectations.isSatisfied("k", now: 1))
        expectations.creationObserved("k")
        expectations.creationObserved("k")
        #expect(!expectations.isSatisfied("k", now: 1))
        expectations.deletionObserved("k", podKey: "ns/a")
        #expect(expectations.isSatisfied("k", now: 1))
        expectations.expectCreations("k", count: 1, now: 10)
        #expect(!expectations.isSatisfied("k", now: 10 + ControllerExpectations.timeout - 1))
        #expect(expectations.isSatisfied("k", now: 10 + ControllerExpectations.timeout))
    }

    @Test func controllersListsSelectAndExclude() throws {
        #expect(try ControllerManager.select(["*"]) == Set(ControllerManager.known))
        #expect(try ControllerManager.select(["*,-deployment"]) == Set(ControllerManager.known).subtracting(["deployment"]))
        #expect(try ControllerManager.select(["-deployment", "*"]) == Set(ControllerManager.known).subtracting(["deployment"]))
        #expect(throws: (any Error).self) { try ControllerManager.select(["nonsense"]) }
    }
}
