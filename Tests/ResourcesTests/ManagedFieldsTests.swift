import Resources
import Testing

@Suite struct ManagedFieldsTests {
    static let deployment: JSONValue = [
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": ["name": "web", "namespace": "default", "uid": "u", "labels": ["app": "web"]],
        "spec": ["replicas": 2, "selector": ["matchLabels": ["app": "web"]],
                 "template": ["metadata": ["labels": ["app": "web"]],
                              "spec": ["containers": [["name": "c", "image": "nginx:1",
                                                        "ports": [["containerPort": 80]]]]]]],
    ]

    func fields(_ entries: ManagedFields, _ manager: String) -> String {
        JSONWriter.string(entries.entries.first { $0.manager == manager }?.fields.fieldsV1 ?? .null)
    }

    @Test func aCreateOwnsWhatItSetWithDotsOnNewMapsButNotOnTheZeroStructs() {
        var managed = ManagedFields()
        managed.update(old: nil, new: Self.deployment, manager: "kubectl-create", apiVersion: "apps/v1", subresource: "",
                       schemaType: "apps.v1.Deployment", hasStatus: true, time: "2026-12-02T00:00:00Z")
        let text = fields(managed, "kubectl-create")
        #expect(text.contains(#""f:metadata":{"f:labels":{".":{},"f:app":{}}}"#), "\(text)")
        #expect(text.contains(#""f:spec":{"f:replicas":{}"#), "\(text)")
        #expect(text.contains(#""k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}"#), "\(text)")
        #expect(!text.contains("f:uid") && !text.contains("f:name\":{},\"f:namespace"), "\(text)")
    }

    @Test func fieldsV1RoundTrips() throws {
        let set = FieldSet.applied(Self.deployment, schemaType: "apps.v1.Deployment")
        #expect(FieldSet(fieldsV1: set.fieldsV1) == set)
        #expect(FieldSet(fieldsV1: ["f:a": "x"]) == nil)
    }

