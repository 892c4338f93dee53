/// How a member runs Raft. Times are in ticks of the caller's clock.
public struct RaftConfiguration: Sendable {
    public var id: NodeID
    /// A follower that hears from no leader for a random time in `electionTicks ..< 2 * electionTicks` starts
    /// an election; a leader under CheckQuorum steps down after this long without hearing from a quorum.
    public var electionTicks = 10
    public var heartbeatTicks = 1
    /// Largest entry payload per append message.
    public var maxMessageBytes = 1 << 20
    /// Appends in flight per follower before the leader waits for acknowledgements.
    public var maxInflightMessages = 256
    /// Bytes in flight per follower (0: no byte limit).
    public var maxInflightBytes = 0
    /// The leader steps down when it has not heard from a quorum for an election timeout, and followers that
    /// hear from a leader ignore vote requests for that long (so a partitioned node cannot depose it).
    public var checkQuorum = true
    /// Candidates first poll for votes without raising terms, so a node rejoining from a partition cannot
    /// disrupt a working cluster.
    public var preVote = true
    /// Serve read-index requests from the leader's lease (relies on bounded clock drift) instead of a heartbeat
    /// round. Requires `checkQuorum`.
    public var leaseReads = false
    /// Largest payload of committed entries handed out in one `Ready`: a member catching up applies its
    /// backlog in pieces, and its loop handles what arrived (votes, heartbeats) between them.
    public var maxApplyBytes = 8 << 20
    /// Seeds the randomized election timeout, so runs replay exactly.
    public var randomSeed: UInt64 = 0

    public init(id: NodeID) {
        self.id = id
    }
}
