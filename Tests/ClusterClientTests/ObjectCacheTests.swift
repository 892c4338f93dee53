import Foundation
@testable import ClusterClient
import Resources
import Testing
import TestSupport

@Suite struct ObjectCacheTests {
    static func pod(_ name: String, node: String?, namespace: String = "default", version: String = "1") -> JSONValue {
        var pod: JSONValue = ["metadata": ["name": .string(name), "namespace": .string(namespace), "resourceVersion": .string(version)]]
        if let node { pod[path: ["spec", "nodeName"]] = .string(node) }
        return pod
    }

    static let byNode = ObjectCache.Indexer(name: "node") { object in
        object[path: ["spec", "nodeName"]]?.stringValue.map { [$0] } ?? []
    }

    @Test func anIndexFollowsAnObjectThatMoves() {
        let cache = ObjectCache(indexers: [.namespace, Self.byNode])
        cache.upsert(Self.pod("a", node: nil))
        cache.upsert(Self.pod("b", node: "n1"))
        #expect(cache.objects(index: "node", value: "n1").count == 1)
        cache.upsert(Self.pod("a", node: "n1", version: "2"))
        #expect(Set(cache.objects(index: "node", value: "n1").compactMap { $0[path: ["metadata", "name"]]?.stringValue }) == ["a", "b"])
        cache.upsert(Self.pod("a", node: "n2", version: "3"))
        #expect(cache.objects(index: "node", value: "n1").count == 1)
        #expect(cache.objects(index: "node", value: "n2").count == 1)
        cache.remove(Self.pod("b", node: "n1"))
        #expect(cache.objects(index: "node", value: "n1").isEmpty)
        #expect(cache.objects(index: "namespace", value: "default").count == 1)
        #expect(cache.object(namespace: "default", name: "a")?[path: ["metadata", "resourceVersion"]] == "3")
    }

    @Test func replacingReportsWhatVanished() {
        let cache = ObjectCache(indexers: [Self.byNode])
        cache.upsert(Self.pod("a", node: "n1"))
        cache.upsert(Self.pod("b", node: "n1"))
        let removed = cache.replace(with: [Self.pod("b", node: "n2", version: "5"), Self.pod("c", node: "n2")]).removed
        #expect(removed.map(ObjectCache.key(of:)) == ["default/a"])
        #expect(cache.objects(index: "node", value: "n1").isEmpty)
        #expect(cache.objects(index: "node", value: "n2").count == 2)
        #expect(ObjectCache.key(namespace: nil, name: "node-1") == "node-1")
    }
}

@Suite struct ClusterAccessTests {
    @Test func aKubeconfigGivesServerCAAndToken() throws {
        let directory = TemporaryDirectory()
        let ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        let config = """
        apiVersion: v1
        kind: Config
        clusters:
        - cluster: {server: "https://10.0.0.9:7443", certificate-authority-data: "\(Base64.encode(Array(ca.utf8)))"}
          name: other
        - cluster:
            server: https://127.0.0.1:6443
            certificate-authority: ca.crt
          name: podium
        contexts:
        - context: {cluster: podium, user: admin}
          name: podium
        current-context: podium
        users:
        - name: admin
          user: {tokenFile: token}
        """
        try (config).write(toFile: directory.child("kubeconfig"), atomically: true, encoding: .utf8)
        try (ca).write(toFile: directory.child("ca.crt"), atomically: true, encoding: .utf8)
        try ("s3cret\n").write(toFile: directory.child("token"), atomically: true, encoding: .utf8)
        let access = try ClusterAccess(kubeconfig: directory.path + "/kubeconfig")
        #expect(access.servers == [ClusterAccess.Server(host: "127.0.0.1", port: 6443)])
        #expect(access.caPEM == ca)
        #expect(access.token == "s3cret")
        #expect(ClusterAccess.defaultKubeconfig(environment: ["KUBECONFIG": "/a:/b"]) == "/a")
    }

    @Test func badInputIsNamed() throws {
        #expect(throws: ClusterAccessError.self) { try ClusterAccess.Server(url: "http://127.0.0.1:6443") }
        #expect(throws: ClusterAccessError.self) { try ClusterAccess(kubeconfig: "/nonexistent/kubeconfig") }
        let directory = TemporaryDirectory()
        try ("clusters: []\n").write(toFile: directory.child("kubeconfig"), atomically: true, encoding: .utf8)
        let error = #expect(throws: ClusterAccessError.self) { try ClusterAccess(kubeconfig: directory.path + "/kubeconfig") }
        #expect(error?.description.contains("names no cluster") == true)
    }

    @Test func pathsAreEscaped() throws {
        let type = try #require(ResourceType.find(group: "apps", version: "v1", plural: "deployments"))
        let path = ResourceClient.path(type, namespace: "ns", name: "web", query: [("labelSelector", "app in (a,b)")])
        #expect(path == "/apis/apps/v1/namespaces/ns/deployments/web?labelSelector=app%20in%20%28a%2Cb%29")
        let nodes = try #require(ResourceType.find(group: "", version: "v1", plural: "nodes"))
        #expect(ResourceClient.path(nodes, namespace: "ignored", name: "n1", subresource: "status") == "/api/v1/nodes/n1/status")
    }
}
