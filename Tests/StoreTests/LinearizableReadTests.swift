import Testing
import MVCC
import Raft
import TestSupport
@testable import Store

extension InProcessClusterTests {
    /// Linearizable reads through every member of a cluster that has just started, from many clients at once:
    /// each read asks its member for a read index from the leader. Read contexts that repeated across members
    /// made the leader drop one member's request, whose reads then waited out their whole deadline.
    @Suite struct LinearizableReadTests {
        @Test(arguments: 1...3)
        func everyMemberOfAFreshClusterAnswersLinearizableReads(round: Int) async throws {
            let cluster = LocalCluster()
            try await cluster.start()
            _ = try #require(try await cluster.leader())
            let members = cluster.members
            let failures = try await withThrowingTaskGroup(of: [String].self) { group in
                for (id, member) in members {
                    for client in 0..<8 {
                        group.addTask {
                            var failures: [String] = []
                            for _ in 0..<25 {
                                do {
                                    _ = try await member.range(RangeRequest(range: KeyRange(key: bytes("health"))))
                                } catch {
                                    failures.append("member \(id) client \(client): \(error)")
                                }
                            }
                            return failures
                        }
                    }
                }
                return try await group.reduce([], +)
            }
            #expect(failures.isEmpty, "\(failures.count) of 600 reads failed: \(failures.prefix(5))")
            try await cluster.shutdown()
        }

        /// Reads through a follower go on while leadership moves: each read asked of an old leader is asked
        /// again of the new one rather than left to time out.
        @Test func readsThroughAFollowerSurviveLeadershipTransfers() async throws {
            let cluster = LocalCluster()
            try await cluster.start()
            let first = try #require(try await cluster.leader())
            let reader = cluster.ids.first { $0 != first }!   // three members, one leader
            let member = cluster.members[reader]!
            let readers = (0..<8).map { _ in
                Task { () -> [String] in
                    var failures: [String] = []
                    for _ in 0..<60 {
                        do {
                            _ = try await member.range(RangeRequest(range: KeyRange(key: bytes("k"))))
                        } catch {
                            failures.append("\(error)")
                        }
                    }
                    return failures
                }
            }
            // Move leadership among the other two, back and forth, while the requests go on.
            try await cluster.moveLeadership(among: cluster.ids.filter { $0 != reader }.sorted(), moves: 4)
            var failures: [String] = []
            for task in readers { failures += await task.value }
            #expect(failures.isEmpty, "\(failures.count) of 480 reads failed: \(failures.prefix(5))")
            try await cluster.shutdown()
        }
    }
}
