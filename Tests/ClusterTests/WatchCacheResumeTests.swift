import ClusterClient
import Foundation
import Resources
import Testing
import TestSupport

extension ProcessClusterTests {
    /// A watcher resuming from the watch cache's ring is told what a live one was. The ring keeps each change's
    /// line and the line of the object before it, parsed back for selectors — for objects the cache knew only
    /// from its fill (no line of their own yet) as for those it saw change.
    @Suite struct WatchCacheResumeTests {
        struct Enough: Error {}

        @Test func aSelectedWatcherResumingFromTheRingSeesObjectsLeaveAndEnter() async throws {
            let cluster = try LocalCluster(size: 1)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            let endpoints = cluster.members.map(\.endpoint)
            let firstDirectory = TemporaryDirectory()
            let first = try APIServerProcess(etcdServers: endpoints, in: firstDirectory)
            try first.waitUntilReady()
            let caPEM = try String(contentsOfFile: first.caDirectory + "/ca.crt", encoding: .utf8)
            let type = try #require(ResourceType.find(group: "", version: "v1", plural: "configmaps"))
            let writer = try APIClient(access: ClusterAccess(servers: [.init(host: "127.0.0.1", port: first.port)], token: first.token, caPEM: caPEM))
            defer { writer.shutdown() }
            let written = ResourceClient(writer, type)
            for (name, pick) in [("c0", "yes"), ("c1", "yes"), ("c2", "no")] {
                _ = try await written.create(["apiVersion": "v1", "kind": "ConfigMap",
                                              "metadata": ["name": .string(name), "namespace": "default", "labels": ["pick": .string(pick)]]])
            }
            // This server fills its cache after those creates: it knows them from its list only.
            let second = try APIServerProcess(etcdServers: endpoints, in: TemporaryDirectory(), caDirectory: firstDirectory.child("pki"))
            try second.waitUntilReady()
            let reader = try APIClient(access: ClusterAccess(servers: [.init(host: "127.0.0.1", port: second.port)], token: second.token, caPEM: caPEM))
            defer { reader.shutdown() }
            let read = ResourceClient(reader, type)
            let before = try await read.list(namespace: "default").resourceVersion

            _ = try await written.patch(namespace: "default", name: "c1", ["metadata": ["labels": ["pick": "no"]]])
            _ = try await written.patch(namespace: "default", name: "c2", ["metadata": ["labels": ["pick": "yes"]]])
            _ = try await written.patch(namespace: "default", name: "c0", ["data": ["n": "1"]])
            _ = try await written.patch(namespace: "default", name: "c2", ["data": ["n": "2"]])
            _ = try await written.delete(namespace: "default", name: "c0")
            // Every change is in the second server's ring before the watcher asks for them.
            let after = try await written.get(namespace: "default", name: "c2")[path: ["metadata", "resourceVersion"]]?.stringValue
            _ = try await read.list(namespace: "default", resourceVersion: after ?? "0")

            var seen: [String] = []
            do {
                try await read.watch(namespace: "default", resourceVersion: before, labelSelector: "pick=yes", timeoutSeconds: 30,
                                     bookmarks: false) { event in
                    seen.append("\(event.kind.rawValue) \(event.object[path: ["metadata", "name"]]?.stringValue ?? "?")")
                    if seen.count == 5 { throw Enough() }
                }
            } catch is Enough {}
            #expect(seen == ["DELETED c1", "ADDED c2", "MODIFIED c0", "MODIFIED c2", "DELETED c0"], "\(seen)")
        }
    }
}
