import Resources
import Testing

@Suite struct LabelSelectorTests {
    @Test func equalityAndSetBasedRequirementsSelect() throws {
        let selector = try LabelSelector(parsing: "app=web, tier!=db,env in (prod, staging),!canary,track")
        #expect(selector.matches(["app": "web", "tier": "front", "env": "prod", "track": "stable"]))
        #expect(!selector.matches(["app": "web", "tier": "db", "env": "prod", "track": "x"]))
        #expect(!selector.matches(["app": "web", "env": "dev", "track": "x"]))
        #expect(!selector.matches(["app": "web", "env": "prod", "track": "x", "canary": "1"]))
        #expect(!selector.matches(["app": "web", "env": "prod"]), "track must exist")
        #expect(try LabelSelector(parsing: "a==b").matches(["a": "b"]))
        #expect(try LabelSelector(parsing: "env notin (a)").matches([:]))
        #expect(try LabelSelector(parsing: "").isEverything)
    }

    @Test(arguments: ["app=", "a=b,", "app in a", "app=(x)", "x y", "Bad Key=1", "a=b c", "a=" + String(repeating: "x", count: 64)])
    func malformedSelectorsAreRefused(text: String) {
        if text == "app=" {
            // An empty value is a valid label value.
            #expect((try? LabelSelector(parsing: text))?.matches(["app": ""]) == true)
            return
        }
        #expect(throws: LabelSelector.ParseError.self) { try LabelSelector(parsing: text) }
    }

    @Test func anObjectSelectorMatchesItsLabelsAndExpressions() throws {
        let object: JSONValue = ["matchLabels": ["app": "web"],
                                 "matchExpressions": [["key": "tier", "operator": "In", "values": ["a", "b"]],
                                                      ["key": "old", "operator": "DoesNotExist"]]]
        let selector = try LabelSelector(object: object)
        #expect(selector.matches(["app": "web", "tier": "a"]))
        #expect(!selector.matches(["app": "web", "tier": "c"]))
        #expect(!selector.matches(["app": "web", "tier": "a", "old": "1"]))
        #expect(throws: LabelSelector.ParseError.self) {
            try LabelSelector(object: ["matchExpressions": [["key": "a", "operator": "Near"]]])
        }
        #expect(try LabelSelector(object: nil).isEverything)
    }

    @Test func namesAndLabelsAreCheckedAsKubernetesChecksThem() {
        #expect(Validation.dns1123SubdomainProblems("web.example-1").isEmpty)
        #expect(!Validation.dns1123SubdomainProblems("Bad_Name").isEmpty)
        #expect(Validation.dns1123SubdomainProblems(String(repeating: "a", count: 254)).first == "must be no more than 253 characters")
        #expect(Validation.dns1123LabelProblems("a.b").count == 1)
        #expect(Validation.qualifiedNameProblems("example.com/My_Name").isEmpty)
        #expect(!Validation.qualifiedNameProblems("/x").isEmpty)
        #expect(!Validation.qualifiedNameProblems("a/b/c").isEmpty)
        #expect(Validation.labelValueProblems("").isEmpty)
        #expect(Validation.labelValueProblems(String(repeating: "v", count: 64)) == ["must be no more than 63 characters"])
        let errors = Validation.labels(["ok": "-bad"], at: "metadata.labels")
        #expect(errors.map(\.field) == ["metadata.labels[ok]"])
        #expect(errors.first?.message.hasPrefix("Invalid value: \"-bad\": a valid label must be") == true)
        #expect(Validation.annotations(["a": String(repeating: "x", count: 300_000)], at: "metadata.annotations").first?.kind == .tooLong)
        #expect(Validation.port(0, at: "spec.ports[0].port").first?.message == "Invalid value: 0: must be between 1 and 65535, inclusive")
    }
}
