@testable import Resources
import Testing

@Suite struct SchemaTests {
    @Test func theGeneratedSchemaParsesAndKnowsTheKinds() throws {
        let schema = APISchema.kubernetes
        for name in ["core.v1.Pod", "core.v1.Namespace", "apps.v1.Deployment", "batch.v1.CronJob",
                     "coordination.v1.Lease", "discovery.v1.EndpointSlice", "autoscaling.v2.HorizontalPodAutoscaler",
                     "networking.v1.Ingress", "policy.v1.PodDisruptionBudget", "storage.v1.StorageClass",
                     "events.v1.Event", "meta.v1.Status", "meta.v1.DeleteOptions"] {
            #expect(schema[type: name] != nil, "\(name)")
        }
        let containers = try #require(schema[type: "core.v1.PodSpec"]?.fields["containers"])
        #expect(containers.number == 2 && containers.mergeKey == "name" && containers.type == .list(.object("core.v1.Container")))
        #expect(schema[type: "meta.v1.ObjectMeta"]?.byNumber[11]?.name == "labels")
        #expect(schema.enumerations["core.v1.RestartPolicy"]?.sorted() == ["Always", "Never", "OnFailure"])
        // Every referenced type is defined.
        func check(_ type: APISchema.FieldType) {
            switch type {
            case .object(let name): #expect(schema[type: name] != nil, "\(name) is referenced but not defined")
            case .list(let element), .map(let element): check(element)
            default: break
            }
        }
        for objectType in schema.types.values { for field in objectType.fields.values { check(field.type) } }
    }

    @Test func decodingDropsUnknownFieldsAndNullsAndNamesThem() throws {
        let body = try JSONParser.parse(#"""
        {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":null,"bogus":1},
         "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
                 "template":{"metadata":{"labels":{"app":"web"}},
                             "spec":{"containers":[{"name":"c","image":"x","imagePullPolcy":"Always",
                                                    "resources":{"requests":{"cpu":"100m","memory":1024}}}]}}}}
        """#)
        var decoder = ObjectDecoder()
        let decoded = try decoder.decode(body, as: "apps.v1.Deployment")
        #expect(decoder.unknownFields.sorted() == ["metadata.bogus", "spec.template.spec.containers[0].imagePullPolcy"])
        #expect(decoded[path: ["metadata", "labels"]] == nil)
        #expect(decoded[path: ["metadata", "bogus"]] == nil)
        #expect(decoded[path: ["spec", "replicas"]] == 3)
        let requests = decoded[path: ["spec", "template", "spec"]]?["containers"]?.arrayValue?.first?[path: ["resources", "requests"]]
        #expect(requests == ["cpu": "100m", "memory": "1024"], "a number quantity becomes its string form")
    }

    @Test(arguments: [
        (#"{"spec":{"replicas":"3"}}"#, "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
        (#"{"spec":{"replicas":3000000000}}"#, "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32"),
        (#"{"metadata":{"labels":{"a":1}}}"#, "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels[a] of type string"),
        (#"{"spec":{"template":{"spec":{"containers":{}}}}}"#, "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"),
        (#"{"metadata":"x"}"#, "json: cannot unmarshal string into Go struct field Deployment.metadata of type v1.ObjectMeta"),
    ])
    func mistypedValuesAreRefusedInGosWords(body: String, message: String) throws {
        var decoder = ObjectDecoder()
        let value = try JSONParser.parse(body)
        do {
            _ = try decoder.decode(value, as: "apps.v1.Deployment")
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.message == message)
        }
    }
}
