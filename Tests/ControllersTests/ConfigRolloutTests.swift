import Controllers
import Resources
import Testing

@Suite struct ConfigRolloutTests {
    static func deployment(optIn: Bool, hash: String? = nil) -> JSONValue {
        var object = RolloutWorld.deployment(replicas: 2)
        object[path: ["metadata", "uid"]] = "uid"
        object[path: ["metadata", "namespace"]] = "default"
        if optIn { object[path: ["metadata", "annotations"]] = [ConfigReferences.optInAnnotation: "true"] }
        if let hash { object[path: ["spec", "template", "metadata", "annotations"]] = [ConfigReferences.hashAnnotation: .string(hash)] }
        object[path: ["spec", "template", "spec", "containers"]] = [[
            "name": "web", "image": "app:1",
            "env": [["name": "A", "valueFrom": ["configMapKeyRef": ["name": "settings", "key": "a"]]]],
            "envFrom": [["secretRef": ["name": "token"]]],
        ]]
        object[path: ["spec", "template", "spec", "volumes"]] = [["name": "v", "configMap": ["name": "files"]]]
        return object
    }

    @Test func theTemplateNamesItsConfigMapsAndSecrets() {
        let names = ConfigReferences.names(in: Self.deployment(optIn: true)[path: ["spec", "template"]] ?? [:])
        #expect(names.configMaps == ["settings", "files"] && names.secrets == ["token"])
    }

    @Test func aChangedHashRollsOutOnlyWhenAskedFor() {
        let reconciler = DeploymentReconciler()
        let first = reconciler.reconcile(Self.deployment(optIn: true), replicaSets: [], configHash: "h1", now: 0)
        guard case .updateDeployment(let recorded)? = first.first else { Issue.record("no rewrite: \(first)"); return }
        #expect(recorded[path: ["spec", "template", "metadata", "annotations", ConfigReferences.hashAnnotation]] == "h1")
        #expect(first.count == 1)
        let changed = reconciler.reconcile(Self.deployment(optIn: true, hash: "h1"), replicaSets: [], configHash: "h2", now: 0)
        #expect(changed.contains(.event(type: "Normal", reason: "ConfigChanged", message: "Rolling out: a ConfigMap or Secret the pods use changed")))
        let same = reconciler.reconcile(Self.deployment(optIn: true, hash: "h2"), replicaSets: [], configHash: "h2", now: 0)
        // Nothing to record: the rollout of what is there goes on (a new ReplicaSet here).
        #expect(same.contains { if case .createReplicaSet = $0 { true } else { false } })
        #expect(!same.contains { if case .event(_, "ConfigChanged", _) = $0 { true } else { false } })
        let notAsked = reconciler.reconcile(Self.deployment(optIn: false), replicaSets: [], configHash: "h2", now: 0)
        #expect(notAsked.contains { if case .createReplicaSet = $0 { true } else { false } })
    }

    @Test func theHashFollowsTheData() {
        let names = ConfigReferences.Names(configMaps: ["settings"], secrets: [])
        let one = ConfigReferences.hash(names, configMap: { _ in ["data": ["a": "1"]] }, secret: { _ in nil })
        let two = ConfigReferences.hash(names, configMap: { _ in ["data": ["a": "2"]] }, secret: { _ in nil })
        let missing = ConfigReferences.hash(names, configMap: { _ in nil }, secret: { _ in nil })
        #expect(one != two && one != missing)
        #expect(one == ConfigReferences.hash(names, configMap: { _ in ["data": ["a": "1"]] }, secret: { _ in nil }))
    }
}
