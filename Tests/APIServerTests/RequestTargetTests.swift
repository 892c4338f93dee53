@testable import APIServer
import Resources
import Testing

@Suite struct RequestTargetTests {
    @Test func pathsNameWhatKubeAPIServerServes() throws {
        #expect(RequestTarget.parse("/version") == .version)
        #expect(RequestTarget.parse("/api") == .coreDiscovery)
        #expect(RequestTarget.parse("/apis") == .groupsDiscovery)
        #expect(RequestTarget.parse("/api/v1") == .resourceList(group: "", version: "v1"))
        #expect(RequestTarget.parse("/openapi/v3/apis/apps/v1") == .openAPIDocument(group: "apps", version: "v1"))
        guard case .resource(let pods)? = RequestTarget.parse("/api/v1/namespaces/default/pods/web/status") else {
            Issue.record("not a resource")
            return
        }
        #expect(pods.type.plural == "pods" && pods.namespace == "default" && pods.name == "web" && pods.subresource == "status")
        guard case .resource(let namespace)? = RequestTarget.parse("/api/v1/namespaces/team-a/status") else {
            Issue.record("not a resource")
            return
        }
        #expect(namespace.type.kind == "Namespace" && namespace.name == "team-a" && namespace.subresource == "status")
        guard case .resource(let all)? = RequestTarget.parse("/apis/apps/v1/deployments") else {
            Issue.record("not a resource")
            return
        }
        #expect(all.type.kind == "Deployment" && all.namespace == nil && all.name == nil)
        #expect(RequestTarget.parse("/api/v1/bogus") == nil)
        #expect(RequestTarget.parse("/apis/apps/v1/namespaces/a/deployments/b/scale/extra") == nil)
        #expect(RequestTarget.parse("/") == nil)
    }

    @Test func agesPrintAsKubectlShowsThem() {
        #expect(Table.age(45) == "45s")
        #expect(Table.age(150) == "2m30s")
        #expect(Table.age(600) == "10m")
        #expect(Table.age(3 * 3600 + 600) == "3h10m")
        #expect(Table.age(30 * 3600) == "30h")
        #expect(Table.age(3 * 86_400 + 7200) == "3d2h")
        #expect(Table.age(40 * 86_400) == "40d")
        #expect(Table.age(3 * 365 * 86_400 + 86_400 * 5) == "3y5d")
        #expect(Table.age(-0.5) == "0s")
    }

    @Test func discoveryAsksAreRecognised() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        #expect(Discovery.aggregatedType(kubectl) == Discovery.aggregatedV2)
        #expect(Discovery.aggregatedType("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json") == Discovery.aggregatedV2Beta1)
        #expect(Discovery.aggregatedType("application/json") == nil)
        #expect(Table.wanted("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"))
        #expect(!Table.wanted("application/json"))
    }
}
