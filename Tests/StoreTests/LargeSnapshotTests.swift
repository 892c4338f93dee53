import Synchronization
import Testing
import MVCC
import Raft
@testable import Store

extension InProcessClusterTests {
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
}

extension InProcessClusterTests {
    @Suite struct SnapshotConvergenceTests {
        /// The log is cut every 100 entries while many clients write: the snapshot a lagging member gets must be
        /// the last it needs (labelled with the point its data holds, the log kept whole after that point until the
        /// member has it, delivery confirmed by the receiver), not one of an endless series.
        @Test func aLaggingMemberCatchesUpWithOneSnapshotUnderSteadyWrites() async throws {
            let cluster = LocalCluster()
            cluster.snapshotCount = 100
            cluster.snapshotCatchUpEntries = 20
            try await cluster.start()
            let (leader, lagging) = try await cluster.stopAFollower()
            let leaderMember = cluster.members[leader]!
            let value = [UInt8](repeating: 0x62, count: 16 << 10)
            for i in 0..<600 {
                _ = try await leaderMember.apply(.put(PutRequest(key: bytes("key\(i)"), value: value)))
            }
            let sentBefore = leaderMember.status.snapshotsSent
            try await cluster.restart(lagging)
            let writing = RunningFlag()
            let writers = (0..<8).map { client in
                Task {
                    var i = 0
                    while writing.isRunning && i < 20_000 {
                        _ = try? await leaderMember.apply(.put(PutRequest(key: bytes("w\(client)-\(i % 40)"), value: value)))
                        i += 1
                    }
                }
            }
            let caughtUp = try await cluster.eventually { () -> Bool? in
                let target = leaderMember.status.appliedIndex
                return cluster.members[lagging]!.status.appliedIndex + 50 >= target && target > 700 ? true : nil
            }
            writing.stop()
            for writer in writers { await writer.value }
            let statuses = cluster.members.values.map(\.status).sorted { $0.id < $1.id }
                .map { "\($0.id): \($0.role) term \($0.term) applied \($0.appliedIndex) snapshots sent \($0.snapshotsSent)" }
            #expect(caughtUp == true, "the restarted member did not catch up while writes went on: \(statuses)")
            let sent = leaderMember.status.snapshotsSent - sentBefore
            #expect(sent >= 1 && sent <= 2, "snapshots sent to catch one member up: \(sent)")
            try await cluster.shutdown()
        }
    }
}

/// Tells concurrent writers to stop.
final class RunningFlag: Sendable {
    private let running = Mutex(true)

    var isRunning: Bool { running.withLock { $0 } }

    func stop() { running.withLock { $0 = false } }
}
