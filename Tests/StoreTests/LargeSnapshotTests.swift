import Testing
import MVCC
import Raft
@testable import Store

@Suite struct LargeSnapshotTests {

    /// A member stopped while the others write several MiB and cut their logs catches up by a snapshot of that
    /// size, while writes go on.
    @Test func aMemberCatchesUpByALargeSnapshotWhileWritesGoOn() async throws {
        let cluster = LocalCluster()
        cluster.snapshotCount = 200
        cluster.snapshotCatchUpEntries = 50
        try await cluster.start()
        let (leader, lagging) = try await cluster.stopAFollower()
        let value = [UInt8](repeating: 0x61, count: 8 << 10)
        for i in 0..<1000 {
            _ = try await cluster.members[leader]!.apply(.put(PutRequest(key: bytes("key\(i)"), value: value)))
        }
        try await cluster.restart(lagging)
        let leaderMember = cluster.members[leader]!
        let writer = Task {
            for i in 0..<400 {
                _ = try? await leaderMember.apply(.put(PutRequest(key: bytes("more\(i % 50)"), value: bytes("\(i)"))))
            }
        }
        let caughtUp = try await cluster.eventually { () -> Bool? in
            cluster.members[lagging]!.mvcc.appliedIndex >= 1000 ? true : nil
        }
        await writer.value
        #expect(caughtUp == true, "the restarted member did not catch up")
        try await cluster.shutdown()
    }
}
