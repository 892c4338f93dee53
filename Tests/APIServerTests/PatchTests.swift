import Resources
import Testing

@Suite struct PatchTests {
    static let deployment: JSONValue = [
        "metadata": ["name": "app", "labels": ["app": "app"]],
        "spec": ["replicas": 2, "template": ["spec": ["containers": [
            ["name": "a", "image": "nginx:1", "env": [["name": "X", "value": "1"]]],
            ["name": "b", "image": "redis:1"],
        ]]]],
    ]

    @Test func strategicMergeMergesContainersByNameAndDropsDirectives() throws {
        let patch: JSONValue = ["spec": ["template": ["spec": [
            "$setElementOrder/containers": [["name": "b"], ["name": "a"]],
            "containers": [["name": "a", "image": "nginx:2", "env": [["name": "Y", "value": "2"]]]],
        ]]]]
        let result = try Patch.strategic(Self.deployment, patch, type: "apps.v1.Deployment")
        let containers = try #require(result[path: ["spec", "template", "spec", "containers"]]?.arrayValue)
        #expect(containers.map { $0["name"] } == ["b", "a"], "reordered as $setElementOrder says")
        #expect(containers[1]["image"] == "nginx:2" && containers[0]["image"] == "redis:1")
        #expect(containers[1]["env"] == [["name": "X", "value": "1"], ["name": "Y", "value": "2"]], "env merged by name")
        #expect(result[path: ["spec", "template", "spec", "$setElementOrder/containers"]] == nil)
        #expect(result[path: ["spec", "replicas"]] == 2)
    }

    @Test func strategicDirectivesDeleteReplaceAndNullRemove() throws {
        let delete: JSONValue = ["spec": ["template": ["spec": ["containers": [["name": "b", "$patch": "delete"]]]]]]
        let afterDelete = try Patch.strategic(Self.deployment, delete, type: "apps.v1.Deployment")
        #expect(afterDelete[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.map { $0["name"] } == ["a"])

        let replace: JSONValue = ["spec": ["template": ["spec": ["containers": [["name": "c", "image": "x"], ["$patch": "replace"]]]]]]
        let afterReplace = try Patch.strategic(Self.deployment, replace, type: "apps.v1.Deployment")
        #expect(afterReplace[path: ["spec", "template", "spec", "containers"]] == [["name": "c", "image": "x"]])

        let remove: JSONValue = ["metadata": ["labels": ["app": nil]]]
        #expect(try Patch.strategic(Self.deployment, remove, type: "apps.v1.Deployment")[path: ["metadata", "labels"]] == [:])
        #expect(throws: Patch.Failure.self) {
            try Patch.strategic(Self.deployment, ["spec": ["template": ["spec": ["containers": [["image": "no-name"]]]]]], type: "apps.v1.Deployment")
        }
    }

    @Test func jsonMergePatchFollowsRFC7386() {
        let target: JSONValue = ["a": "b", "c": ["d": "e", "f": "g"]]
        let patch: JSONValue = ["a": "z", "c": ["f": nil]]
        #expect(Patch.merge(target, patch) == ["a": "z", "c": ["d": "e"]])
        #expect(Patch.merge(["list": [1, 2]], ["list": [3]]) == ["list": [3]], "lists are replaced whole")
    }

    @Test func jsonPatchFollowsRFC6902AndIsBounded() throws {
        let target: JSONValue = ["spec": ["replicas": 1, "items": ["a", "b"]]]
        let patch: JSONValue = [
            ["op": "replace", "path": "/spec/replicas", "value": 3],
            ["op": "add", "path": "/spec/items/1", "value": "x"],
            ["op": "add", "path": "/spec/items/-", "value": "z"],
            ["op": "remove", "path": "/spec/items/0"],
            ["op": "copy", "from": "/spec/replicas", "path": "/spec/copy"],
            ["op": "move", "from": "/spec/copy", "path": "/spec/moved"],
            ["op": "test", "path": "/spec/moved", "value": 3],
        ]
        let result = try Patch.json(target, patch)
        #expect(result == ["spec": ["replicas": 3, "items": ["x", "b", "z"], "moved": 3]])
        #expect(throws: Patch.Failure.self) { try Patch.json(target, [["op": "test", "path": "/spec/replicas", "value": 9]]) }
        #expect(throws: Patch.Failure.self) { try Patch.json(target, [["op": "replace", "path": "/nope", "value": 1]]) }
        // A doubling copy cannot grow a document without bound.
        var doubling: [JSONValue] = [["op": "add", "path": "/blob", "value": .string(String(repeating: "x", count: 1024))]]
        for step in 0..<40 { doubling.append(["op": "copy", "from": "", "path": .string("/c\(step)")]) }
        #expect(throws: Patch.Failure.self) { try Patch.json(["a": 1], .array(doubling)) }
    }
}
