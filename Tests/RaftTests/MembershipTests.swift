import Testing
import Raft

@Suite struct MembershipTests {
    @Test func changesRoundTripThroughTheirEncoding() throws {
        let change = ConfigurationChange([.addVoter(4), .remove(3), .addLearner(UInt64.max)])
        #expect(try ConfigurationChange(decoding: change.encoded()) == change)
        #expect(throws: ConfigurationChange.Refusal.malformed) { try ConfigurationChange(decoding: [1, 2]) }
        #expect(throws: ConfigurationChange.Refusal.malformed) { try ConfigurationChange(decoding: [9, 0, 0, 0, 0, 0, 0, 0, 1]) }
    }

    @Test func aLearnerFollowsThenIsPromotedThroughAJointConfiguration() throws {
        var cluster = TestCluster(size: 3)
        cluster.add(4, log: [], term: 0)
        try cluster.elect(1)
        try cluster[1].proposeConfigurationChange(ConfigurationChange([.addLearner(4)]))
        cluster.deliverAll()
        #expect(cluster[1].membership == Membership(voters: [1, 2, 3], learners: [4]), "learners need no joint phase")
        try cluster[1].propose([[1]])
        cluster.deliverAll()
        #expect(cluster.applied[4]?.last?.data == [1], "the learner receives the log")
        cluster.tick(4, times: 50)
        #expect(cluster[4].role == .follower, "a learner never campaigns")

        try cluster[1].proposeConfigurationChange(ConfigurationChange([.addVoter(4)]))
        cluster.deliverAll()
        // The leader entered the joint configuration, then left it by itself.
        #expect(cluster[1].membership == Membership(voters: [1, 2, 3, 4]))
        #expect(cluster[4].membership == Membership(voters: [1, 2, 3, 4]))
        let changes = cluster.applied[1]!.filter { $0.kind == .configurationChange }
        #expect(changes.count == 3, "add learner, enter joint, leave joint")
    }

    @Test func aRemovedMemberLearnsThatItsRemovalIsCommitted() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        try cluster[1].proposeConfigurationChange(ConfigurationChange([.remove(3)]))
        cluster.deliverAll()
        #expect(cluster[1].membership == Membership(voters: [1, 2]))
        // The leader stops replicating to it once the removal is in force; its last heartbeat carries the
        // commit point, so the removed member applies its removal too (and can stop).
        #expect(cluster[3].membership == Membership(voters: [1, 2]), "\(cluster[3].membership)")
    }

    @Test func oneChangeAtATime() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        try cluster[1].proposeConfigurationChange(ConfigurationChange([.remove(3)]))
        #expect(throws: RaftError.configurationChangeRefused) {
            try cluster[1].proposeConfigurationChange(ConfigurationChange([.remove(2)]))
        }
        cluster.deliverAll()
        #expect(cluster[1].membership == Membership(voters: [1, 2]))
        #expect(throws: RaftError.configurationChangeRefused) {
            try cluster[1].proposeConfigurationChange(ConfigurationChange([.remove(1), .remove(2)]))
        }
    }

    /// Replacing a voter: the leader crashes after the joint configuration is committed but before it is left.
    /// The next leader needs majorities of both the old and the new voters, and completes the change.
    @Test func aJointChangeInterruptedByALeaderCrashIsCompletedByTheNextLeader() throws {
        var cluster = TestCluster(size: 3)
        cluster.add(4, log: [], term: 0)
        try cluster.elect(1)
        try cluster[1].proposeConfigurationChange(ConfigurationChange([.addVoter(4), .remove(3)]))
        // Everything flows except the entry that leaves the joint configuration, which reaches only the new
        // member 4: without an outgoing voter's acknowledgement it cannot commit.
        let isLeave: (Message) -> Bool = { message in
            message.to != 4 && message.entries.contains { $0.kind == .configurationChange && $0.data.isEmpty }
        }
        cluster.deliverAll(drop: isLeave)
        #expect(cluster[1].membership == Membership(voters: [1, 2, 4], outgoing: [1, 2, 3]))
        #expect(cluster[2].membership.isJoint && cluster[4].membership.isJoint)

        // The leader crashes; its unsent messages are lost with it.
        cluster.isolated = [1]
        cluster.queue.removeAll()
        cluster.tick(2, times: 30)
        cluster.tick(3, times: 30)
        cluster.tick(4, times: 30)
        cluster.deliverAll()
        let leader = try #require(cluster.leaders.first { $0 != 1 })
        #expect(leader != 3 || cluster[3].membership.isJoint, "3 can only lead while still an outgoing voter")
        cluster.tickAll(times: 5)
        cluster.isolated = []
        cluster.restart(1)
        cluster.tickAll(times: 10)
        let final = Membership(voters: [1, 2, 4])
        for id: NodeID in [1, 2, 4] { #expect(cluster[id].membership == final, "member \(id)") }
        try cluster[cluster.leaders.first { final.voters.contains($0) }!].propose([[42]])
        cluster.deliverAll()
        for id: NodeID in [1, 2, 4] { #expect(cluster.applied[id]?.last?.data == [42], "member \(id)") }
    }

    @Test func aLeaderThatRemovesItselfStepsDown() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        try cluster[1].proposeConfigurationChange(ConfigurationChange([.remove(1)]))
        cluster.deliverAll()
        #expect(cluster[1].role == .follower)
        cluster.tickAll(times: 30)
        #expect(cluster.leaders.count == 1 && cluster.leaders != [1])
        #expect(cluster[2].membership.voters == [2, 3])
    }
}

@Suite struct NonVoterTests {
    /// Found by the simulator: a member that cannot campaign (a learner, or one that believes it was removed)
    /// must still stop shielding a silent leader after an election timeout, or voters that need its vote in a
    /// joint configuration could never elect anyone.
    @Test func aNonVoterStopsShieldingASilentLeader() {
        let storage = MemoryRaftLog(membership: Membership(voters: [1, 2], learners: [3]))
        var learner = Raft(configuration: RaftConfiguration(id: 3), storage: storage)
        learner.step(Message(kind: .heartbeat, from: 1, to: 3, term: 1))
        #expect(learner.leader == 1)
        _ = learner.ready()
        for _ in 0..<30 { learner.tick() }
        learner.step(Message(kind: .preVote, from: 2, to: 3, term: 2))
        let answers = learner.ready().messagesAfterPersist.filter { $0.kind == .preVoteResponse }
        #expect(answers.count == 1 && answers.first?.reject == false)
    }
}
