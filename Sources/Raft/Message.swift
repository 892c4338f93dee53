/// A message between members. Which fields mean something depends on `kind`, as in the Raft paper's RPCs.
public struct Message: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// AppendEntries: `index`/`logTerm` locate the entry before `entries`; `commit` is the leader's.
        case append
        /// `index` is the follower's last matching index, or on `reject` the rejected `index` with
        /// `rejectHint`/`logTerm` pointing at where the follower's log could match (fast backtracking).
        case appendResponse
        case vote
        case voteResponse
        /// A pre-election poll that changes nobody's term: would you vote for me at `term`?
        case preVote
        case preVoteResponse
        /// Keeps followers from starting elections and carries read-index confirmation `context`.
        case heartbeat
        case heartbeatResponse
        /// InstallSnapshot for a follower whose next entry the leader no longer has.
        case snapshot
        /// Leadership transfer: start an election now, skipping the pre-vote and the leader lease.
        case timeoutNow
        /// A proposal forwarded from a follower to the leader; `logTerm` is the follower's term.
        case propose
        /// A read-index request forwarded from a follower to the leader; `context` identifies it.
        case readIndex
        /// The leader's answer to `readIndex`: reads of `context` may be served once `index` is applied.
        case readIndexResponse
        /// A leadership-transfer request forwarded to the leader, naming the node in `transferee`.
        case transferLeadership
        /// A forwarded proposal's receiver did not append `entries`: it is handing over leadership, leads
        /// another term than the proposer's, is no leader (followers do not relay proposals), or refused a
        /// membership change in them (`reject` set: proposing it again would be refused again).
        case proposalRefused
    }

    public var kind: Kind
    public var from: NodeID
    public var to: NodeID
    public var term: UInt64
    public var logTerm: UInt64 = 0
    public var index: UInt64 = 0
    public var entries: [Entry] = []
    public var commit: UInt64 = 0
    public var reject = false
    public var rejectHint: UInt64 = 0
    public var snapshot: Snapshot?
    /// Opaque bytes: the read request a heartbeat confirms, or the campaign reason of a vote.
    public var context: [UInt8] = []
    /// For `transferLeadership`: the node that should become leader.
    public var transferee: NodeID = 0

    public init(kind: Kind, from: NodeID, to: NodeID, term: UInt64) {
        self.kind = kind
        self.from = from
        self.to = to
        self.term = term
    }

    /// Bytes of entry payload carried, for flow control.
    var payloadSize: Int { entries.reduce(0) { $0 + $1.payloadSize } }
}
