import Foundation
import Testing
import TestSupport

extension ProcessClusterTests {
    @Suite struct MemberAwayTests {
        /// m3 is away while m4 joins, the log is cut far past the join, and m4 leads when m3 comes back: m3 knows
        /// no address for m4 (the record is inside what it missed). It must still catch up and serve
        /// linearizable reads — through m4's hello it can answer m4, and the snapshot's member records give it
        /// the addresses. It used to stay behind, its reads timing out, until restarted.
        @Test func aMemberBackFromAwayCatchesUpWithAMemberAddedMeanwhile() throws {
            let cluster = try LocalCluster(size: 3)
            let small = ["--snapshot-count", "100"]
            for member in cluster.members { try cluster.start(member.name, extraArguments: small) }
            _ = try cluster.waitForLeader()
            try cluster.ctl("put", "before", "1")
            cluster.kill9("m3")
            let survivors = ["m1", "m2"].map { cluster.member($0).endpoint }.joined(separator: ",")

            let m4 = try cluster.addMember("m4")
            let added = try cluster.ctl("member", "add", "m4", "--peer-urls=http://127.0.0.1:\(m4.peerPort)", endpoints: survivors)
            #expect(added.contains("added to cluster"))
            try cluster.start("m4", extraArguments: ["--initial-cluster-state", "existing"] + small)
            _ = try cluster.waitForLeader()

            // Far past the join: m3 can only come back by a snapshot.
            let writes = try cluster.podium(["bench", "put", "--endpoints", survivors + "," + m4.endpoint, "--total", "800",
                                             "--clients", "8", "--key-space-size", "50", "--no-progress"])
            #expect(writes.status == 0, "\(writes.error)")
            var leader = try cluster.waitForLeader()
            if leader != "m4" {
                let m4ID = try cluster.memberID("m4")
                try cluster.ctl("move-leader", String(m4ID, radix: 16), endpoints: cluster.member(leader).endpoint)
                leader = try cluster.waitForLeader()
            }
            #expect(leader == "m4")

            try cluster.start("m3", extraArguments: small)
            try cluster.ctl("put", "last", "x", endpoints: m4.endpoint)
            let deadline = Date().addingTimeInterval(TestTime.seconds(60))
            var seen = ""
            while seen != "last\nx\n", Date() < deadline {
                // A linearizable read: m3 asks the leader, m4, for a read index, and waits to apply up to it.
                seen = try cluster.etcdctl(["get", "last"], endpoints: cluster.member("m3").endpoint, timeout: 10).output
                if seen != "last\nx\n" { Thread.sleep(forTimeInterval: 0.2) }
            }
            #expect(seen == "last\nx\n", "m3 did not catch up; its log:\n\(cluster.log("m3").suffix(3000))")
            #expect(cluster.log("m3").contains("installed snapshot"), "it came back by a snapshot, as the test means")
        }
    }
}
