import ClusterClient
import Foundation
import Resources
import Testing
import TestSupport

extension ProcessClusterTests {
    /// Two `podium apiserver` processes sharing a store compact its history between them, as kube-apiserver's
    /// do: the old revisions go, the newest interval of history stays, and a list continued from before the
    /// compaction is told 410 Expired, as Kubernetes tells it.
    @Suite struct StoreCompactionTests {
        @Test func apiServersCompactTheStoreAndAnOldContinueIsExpired() async throws {
            let cluster = try LocalCluster(size: 1)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            let endpoints = cluster.members.map(\.endpoint)
            let firstDirectory = TemporaryDirectory()
            let first = try APIServerProcess(etcdServers: endpoints, in: firstDirectory, extraArguments: ["--etcd-compaction-interval", "1s"])
            try first.waitUntilReady()
            let second = try APIServerProcess(etcdServers: endpoints, in: TemporaryDirectory(), caDirectory: firstDirectory.child("pki"),
                                              extraArguments: ["--etcd-compaction-interval", "1s"])
            try second.waitUntilReady()
            let caPEM = try String(contentsOfFile: first.caDirectory + "/ca.crt", encoding: .utf8)
            let api = try APIClient(access: ClusterAccess(servers: [.init(host: "127.0.0.1", port: first.port)], token: first.token, caPEM: caPEM))
            defer { api.shutdown() }
            let configMaps = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "configmaps")))
            for index in 0..<5 {
                _ = try await configMaps.create(["apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": ["name": .string("c\(index)"), "namespace": "default"]])
            }
            let page = try await configMaps.list(namespace: "default", limit: 2)
            #expect(!page.continueToken.isEmpty)
            let listedAt = try #require(Int64(page.resourceVersion))

            // The store's history up to that list goes within a few intervals (one tick records a revision, a later
            // one compacts to it); the objects themselves stay.
            let compacted = try await eventually(within: 60, every: .milliseconds(200)) { () -> Bool? in
                _ = try? await configMaps.patch(namespace: "default", name: "c0", ["data": ["tick": .string(UUID().uuidString)]])
                let old = try? cluster.etcdctl(["get", "/registry/configmaps/default/c1", "--rev", String(listedAt)])
                return old.map { $0.status != 0 && $0.error.contains("compacted") } == true ? true : nil
            }
            #expect(compacted == true)
            let gone = await #expect(throws: APIError.self) {
                _ = try await configMaps.list(namespace: "default", limit: 2, continueToken: page.continueToken)
            }
            #expect(gone?.isGone == true, "\(String(describing: gone))")
            let all = try await configMaps.listAll(namespace: "default")
            #expect(all.items.count == 5)

            // The servers race on kube-apiserver's key: its version counts the rounds, one put each, and the first
            // round never compacts (its winner has no earlier revision yet), so a compaction means two rounds or more.
            let key = try cluster.etcdctl(["get", "compact_rev_key", "-w", "json"])
            #expect(key.status == 0, "\(key.error)")
            let document = try JSONSerialization.jsonObject(with: Data(key.output.utf8)) as? [String: Any]
            let version = ((document?["kvs"] as? [[String: Any]])?.first?["version"] as? NSNumber)?.int64Value ?? 0
            #expect(version >= 2, "\(key.output)")
        }
    }
}
