import Raft
import Testing

/// Linearizable reads as real members ask for them: contexts that repeat across members, answers lost with a
/// leader change or a slow link, acknowledgements that arrive late.
@Suite struct ReadIndexTests {
    @Test func membersAskingWithTheSameContextAreAllAnswered() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        try cluster[1].propose([[1]])
        cluster.deliverAll()
        // The leader and both followers ask at once with the same bytes, as per-member counters did.
        for member: NodeID in [1, 2, 3] { try cluster[member].readIndex(context: [0, 0, 0, 1]) }
        cluster.deliverAll()
        for member: NodeID in [1, 2, 3] {
            #expect(cluster.readStates[member] == [ReadState(index: 2, context: [0, 0, 0, 1])], "member \(member)")
        }
    }

    @Test func aLateAcknowledgementOfAnEarlierRoundDoesNotConfirmALaterRead() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.deliverAll()
        try cluster[1].readIndex(context: [9])
        cluster.processReady()
        // Deliver the heartbeats; hold member 3's answer, let member 2's confirm the first read.
        var held: [Message] = []
        cluster.deliverAll(drop: { message in
            if message.kind == .heartbeatResponse && message.from == 3 { held.append(message); return true }
            return false
        })
        #expect(cluster.readStates[1]?.count == 1)
        // The leader is cut off; a second read with the same context must not be confirmed by the old answer.
        cluster.isolated = [1]
        try cluster[1].readIndex(context: [9])
        cluster.processReady()
        cluster.queue = []
        #expect(held.count == 1)
        for message in held { cluster[1].step(message) }
        cluster.processReady()
        #expect(cluster.readStates[1]?.count == 1, "an answer to round 1 says nothing about leadership after round 2")
    }

    @Test func aReadLostWithTheOldLeaderIsAskedOfTheNewOne() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.deliverAll()
        var reads = ReadIndexRequests<String>(member: 2, incarnation: 1, retryTicks: 5)
        reads.ask(["read"], raft: &cluster.nodes[2]!)
        // The forwarded request dies with the old leader's connection; then member 3 takes over.
        cluster.deliverAll(drop: { $0.kind == .readIndex })
        try cluster[1].transferLeadership(to: 3)
        cluster.deliverAll()
        #expect(cluster[2].leader == 3)
        reads.reaskIfDue(raft: &cluster.nodes[2]!)
        cluster.deliverAll()
        let answered = cluster.readStates[2, default: []].compactMap { reads.answer($0) }
        #expect(answered == [["read"]])
        #expect(reads.isEmpty)
    }

    @Test func anAnswerToAnEarlierAskingServesAReadAskedAgain() throws {
        var cluster = TestCluster(size: 3)
        try cluster.elect(1)
        cluster.deliverAll()
        var reads = ReadIndexRequests<Int>(member: 2, incarnation: 7, retryTicks: 2)
        reads.ask([1, 2], raft: &cluster.nodes[2]!)
        cluster.processReady()
        // A slow link: the first request is still on its way when the retry interval passes.
        let slow = cluster.queue
        cluster.queue = []
        reads.tick(raft: &cluster.nodes[2]!)
        reads.tick(raft: &cluster.nodes[2]!)
        cluster.processReady()
        #expect(cluster.queue.contains { $0.kind == .readIndex }, "asked again after the retry interval")
        cluster.queue = slow
        cluster.deliverAll()
        let answered = cluster.readStates[2, default: []].compactMap { reads.answer($0) }
        #expect(answered == [[1, 2]], "the first answer serves the batch, the second finds nothing left")
        #expect(reads.isEmpty)
    }

    @Test func readsWithoutALeaderWaitAndAreAskedOnceOneIsKnown() throws {
        var cluster = TestCluster(size: 3)
        var reads = ReadIndexRequests<Int>(member: 3, incarnation: 0, retryTicks: 5)
        reads.ask([5], raft: &cluster.nodes[3]!)
        #expect(reads.removeAll(where: { _ in false }).isEmpty)
        try cluster.elect(1)
        reads.reaskIfDue(raft: &cluster.nodes[3]!)
        cluster.deliverAll()
        #expect(cluster.readStates[3, default: []].compactMap { reads.answer($0) } == [[5]])
    }
}
