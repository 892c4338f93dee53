import Raft
import Testing

/// The transport's hint that a peer's process is gone (its connection closed and it refused a new one): the
/// survivors elect a new leader without waiting out the election timeout, and a false hint changes nothing.
@Suite struct PeerDownTests {
    @Test func followersThatLoseTheLeadersConnectionElectANewLeaderWithoutWaiting() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        let term = cluster[1].term
        cluster.isolated = [1]
        cluster[2].reportPeerDown(1)
        cluster[3].reportPeerDown(1)
        cluster.deliverAll()
        #expect(cluster.leaders.contains(2), "the first survivor by ID campaigns at once: \(cluster.leaders)")
        #expect(cluster[2].term == term + 1)
    }

    @Test func theSecondSurvivorCampaignsATickLaterWhenTheFirstCannotWin() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.isolated = [1]
        // Member 2 never hears of it (its connection still looks fine): member 3 campaigns after one tick, and
        // member 2 refuses while it still trusts the leader.
        cluster[3].reportPeerDown(1)
        cluster.deliverAll()
        #expect(cluster[3].role == .follower)
        cluster.tick(3)
        cluster.deliverAll()
        #expect(!cluster.leaders.contains(3), "member 2 still hears from its leader as far as it knows")
        cluster[2].reportPeerDown(1)
        cluster.deliverAll()
        #expect(cluster.leaders.contains(2))
    }

    /// Only one survivor sees its connection to the dead leader close; the other still trusts the leader, but
    /// after a few missed heartbeats it grants the hinted campaign: a new leader well inside an election timeout.
    @Test func aHintedCampaignWinsOnceTheOtherVoterMissedAFewHeartbeats() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        let term = cluster[1].term
        cluster.isolated = [1]
        cluster[3].reportPeerDown(1)
        cluster.deliverAll()
        var ticks = 0
        while !cluster.leaders.contains(3) && ticks < 10 {
            for id in [2, 3] as [NodeID] { cluster[id].tick() }
            cluster.deliverAll()
            ticks += 1
        }
        #expect(cluster.leaders.contains(3), "elected after \(ticks) ticks")
        #expect(ticks < 10, "before member 2's own election timeout (10 ticks at least)")
        #expect(cluster[3].term == term + 1)
    }

    /// A leader never grants a hinted campaign (it hears itself): a follower whose connection merely flapped
    /// cannot depose it, however long since the leader's last election timeout.
    @Test func aHintedCampaignDoesNotDeposeALiveLeader() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        let term = cluster[1].term
        cluster.tickAll(times: 5)
        cluster[2].reportPeerDown(1)
        cluster.deliverAll()
        cluster.tickAll(times: 6)
        #expect(cluster.leaders == [1])
        #expect(cluster[1].term == term)
    }

    @Test func aFalseReportDoesNotDeposeALeaderOthersHear() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        let term = cluster[1].term
        cluster[2].reportPeerDown(1)
        cluster.deliverAll()
        cluster.tickAll(times: 2)
        #expect(cluster.leaders == [1])
        #expect(cluster[1].term == term && cluster[2].term == term && cluster[3].term == term,
                "a pre-vote refused raises no term")
        #expect(cluster[2].leader == 1, "the next heartbeat restores the leader")
    }

    @Test func aReportAboutAFollowerChangesNothing() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster[2].reportPeerDown(3)
        cluster[1].reportPeerDown(2)
        cluster.deliverAll()
        #expect(cluster.leaders == [1])
        #expect(cluster[2].leader == 1)
    }
}
