import Testing
import Raft

/// The situations of the Raft paper, played out message by message.
@Suite struct ScenarioTests {
    @Test func aCandidateWithAQuorumBecomesLeaderAndCommitsANoOp() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        #expect(cluster.leaders == [1])
        #expect(cluster[1].term == 1, "the pre-vote does not raise the term")
        #expect(cluster[2].leader == 1 && cluster[3].leader == 1)
        #expect(cluster[1].committedIndex == 1, "the new leader's empty entry is committed")
        #expect(cluster.applied[2]?.map(\.index) == [1])
    }

    @Test func proposalsOnAFollowerAreForwardedAndCommittedInOneBatch() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        try cluster[2].propose([[1], [2], [3]])
        cluster.deliverAll()
        for id: NodeID in 1...3 {
            #expect(cluster.applied[id]?.map(\.data) == [[], [1], [2], [3]])
        }
        #expect(cluster[1].term(at: 2) == 1 && cluster[1].term(at: 4) == 1)
    }

    @Test func proposalsWithoutALeaderAreRefused() {
        var cluster = TestCluster(size: 3)
        #expect(throws: RaftError.proposalDropped) { try cluster[1].propose([[1]]) }
    }

    /// Figure 7: whatever its followers' logs look like, a leader makes them equal to its own.
    @Test func figure7LeaderRepairsEveryKindOfFollowerLog() throws {
        var cluster = TestCluster(size: 7)
        let leaderLog: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
        let followers: [NodeID: [UInt64]] = [
            2: [1, 1, 1, 4, 4, 5, 5, 6, 6],            // (a) missing an entry
            3: [1, 1, 1, 4],                          // (b) missing many
            4: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],      // (c) an extra uncommitted entry
            5: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],   // (d) extra entries of a later term
            6: [1, 1, 1, 4, 4, 4, 4],                 // (e) extra entries of an old term
            7: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],      // (f) a whole divergent history
        ]
        cluster.add(1, log: leaderLog, term: 7)
        for (id, log) in followers { cluster.add(id, log: log, term: 7) }
        try cluster.elect(1)
        #expect(cluster.leaders == [1], "a, b, e and f vote for the leader; c and d have more up-to-date logs")
        #expect(cluster[1].term == 8)
        let expected = leaderLog + [8]
        for id: NodeID in 1...7 {
            #expect(cluster.terms(id) == expected, "follower \(id)")
        }
        #expect(cluster[5].committedIndex == 11)
    }

    /// Figure 8: a leader must not commit an entry of an earlier term by counting replicas; it commits it only
    /// together with an entry of its own term.
    @Test func figure8EntriesOfEarlierTermsCommitOnlyThroughTheCurrentTerm() throws {
        var cluster = TestCluster(size: 3)
        cluster.add(1, log: [1, 2], term: 2)
        cluster.add(2, log: [1], term: 2)
        cluster.add(3, log: [1], term: 2)
        cluster.restart(1) { $0.maxMessageBytes = 0 }   // one entry per append
        try cluster[1].campaign()
        // Deliver the election and the repair of the followers' logs, but hold back the leader's own-term entry
        // once a follower can take it (the first probe carrying it is rejected and makes the leader back up).
        let probed = Recorder()
        cluster.deliverAll { message in
            guard message.kind == .append, message.entries.contains(where: { $0.term == 3 }) else { return false }
            return !probed.firstTime(message.to)
        }
        #expect(cluster.leaders == [1] && cluster[1].term == 3)
        #expect(cluster[2].term(at: 2) == 2, "the old entry reached a majority")
        #expect(cluster[1].committedIndex == 0, "but it is not committed by counting replicas")
        // Now let the current term's entry through: both commit.
        cluster.tick(1)
        cluster.deliverAll()
        #expect(cluster[1].committedIndex == 3)
        #expect(cluster.applied[2]?.map(\.term) == [1, 2, 3])
    }

    /// A deposed leader that was partitioned away loses its uncommitted entries when it rejoins.
    @Test func aStaleLeaderStepsDownAndItsUncommittedEntriesAreReplaced() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.isolated = [1]
        try cluster[1].propose([[9, 9]])   // never reaches a quorum
        cluster.processReady()
        cluster.queue.removeAll()
        cluster.tickAll(times: 30)
        #expect(cluster.leaders.contains(2) || cluster.leaders.contains(3))
        let newLeader = cluster.leaders.first { $0 != 1 }!   // checked just above
        try cluster[newLeader].propose([[7]])
        cluster.deliverAll()
        #expect(cluster[1].role != .leader, "under CheckQuorum the isolated leader stepped down on its own")
        cluster.isolated = []
        cluster.tickAll(times: 3)
        #expect(cluster.leaders == [newLeader])
        #expect(cluster.terms(1) == cluster.terms(newLeader))
        #expect(!(cluster.applied[1] ?? []).contains { $0.data == [9, 9] })
        #expect(cluster.applied[1]?.last?.data == [7])
    }

    @Test func aLeaderCutOffFromItsQuorumStepsDown() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.isolated = [1]
        // The followers answered during the election, so the first check passes; the second does not.
        cluster.tick(1, times: 19)
        #expect(cluster[1].role == .leader)
        cluster.tick(1)
        #expect(cluster[1].role == .follower && cluster[1].leader == 0)
    }

    /// A node returning from a partition does not depose a working leader: with PreVote its term never rose.
    @Test func preVoteStopsARejoiningNodeFromDisruptingTheCluster() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.isolated = [3]
        cluster.tick(3, times: 100)   // many election timeouts alone
        #expect(cluster[3].term == 1, "pre-votes failed, so the term never rose")
        cluster.isolated = []
        cluster.tickAll(times: 5)
        #expect(cluster.leaders == [1] && cluster[1].term == 1)
    }

    @Test func withoutPreVoteARejoiningNodeForcesANewTerm() throws {
        var cluster = TestCluster(size: 3)
        for id: NodeID in 1...3 { cluster.restart(id) { $0.preVote = false; $0.checkQuorum = false } }
        try cluster.elect(1)
        cluster.isolated = [3]
        cluster.tick(3, times: 100)
        #expect(cluster[3].term > 5, "each timeout raised the isolated node's term")
        cluster.isolated = []
        cluster.tickAll(times: 30)
        #expect(cluster[1].term > 1, "its higher term deposed the leader: the disruption PreVote prevents")
    }

    @Test func leadershipTransferHandsOverAndRefusesProposalsMeanwhile() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        try cluster[1].propose([[1]])
        // Hold back replication so the transferee is behind when the transfer starts.
        cluster.processReady()
        cluster.queue.removeAll()
        try cluster[1].transferLeadership(to: 3)
        #expect(throws: RaftError.proposalDropped) { try cluster[1].propose([[2]]) }
        cluster.tick(1)
        cluster.deliverAll()
        #expect(cluster.leaders == [3])
        #expect(cluster[3].term == 2)
        #expect(cluster.applied[3]?.contains { $0.data == [1] } == true, "the transferee caught up first")
    }

    /// A proposal forwarded to a leader that is handing over leadership is sent back unappended (it used to
    /// vanish: the proposer waited for it until its deadline), so the proposer can give it to the next leader.
    @Test func aProposalForwardedDuringATransferIsSentBack() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.processReady()
        cluster.queue.removeAll()
        try cluster[1].transferLeadership(to: 3)
        try cluster[2].propose([[9]])
        cluster.deliverAll(drop: { $0.kind == .timeoutNow })
        #expect(cluster.refused[2]?.map(\.data) == [[9]], "sent back to its proposer")
        #expect(cluster.refused[2]?.map(\.term) == [cluster[2].term], "labelled with the term it was forwarded in")
        #expect(cluster.applied.values.allSatisfy { !$0.contains { $0.data == [9] } }, "and not appended")
        #expect(cluster.refused[1, default: []].isEmpty && cluster.refused[3, default: []].isEmpty)
    }

    /// A member that cannot take a forwarded proposal (a candidate; a follower that knows no leader to pass it
    /// on to) sends it back too.
    @Test func aProposalForwardedToAMemberWithoutALeaderIsSentBack() throws {
        var cluster = TestCluster(size: 3)
        var forwarded = Message(kind: .propose, from: 2, to: 3, term: 0)
        forwarded.entries = [Entry(term: 0, index: 0, data: [5])]
        // No election yet: 3 is a follower that knows no leader.
        cluster[3].step(forwarded)
        cluster.processReady()
        // Cut off, 3 campaigns: a candidate has no leader to pass it to either.
        cluster.isolated = [3]
        cluster.tick(3, times: 30)
        #expect(cluster[3].role == .preCandidate || cluster[3].role == .candidate)
        forwarded.entries = [Entry(term: 0, index: 0, data: [6])]
        cluster[3].step(forwarded)
        cluster.isolated = []
        cluster.processReady()
        cluster.deliverAll(drop: { $0.from == 3 && $0.kind != .proposalRefused })
        #expect(cluster.refused[2]?.map(\.data) == [[5], [6]])
    }

    /// A proposal is appended only in the term its proposer forwarded it in: a leader of another term sends it
    /// back, and a follower does not pass it on (its leader could be of a term the proposer does not know).
    /// That is what lets a proposer fail a write at once when an entry of a later term commits without it.
    @Test func aProposalForwardedInAnotherTermIsSentBackNotRelayed() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.deliverAll()
        var stale = Message(kind: .propose, from: 2, to: 1, term: 0)
        stale.logTerm = cluster[1].term + 1
        stale.entries = [Entry(term: 0, index: 0, data: [3])]
        cluster[1].step(stale)
        var relayed = Message(kind: .propose, from: 3, to: 2, term: 0)
        relayed.logTerm = cluster[2].term
        relayed.entries = [Entry(term: 0, index: 0, data: [4])]
        cluster[2].step(relayed)
        cluster.deliverAll()
        #expect(cluster.refused[2]?.map(\.data) == [[3]])
        #expect(cluster.refused[3]?.map(\.data) == [[4]])
        #expect(cluster.applied.values.allSatisfy { !$0.contains { $0.data == [3] || $0.data == [4] } })
        try cluster[2].propose([[5]])
        cluster.deliverAll()
        #expect(cluster.applied[1]?.contains { $0.data == [5] } == true, "a proposal of the leader's term goes in")
    }

    /// A membership change forwarded while another is pending is refused by the leader, and the proposer hears
    /// so (it used to be told nothing, and its caller waited out the request timeout).
    @Test func aForwardedMembershipChangeTheLeaderRefusesIsSentBack() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.deliverAll()
        try cluster[2].proposeConfigurationChange(ConfigurationChange([.addLearner(7)]))
        try cluster[2].proposeConfigurationChange(ConfigurationChange([.addLearner(8)]))
        cluster.deliverAll()
        #expect(cluster[1].membership.learners == [7], "the first is applied")
        #expect(cluster.refused[2, default: []].isEmpty, "not a refusal to retry")
        let refused = try #require(cluster.refusedForGood[2]?.first)
        #expect(refused.kind == .configurationChange)
        #expect(try ConfigurationChange(decoding: refused.data) == ConfigurationChange([.addLearner(8)]))
    }

    @Test func readIndexConfirmsLeadershipBeforeAnswering() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        try cluster[1].propose([[1]])
        cluster.deliverAll()
        try cluster[1].readIndex(context: [7])
        cluster.processReady()
        #expect(cluster.readStates[1, default: []].isEmpty, "no answer before a quorum confirms the leader")
        cluster.deliverAll()
        #expect(cluster.readStates[1] == [ReadState(index: 2, context: [7])])
        try cluster[2].readIndex(context: [8])
        cluster.deliverAll()
        #expect(cluster.readStates[2] == [ReadState(index: 2, context: [8])], "a follower's read is answered via the leader")
    }

    @Test func aPartitionedLeaderCannotAnswerReads() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.isolated = [1]
        try cluster[1].readIndex(context: [1])
        cluster.deliverAll()
        cluster.tick(1, times: 3)
        #expect(cluster.readStates[1, default: []].isEmpty)
    }

    @Test func aFollowerBehindTheLeadersFirstIndexCatchesUpBySnapshot() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.isolated = [3]
        for value in 1...20 { try cluster[1].propose([[UInt8(value)]]) }
        cluster.deliverAll()
        let leaderApplied = cluster[1].appliedIndex
        cluster.disks[1]!.compact(to: leaderApplied, data: [42], membership: cluster.membership)
        #expect(cluster[1].firstLogIndex == leaderApplied + 1)
        cluster.isolated = []
        cluster.tickAll(times: 3)
        #expect(cluster.disks[3]!.snapshot.metadata.index == leaderApplied)
        #expect(cluster.disks[3]!.snapshot.data == [42])
        try cluster[1].propose([[99]])
        cluster.deliverAll()
        #expect(cluster.applied[3]?.last?.data == [99])
        #expect(cluster[3].committedIndex == cluster[1].committedIndex)
    }

    @Test func proposalsForwardedByAFollowerTravelInMessagesOfBoundedSize() throws {
        var cluster = TestCluster(size: 3) { $0.maxMessageBytes = 1000 }
        try cluster.elect(1)
        try cluster[2].propose((0..<10).map { [UInt8](repeating: UInt8($0), count: 400) } + [[UInt8](repeating: 9, count: 3000)])
        cluster.processReady()
        let forwarded = cluster.queue.filter { $0.kind == .propose }
        #expect(forwarded.map { $0.entries.count } == [2, 2, 2, 2, 2, 1], "two of 400 bytes fit in 1000; the large one alone")
        cluster.deliverAll()
        #expect(cluster.applied[2]?.filter { !$0.data.isEmpty }.count == 11, "all of them committed, in order")
    }

    @Test func aSingleNodeClusterCommitsAlone() throws {
        var cluster = TestCluster(size: 1)
        try cluster.elect(1)
        try cluster[1].propose([[5]])
        cluster.deliverAll()
        #expect(cluster.applied[1]?.map(\.data) == [[], [5]])
        try cluster[1].readIndex(context: [1])
        cluster.deliverAll()
        #expect(cluster.readStates[1] == [ReadState(index: 2, context: [1])])
    }
}

/// Remembers which nodes it has seen, across the calls of a non-mutating closure.
final class Recorder {
    private var seen: Set<NodeID> = []

    func firstTime(_ id: NodeID) -> Bool { seen.insert(id).inserted }
}
