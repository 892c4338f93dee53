@testable import APIServer
import Resources
import Testing

@Suite struct ObjectLifecycleTests {
    static let lifecycle = ObjectLifecycle(now: 1_764_620_000, uid: { "uid-1" }, randomSuffix: { "abcde" })
    static var deployments: ResourceType { ResourceType.find(group: "apps", version: "v1", plural: "deployments")! }
    static var pods: ResourceType { ResourceType.find(group: "", version: "v1", plural: "pods")! }

    @Test func createSetsServerOwnedMetadata() throws {
        var object: JSONValue = ["metadata": ["generateName": "web-"], "spec": ["replicas": 1], "status": ["replicas": 9]]
        try Self.lifecycle.prepareForCreate(&object, type: Self.deployments, namespace: "default")
        #expect(object[path: ["metadata", "name"]] == "web-abcde")
        #expect(object[path: ["metadata", "uid"]] == "uid-1")
        #expect(object[path: ["metadata", "namespace"]] == "default")
        #expect(object[path: ["metadata", "generation"]] == 1)
        #expect(object[path: ["metadata", "creationTimestamp"]] == .string(RFC3339.format(1_764_620_000)))
        #expect(object["status"] == nil, "status is the status subresource's to write")
        var withVersion: JSONValue = ["metadata": ["name": "x", "resourceVersion": "5"]]
        #expect(throws: Status.self) { try Self.lifecycle.prepareForCreate(&withVersion, type: Self.deployments, namespace: "default") }
        var wrongNamespace: JSONValue = ["metadata": ["name": "x", "namespace": "other"]]
        #expect(throws: Status.self) { try Self.lifecycle.prepareForCreate(&wrongNamespace, type: Self.deployments, namespace: "default") }
    }

    @Test func generationCountsSpecChangesOnlyAndStatusIsKept() throws {
        var old: JSONValue = ["metadata": ["name": "web"], "spec": ["replicas": 1], "status": ["replicas": 1]]
        try Self.lifecycle.prepareForCreate(&old, type: Self.deployments, namespace: "default")
        old["status"] = ["replicas": 1]
        var labelled = old
        labelled[path: ["metadata", "labels"]] = ["a": "b"]
        labelled["status"] = ["replicas": 7]
        Self.lifecycle.prepareForUpdate(&labelled, old: old, type: Self.deployments, subresource: nil)
        #expect(labelled[path: ["metadata", "generation"]] == 1, "a label is no spec change")
        #expect(labelled["status"] == ["replicas": 1], "the main resource cannot write status")
        var scaled = old
        scaled[path: ["spec", "replicas"]] = 3
        Self.lifecycle.prepareForUpdate(&scaled, old: old, type: Self.deployments, subresource: nil)
        #expect(scaled[path: ["metadata", "generation"]] == 2)
        var status = old
        status["status"] = ["replicas": 3]
        status[path: ["spec", "replicas"]] = 100
        Self.lifecycle.prepareForUpdate(&status, old: old, type: Self.deployments, subresource: "status")
        #expect(status["status"] == ["replicas": 3] && status[path: ["spec", "replicas"]] == 1, "status writes status only")
    }

    @Test func podsGetTheirQualityOfServiceClass() {
        let guaranteed: JSONValue = ["containers": [["name": "c", "resources": ["limits": ["cpu": "1", "memory": "1Gi"]]]]]
        let burstable: JSONValue = ["containers": [["name": "c", "resources": ["requests": ["cpu": "100m"]]]]]
        let bestEffort: JSONValue = ["containers": [["name": "c"]]]
        #expect(ObjectLifecycle.qosClass(guaranteed) == "Guaranteed")
        #expect(ObjectLifecycle.qosClass(burstable) == "Burstable")
        #expect(ObjectLifecycle.qosClass(bestEffort) == "BestEffort")
    }

    @Test func defaultsAreKubernetesOwn() {
        var deployment: JSONValue = ["spec": ["template": ["spec": ["containers": [["name": "c", "image": "nginx"], ["name": "d", "image": "nginx:1.25", "ports": [["containerPort": 80]]]]]]]]
        Defaults.apply(&deployment, type: Self.deployments)
        #expect(deployment[path: ["spec", "replicas"]] == 1)
        #expect(deployment[path: ["spec", "strategy", "rollingUpdate", "maxSurge"]] == "25%")
        let containers = deployment[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        #expect(containers.map { $0["imagePullPolicy"] } == ["Always", "IfNotPresent"], "untagged images are :latest")
        #expect(containers[1]["ports"] == [["containerPort": 80, "protocol": "TCP"]])
        #expect(deployment[path: ["spec", "template", "spec", "restartPolicy"]] == "Always")
        var secret: JSONValue = ["stringData": ["password": "s3cret"]]
        Defaults.apply(&secret, type: ResourceType.find(group: "", version: "v1", plural: "secrets")!)
        #expect(secret["data"] == ["password": "czNjcmV0"] && secret["stringData"] == nil && secret["type"] == "Opaque")
    }

    @Test func validationNamesEveryProblemWithItsField() {
        let object: JSONValue = ["metadata": ["name": "Bad_Name", "namespace": "default", "labels": ["app": "-x"]],
                                 "spec": ["selector": ["matchLabels": ["app": "web"]],
                                          "template": ["metadata": ["labels": ["app": "other"]],
                                                       "spec": ["containers": [["name": "c"], ["name": "c", "image": "x", "ports": [["containerPort": 70000]]]]]]]]
        let fields = Set(ObjectValidator.validate(object, type: Self.deployments).map(\.field))
        for field in ["metadata.name", "metadata.labels[app]", "spec.template.metadata.labels",
                      "spec.template.spec.containers[0].image", "spec.template.spec.containers[1].name",
                      "spec.template.spec.containers[1].ports[0].containerPort"] {
            #expect(fields.contains(field), "\(field) in \(fields)")
        }
    }
}
