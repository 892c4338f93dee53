import ClusterClient
import Foundation
import Resources
import Synchronization
import Testing
import TestSupport

extension ProcessClusterTests {
    /// `ClusterClient` against real `podium apiserver` processes: typed requests with Kubernetes' errors, an
    /// informer that follows every change, fails over to another server and relists when its version is too old.
    @Suite struct InformerTests {
        static func configMap(_ name: String, _ value: String = "1") -> JSONValue {
            ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name), "namespace": "default"],
             "data": ["v": .string(value)]]
        }

        @Test func anInformerFollowsChangesAcrossAServerDyingAndRelistsWhenTooOld() async throws {
            let cluster = try LocalCluster(size: 1)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            let firstDirectory = TemporaryDirectory()
            var first: APIServerProcess? = try APIServerProcess(etcdServers: cluster.members.map(\.endpoint), in: firstDirectory)
            try first!.waitUntilReady()
            let caPEM = try String(contentsOfFile: first!.caDirectory + "/ca.crt", encoding: .utf8)
            let secondPort = try LocalCluster.freePort()
            let access = ClusterAccess(servers: [.init(host: "127.0.0.1", port: first!.port), .init(host: "127.0.0.1", port: secondPort)],
                                       token: first!.token, caPEM: caPEM)
            let api = try APIClient(access: access)
            defer { api.shutdown() }
            let configMaps = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "configmaps")))

            // Kubernetes' errors, as values.
            let missing = await #expect(throws: APIError.self) { try await configMaps.get(namespace: "default", name: "nope") }
            #expect(missing?.isNotFound == true && missing?.reason == "NotFound")
            let created = try await configMaps.create(Self.configMap("c0"))
            let duplicate = await #expect(throws: APIError.self) { try await configMaps.create(Self.configMap("c0")) }
            #expect(duplicate?.isAlreadyExists == true)
            var stale = created
            stale["data"] = ["v": "2"]
            _ = try await configMaps.update(stale)
            let conflict = await #expect(throws: APIError.self) { try await configMaps.update(stale) }
            #expect(conflict?.isConflict == true, "\(String(describing: conflict))")

            let informer = Informer(configMaps, namespace: "default")
            let deleted = Mutex<Set<String>>([])
            informer.addHandler { event in
                if case .deleted(let object) = event, let name = object[path: ["metadata", "name"]]?.stringValue {
                    deleted.withLock { _ = $0.insert(name) }
                }
            }
            let running = Task { await informer.run() }
            defer { running.cancel() }
            await informer.waitUntilSynced()
            #expect(informer.cache.object(namespace: "default", name: "c0") != nil)

            for index in 1...20 { _ = try await configMaps.create(Self.configMap("c\(index)")) }
            _ = try await configMaps.patch(namespace: "default", name: "c3", ["data": ["v": "patched"]])
            try await configMaps.delete(namespace: "default", name: "c4")
            let followed = try await eventually {
                informer.cache.count == 20 && informer.cache.object(namespace: "default", name: "c3")?[path: ["data", "v"]] == "patched"
                    && deleted.withLock { $0.contains("c4") } ? true : nil
            }
            #expect(followed == true, "cache holds \(informer.cache.keys.sorted())")

            // The first server dies; the store moves on while no server runs (so the second one's watch cache starts
            // after the informer's version: 410, relist); the informer finds the second and catches up, deletes too.
            let lastSeen = informer.lastResourceVersion
            first = nil
            let put = try cluster.etcdctl(["put", "/unrelated", "x"])
            #expect(put.status == 0, "\(put.error)")
            let second = try APIServerProcess(etcdServers: cluster.members.map(\.endpoint), in: TemporaryDirectory(),
                                              port: secondPort, caDirectory: firstDirectory.child("pki"))
            try second.waitUntilReady()
            _ = try await configMaps.create(Self.configMap("after"))
            try await configMaps.delete(namespace: "default", name: "c5")
            let caughtUp = try await eventually {
                informer.cache.object(namespace: "default", name: "after") != nil
                    && informer.cache.object(namespace: "default", name: "c5") == nil && deleted.withLock { $0.contains("c5") } ? true : nil
            }
            #expect(caughtUp == true, "cache holds \(informer.cache.keys.sorted()); last version \(informer.lastResourceVersion), was \(lastSeen)")
            #expect(informer.listCount == 2)
            #expect(api.preferredServer.port == secondPort)
        }
    }
}