    @Test func anApplyConflictsWithAnotherManagersFieldUnlessForcedOrTheSameValue() throws {
        var managed = ManagedFields()
        managed.update(old: nil, new: Self.deployment, manager: "kubectl-create", apiVersion: "apps/v1", subresource: "",
                       schemaType: "apps.v1.Deployment", hasStatus: true, time: "t1")
        var live = Self.deployment
        managed.write(into: &live)
        let config: JSONValue = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"],
                                 "spec": ["replicas": 5]]
        var merged = live
        merged[path: ["spec", "replicas"]] = 5
        var attempt = ManagedFields(of: live) ?? ManagedFields()
        #expect(throws: ManagedFields.Conflict.self) {
            _ = try attempt.apply(live: live, merged: merged, config: config, manager: "ops", apiVersion: "apps/v1", subresource: "",
                                  schemaType: "apps.v1.Deployment", hasStatus: true, force: false, time: "t2")
        }
        do {
            _ = try attempt.apply(live: live, merged: merged, config: config, manager: "ops", apiVersion: "apps/v1", subresource: "",
                                  schemaType: "apps.v1.Deployment", hasStatus: true, force: false, time: "t2")
        } catch {
            #expect(error.message == #"Apply failed with 1 conflict: conflict with "kubectl-create" using apps/v1: .spec.replicas"#)
        }
        // The same value is shared, not a conflict.
        var same = ManagedFields(of: live) ?? ManagedFields()
        var sameConfig = config
        sameConfig[path: ["spec", "replicas"]] = 2
        _ = try same.apply(live: live, merged: live, config: sameConfig, manager: "ops", apiVersion: "apps/v1", subresource: "",
                           schemaType: "apps.v1.Deployment", hasStatus: true, force: false, time: "t2")
        #expect(fields(same, "ops").contains("f:replicas") && fields(same, "kubectl-create").contains("f:replicas"))
        // Forced: the field changes hands.
        var forced = ManagedFields(of: live) ?? ManagedFields()
        _ = try forced.apply(live: live, merged: merged, config: config, manager: "ops", apiVersion: "apps/v1", subresource: "",
                             schemaType: "apps.v1.Deployment", hasStatus: true, force: true, time: "t2")
        #expect(fields(forced, "ops").contains("f:replicas") && !fields(forced, "kubectl-create").contains("f:replicas"))
    }

    @Test func anApplyPrunesWhatItStopsSettingUnlessSomeoneElseOwnsIt() throws {
        let schema = "core.v1.ConfigMap"
        var managed = ManagedFields()
        let first: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["a": "1", "b": "2"]]
        let live = try managed.apply(live: nil, merged: first, config: first, manager: "me", apiVersion: "v1", subresource: "",
                                     schemaType: schema, hasStatus: false, force: false, time: "t1")
        let second: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["a": "1"]]
        var next = managed
        let pruned = try next.apply(live: live, merged: live, config: second, manager: "me", apiVersion: "v1", subresource: "",
                                    schemaType: schema, hasStatus: false, force: false, time: "t2")
        #expect(pruned["data"] == ["a": "1"])
        // Had another manager also set b, it stays.
        var shared = managed
        shared.entries.append(.init(manager: "other", operation: "Update", apiVersion: "v1", time: "t1", subresource: "",
                                    fields: FieldSet.applied(["data": ["b": "2"]], schemaType: schema)))
        let kept = try shared.apply(live: live, merged: live, config: second, manager: "me", apiVersion: "v1", subresource: "",
                                    schemaType: schema, hasStatus: false, force: false, time: "t2")
        #expect(kept["data"] == ["a": "1", "b": "2"])
    }

    @Test func anUpdateTakesTheFieldsItChangesFromOthers() {
        let schema = "core.v1.ConfigMap"
        let base: JSONValue = ["metadata": ["name": "c"], "data": ["a": "1", "b": "2"]]
        var managed = ManagedFields()
        managed.update(old: nil, new: base, manager: "first", apiVersion: "v1", subresource: "", schemaType: schema,
                       hasStatus: false, time: "t1")
        var changed = base
        changed[path: ["data", "a"]] = "9"
        changed[path: ["data", "b"]] = nil
        managed.update(old: base, new: changed, manager: "second", apiVersion: "v1", subresource: "", schemaType: schema,
                       hasStatus: false, time: "t2")
        #expect(fields(managed, "second") == #"{"f:data":{"f:a":{}}}"#)
        #expect(fields(managed, "first") == #"{"f:data":{}}"#)
        // A no-op update changes nothing, not even the time.
        let before = managed
        managed.update(old: changed, new: changed, manager: "second", apiVersion: "v1", subresource: "", schemaType: schema,
                       hasStatus: false, time: "t3")
        #expect(managed == before)
    }

    @Test func applyMergesKeyedListsOnAllTheirKeys() {
        let service: JSONValue = ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "dns"],
                                  "spec": ["ports": [["name": "dns", "port": 53, "protocol": "UDP"],
                                                     ["name": "dns-tcp", "port": 53, "protocol": "TCP"]]]]
        #expect(FieldSet.merged(service, service, schemaType: "core.v1.Service") == service)
        let change: JSONValue = ["spec": ["ports": [["port": 53, "protocol": "TCP", "name": "tcp"]]]]
        let merged = FieldSet.merged(service, change, schemaType: "core.v1.Service")
        #expect(merged[path: ["spec", "ports"]] == [["name": "dns", "port": 53, "protocol": "UDP"],
                                                     ["name": "tcp", "port": 53, "protocol": "TCP"]])
        // Atomic values are replaced whole; a null removes.
        let pod: JSONValue = ["spec": ["containers": [["name": "c", "args": ["a", "b"], "image": "x"]]]]
        let applied = FieldSet.merged(pod, ["spec": ["containers": [["name": "c", "args": ["z"], "image": .null]]]],
                                      schemaType: "core.v1.Pod")
        #expect(applied[path: ["spec", "containers"]] == [["name": "c", "args": ["z"]]])
    }

    @Test func kubectlsMigrationForcesOnlyFieldsThatStillHoldTheLastAppliedValue() throws {
        let schema = "apps.v1.Deployment"
        var live = Self.deployment
        var lastApplied = Self.deployment
        lastApplied["metadata"] = ["name": "web"]
        live[path: ["metadata", "annotations"]] = ["kubectl.kubernetes.io/last-applied-configuration": .string(JSONWriter.string(lastApplied))]
        var managed = ManagedFields()
        managed.update(old: nil, new: live, manager: "kubectl-client-side-apply", apiVersion: "apps/v1", subresource: "",
                       schemaType: schema, hasStatus: true, time: "t1")
        // The image still holds the last-applied value: kubectl's server-side apply takes it without a conflict.
        var config = lastApplied
        config[path: ["spec", "template", "spec", "containers"]] = [["name": "c", "image": "nginx:2"]]
        var first = managed
        var written = live
        first.write(into: &written)
        _ = try first.apply(live: written, merged: FieldSet.merged(written, config, schemaType: schema), config: config,
                            manager: "kubectl", apiVersion: "apps/v1", subresource: "", schemaType: schema, hasStatus: true,
                            force: false, time: "t2")
        // Replicas changed since (a scale): applying another value conflicts.
        var scaled = written
        scaled[path: ["spec", "replicas"]] = 9
        var second = managed
        second.update(old: written, new: scaled, manager: "kubectl", apiVersion: "apps/v1", subresource: "scale",
                      schemaType: schema, hasStatus: true, time: "t2")
        second.write(into: &scaled)
        var replicas = lastApplied
        replicas[path: ["spec", "replicas"]] = 3
        #expect(throws: ManagedFields.Conflict.self) {
            _ = try second.apply(live: scaled, merged: FieldSet.merged(scaled, replicas, schemaType: schema), config: replicas,
                                 manager: "kubectl", apiVersion: "apps/v1", subresource: "", schemaType: schema, hasStatus: true,
                                 force: false, time: "t3")
        }
    }
}
