import ClusterClient
import Foundation
import Resources
import Testing
import TestSupport

extension ProcessClusterTests {
    /// Events are written under store leases (kube-apiserver's --event-ttl) and go when the lease does; other
    /// objects stay. Events written together share a lease; an update starts the TTL again; a lease the store no
    /// longer has is replaced, not reported to the client.
    @Suite struct EventExpiryTests {
        /// The store lease `key` is attached to (0: none), as etcdctl shows it.
        static func lease(of key: String, in cluster: LocalCluster) throws -> Int64? {
            let result = try cluster.etcdctl(["get", key, "-w", "json"])
            guard result.status == 0,
                  let document = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
                  let kv = (document["kvs"] as? [[String: Any]])?.first else { return nil }
            return (kv["lease"] as? NSNumber)?.int64Value ?? 0
        }

        static func event(_ name: String) -> JSONValue {
            ["apiVersion": "v1", "kind": "Event",
             "metadata": ["name": .string(name), "namespace": "default"],
             "involvedObject": ["kind": "ConfigMap", "name": "keep", "namespace": "default", "apiVersion": "v1"],
             "reason": "Testing", "message": "an event that expires", "type": "Normal", "count": 1,
             "source": ["component": "event-expiry-test"]]
        }

        @Test func eventsExpireWithTheirLeaseAndOtherObjectsStay() async throws {
            let cluster = try LocalCluster(size: 1)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            let directory = TemporaryDirectory()
            let server = try APIServerProcess(etcdServers: cluster.members.map(\.endpoint), in: directory,
                                              extraArguments: ["--event-ttl", "4s"])
            try server.waitUntilReady()
            let caPEM = try String(contentsOfFile: server.caDirectory + "/ca.crt", encoding: .utf8)
            let api = try APIClient(access: ClusterAccess(servers: [.init(host: "127.0.0.1", port: server.port)], token: server.token, caPEM: caPEM))
            defer { api.shutdown() }
            let events = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "events")))
            let configMaps = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "configmaps")))
            _ = try await configMaps.create(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "keep", "namespace": "default"]])
            for index in 0..<3 { _ = try await events.create(Self.event("e\(index)")) }

            let leases = try (0..<3).map { try Self.lease(of: "/registry/events/default/e\($0)", in: cluster) }
            let shared = try #require(leases.first ?? nil)
            #expect(shared != 0, "an Event is written under a lease")
            #expect(Set(leases) == [shared], "Events written together share one lease: \(leases)")
            #expect(try Self.lease(of: "/registry/configmaps/default/keep", in: cluster) == 0, "a ConfigMap does not expire")

            // The lease revoked behind the API server's back (as a store restored from an older snapshot lacks
            // it): its Events go at once, and the next write is given a lease that exists.
            let revoke = try cluster.etcdctl(["lease", "revoke", String(shared, radix: 16)])
            #expect(revoke.status == 0, "\(revoke.error)")
            _ = try await events.create(Self.event("e3"))
            let fresh = try #require(try Self.lease(of: "/registry/events/default/e3", in: cluster))
            #expect(fresh != 0 && fresh != shared)
            #expect(try Self.lease(of: "/registry/events/default/e0", in: cluster) == nil, "gone with its lease")

            // An update is written under a lease too (without one, the Event would no longer expire).
            _ = try await events.patch(namespace: "default", name: "e3", ["count": 2])
            #expect(try Self.lease(of: "/registry/events/default/e3", in: cluster).map { $0 != 0 } == true)

            let expired = try await eventually(within: 60, every: .milliseconds(250)) { () -> Bool? in
                let left = try? await events.listAll(namespace: "default")
                return left?.items.isEmpty == true ? true : nil
            }
            #expect(expired == true, "every Event is gone after its TTL")
            #expect(try await configMaps.get(namespace: "default", name: "keep")[path: ["metadata", "name"]] == "keep")
        }
    }
}
