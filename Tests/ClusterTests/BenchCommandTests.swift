import Foundation
import Testing

extension ProcessClusterTests {
    /// `podium bench` against a real 3-member cluster: every workload runs to completion with the counts it promises
    /// (throughput is measured by tools/bench-vs-etcd, not asserted here).
    @Suite struct BenchCommandTests {
        static func report(_ result: LocalCluster.CommandResult) throws -> [String: Any] {
            guard result.status == 0,
                  let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any] else {
                throw ClusterTestError("bench failed (\(result.status)): \(result.output) \(result.error)")
            }
            return object
        }

        static func int(_ value: Any?) -> Int { (value as? NSNumber)?.intValue ?? -1 }

        @Test func everyWorkloadCompletes() throws {
            let cluster = try LocalCluster(size: 3)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            let common = ["--endpoints", cluster.endpoints, "--json"]

            let put = try Self.report(cluster.podium(["bench", "put", "--target", "leader", "--conns", "2", "--clients", "20",
                                                      "--total", "500", "--key-space-size", "50"] + common))
            #expect(Self.int(put["succeeded"]) == 500 && Self.int(put["failed"]) == 0)
            #expect(((put["latencyMs"] as? [String: Any])?["p99"] as? Double ?? 0) > 0)
            let stored = try cluster.etcdctl(["get", "", "--from-key", "--keys-only", "-w", "json"])
            #expect(stored.output.contains("\"count\":50"), "50 distinct keys: \(stored.output)")

            for consistency in ["l", "s"] {
                let range = try Self.report(cluster.podium(["bench", "range", "--consistency", consistency, "--clients", "10",
                                                            "--total", "300"] + common))
                #expect(Self.int(range["succeeded"]) == 300, "\(range)")
            }
            let txn = try Self.report(cluster.podium(["bench", "txn-put", "--txn-ops", "3", "--key-space-size", "10",
                                                      "--clients", "5", "--total", "100"] + common))
            #expect(Self.int(txn["succeeded"]) == 100, "\(txn)")
            let delete = try Self.report(cluster.podium(["bench", "delete", "--clients", "5", "--total", "100"] + common))
            #expect(Self.int(delete["succeeded"]) == 100, "\(delete)")

            // 40 watchers on 4 keys, 200 puts: every put reaches the 10 watchers of its key, also while 10 more
            // watchers never read.
            let watch = try Self.report(cluster.podium(["bench", "watch", "--watchers", "40", "--streams", "4",
                                                        "--watched-keys", "4", "--stalled-watchers", "10", "--clients", "4",
                                                        "--total", "200"] + common))
            #expect(Self.int(watch["succeeded"]) == 200 && Self.int(watch["eventsDelivered"]) == 2000, "\(watch)")
            #expect(Self.int(watch["failed"]) == 0, "\(watch)")
            #expect(((watch["deliveryMs"] as? [String: Any])?["max"] as? Double ?? 0) > 0)

            let catchup = try Self.report(cluster.podium(["bench", "watch-catchup", "--revisions", "500", "--clients", "10"] + common))
            #expect(Self.int(catchup["succeeded"]) == 500 && Self.int(catchup["failed"]) == 0, "\(catchup)")

            let keepAlive = try Self.report(cluster.podium(["bench", "lease-keepalive", "--clients", "4", "--total", "200"] + common))
            #expect(Self.int(keepAlive["succeeded"]) == 200 && Self.int(keepAlive["failed"]) == 0, "\(keepAlive)")
            let leases = try cluster.ctl("lease", "list")
            #expect(leases.contains("found 0 leases"), "the bench revokes its leases: \(leases)")

            let rated = try Self.report(cluster.podium(["bench", "put", "--rate", "200", "--duration", "1", "--clients", "4"] + common))
            #expect((100...240).contains(Self.int(rated["succeeded"])), "about 200 puts in 1 s at --rate 200: \(rated)")
        }

        @Test func badOptionsAreRefused() throws {
            let tools = try LocalCluster(size: 0)
            let noPort = try tools.podium(["bench", "put", "--endpoints", "localhost"])
            #expect(noPort.status != 0 && noPort.error.contains("expected HOST:PORT"), "\(noPort.error)")
            let clients = try tools.podium(["bench", "put", "--conns", "4", "--clients", "2"])
            #expect(clients.status != 0 && clients.error.contains("--clients (2) must be at least --conns (4)"), "\(clients.error)")
            let nothing = try tools.podium(["bench", "put", "--endpoints", "127.0.0.1:\(try LocalCluster.freePort())"])
            #expect(nothing.status != 0 && nothing.error.contains("cannot connect"), "\(nothing.error)")
        }
    }
}
