import Controllers
import Resources
import Testing

@Suite struct EndpointsReconcilerTests {
    static let service: JSONValue = [
        "metadata": ["name": "web", "namespace": "default", "uid": "svc-uid"],
        "spec": ["selector": ["app": "web"], "ports": [["name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"],
                                                      ["name": "metrics", "port": 9090, "targetPort": 9090]]],
    ]

    static func pod(_ name: String, ip: String?, ready: Bool = true, terminating: Bool = false, httpPort: Int64? = 8080,
                    labels: [String: String] = ["app": "web"]) -> PodView {
        var ports: [JSONValue] = []
        if let httpPort { ports.append(["name": "http", "containerPort": .int(httpPort)]) }
        var pod: JSONValue = ["metadata": ["name": .string(name), "namespace": "default", "uid": .string(name), "labels": .strings(labels)],
                              "spec": ["nodeName": "n1", "containers": [["name": "c", "ports": .array(ports)]]],
                              "status": ["phase": "Running",
                                         "conditions": [["type": "Ready", "status": ready ? "True" : "False", "lastTransitionTime": "2026-12-01T00:00:00Z"]]]]
        if let ip { pod[path: ["status", "podIP"]] = .string(ip) }
        if terminating { pod[path: ["metadata", "deletionTimestamp"]] = "2026-12-01T00:00:00Z" }
        return PodView(pod)
    }

    @Test func readyPodsAreAddressesAndTheRestNotReady() throws {
        let pods = [Self.pod("a", ip: "10.0.0.1"), Self.pod("b", ip: "10.0.0.2", ready: false), Self.pod("c", ip: nil),
                    Self.pod("d", ip: "10.0.0.4", terminating: true), Self.pod("e", ip: "10.0.0.5", labels: ["app": "other"])]
        let desired = try #require(EndpointsReconciler.desired(for: Self.service, pods: pods))
        let subset = desired.endpoints["subsets"]?.arrayValue?.first
        #expect(subset?["addresses"]?.arrayValue?.map { $0["ip"] } == ["10.0.0.1"])
        #expect(subset?["notReadyAddresses"]?.arrayValue?.map { $0["ip"] } == ["10.0.0.2"])
        #expect(subset?["ports"] == [["name": "http", "port": 8080, "protocol": "TCP"], ["name": "metrics", "port": 9090, "protocol": "TCP"]])
        let slice = try #require(desired.slices.first)
        #expect(desired.slices.count == 1)
        #expect(slice[path: ["metadata", "labels", "kubernetes.io/service-name"]] == "web")
        let conditions = slice["endpoints"]?.arrayValue?.map { $0["conditions"] }
        #expect(conditions == [["ready": true, "serving": true, "terminating": false],
                               ["ready": false, "serving": false, "terminating": false],
                               ["ready": false, "serving": true, "terminating": true]])
        #expect(OwnerReference.controller(of: slice)?.uid == "svc-uid")
    }

    @Test func podsWithDifferentNamedPortsGetSlicesOfTheirOwn() throws {
        let pods = [Self.pod("a", ip: "10.0.0.1", httpPort: 8080), Self.pod("b", ip: "10.0.0.2", httpPort: 8081)]
        let desired = try #require(EndpointsReconciler.desired(for: Self.service, pods: pods))
        #expect(desired.slices.count == 2)
        #expect(desired.endpoints["subsets"]?.arrayValue?.count == 2)
    }

    @Test func slicesHoldAtMostAHundredEndpoints() throws {
        let pods = (0..<250).map { Self.pod("p\($0)", ip: "10.0.\($0 / 200).\($0 % 200)") }
        let desired = try #require(EndpointsReconciler.desired(for: Self.service, pods: pods))
        #expect(desired.slices.map { $0["endpoints"]?.arrayValue?.count ?? 0 } == [100, 100, 50])
    }

    @Test func aServiceWithoutSelectorIsTheUsers() {
        var manual = Self.service
        manual[path: ["spec", "selector"]] = nil
        #expect(EndpointsReconciler.desired(for: manual, pods: [Self.pod("a", ip: "10.0.0.1")]) == nil)
    }

    @Test func noPodsMeansOneEmptySliceAndNoSubsets() throws {
        let desired = try #require(EndpointsReconciler.desired(for: Self.service, pods: []))
        #expect(desired.endpoints["subsets"] == nil)
        #expect(desired.slices.count == 1 && desired.slices[0]["endpoints"] == [])
    }
}
