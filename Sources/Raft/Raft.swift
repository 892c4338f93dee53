/// One member's Raft state machine: pure logic, no I/O, no clock, no threads.
///
/// Inputs are `tick()` (the caller's clock), `step(_:)` (a message from a peer) and the local requests
/// (`propose`, `readIndex`, `transferLeadership`, `campaign`). Outputs are collected into a `Ready`, which the
/// caller acts on and hands back with `advance(_:)`. The same inputs always produce the same outputs.
public struct Raft {
    public let id: NodeID
    let configuration: RaftConfiguration
    public internal(set) var term: UInt64
    public internal(set) var vote: NodeID
    public internal(set) var leader: NodeID = 0
    public internal(set) var role = Role.follower
    var log: ReplicatedLog
    public internal(set) var membership: Membership
    var progress: [NodeID: Progress] = [:]
    var votes: [NodeID: Bool] = [:]
    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    /// The member leadership is being handed to, or 0.
    var transferee: NodeID = 0
    /// The index of the last membership change proposed; another may be proposed once it is applied.
    var pendingConfigurationIndex: UInt64 = 0
    var reads = ReadIndexQueue()
    /// Ticks until this follower campaigns because its connection to the leader was lost (nil: no such hint).
    var hintedCampaignIn: Int?
    /// After how many ticks a pre-vote lost after such a hint is tried once more (nil: it is not; see
    /// `reportPeerDown`).
    var hintedCampaignRetry: Int?
    /// The campaign under way was started by such a hint (its vote requests say so).
    var campaignHinted = false
    /// Read requests that arrived before this leader committed an entry of its own term.
    var deferredReads: [Message] = []
    var outbox: [Message] = []
    var outboxAfterPersist: [Message] = []
    var readStates: [ReadState] = []
    var refusedProposals: [Entry] = []
    var refusedChanges: [Entry] = []
    var random: SplitMix64
    var lastHardState: HardState
    var lastSoftState: SoftState

    /// Restores a member from what `storage` holds (a fresh member has an empty log and the initial
    /// membership in its snapshot metadata).
    public init(configuration: RaftConfiguration, storage: RaftLogStorage) {
        precondition(configuration.id != 0, "node ID 0 means none")
        precondition(configuration.heartbeatTicks > 0 && configuration.electionTicks > configuration.heartbeatTicks,
                     "election ticks must exceed heartbeat ticks")
        id = configuration.id
        self.configuration = configuration
        log = ReplicatedLog(storage: storage)
        let hardState = storage.hardState
        term = hardState.term
        vote = hardState.vote
        membership = storage.snapshot.metadata.membership
        random = SplitMix64(seed: configuration.randomSeed ^ configuration.id &* 0x9E37_79B9_7F4A_7C15)
        lastHardState = hardState
        lastSoftState = SoftState(leader: 0, role: .follower)
        becomeFollower(term: term, leader: 0)
    }

    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    public var softState: SoftState { SoftState(leader: leader, role: role) }
    public var committedIndex: UInt64 { log.committed }
    public var appliedIndex: UInt64 { log.applied }
    public var lastIndex: UInt64 { log.lastIndex }

    /// The entries of `range` as this member's log holds them (persisted or not); nil if compacted.
    public func entries(_ range: Range<UInt64>) -> [Entry]? {
        log.entries(from: range.lowerBound, to: range.upperBound, maxBytes: .max)
    }

    /// The term of entry `index` in this member's log, or nil when it is compacted or beyond the end.
    public func term(at index: UInt64) -> UInt64? { log.term(at: index) }

    var isVoter: Bool { membership.isVoter(id) }

    // MARK: role changes

    mutating func reset(term newTerm: UInt64) {
        if term != newTerm {
            term = newTerm
            vote = 0
        }
        leader = 0
        electionElapsed = 0
        heartbeatElapsed = 0
        randomizedElectionTimeout = configuration.electionTicks
            + Int(random.next() % UInt64(configuration.electionTicks))
        transferee = 0
        votes = [:]
        hintedCampaignIn = nil
        hintedCampaignRetry = nil
        reads = ReadIndexQueue()
        deferredReads = []
        progress = [:]
        for member in membership.members { progress[member] = newProgress() }
    }

    func newProgress() -> Progress {
        Progress(next: log.lastIndex + 1,
                 inflights: Inflights(maxMessages: configuration.maxInflightMessages,
                                      maxBytes: configuration.maxInflightBytes))
    }

    mutating func becomeFollower(term: UInt64, leader: NodeID) {
        reset(term: term)
        self.leader = leader
        role = .follower
    }

    mutating func becomePreCandidate() {
        precondition(role != .leader, "a leader cannot pre-campaign")
        // Neither the term nor the vote changes: a lost pre-vote leaves no trace.
        votes = [:]
        leader = 0
        role = .preCandidate
    }

    mutating func becomeCandidate() {
        precondition(role != .leader, "a leader cannot campaign")
        reset(term: term + 1)
        vote = id
        role = .candidate
    }

    mutating func becomeLeader() {
        precondition(role == .candidate, "only a candidate wins an election")
        reset(term: term)
        leader = id
        role = .leader
        for member in progress.keys where member != id {
            progress[member]?.recentActive = true
        }
        progress[id]?.recentActive = true
        progress[id]?.match = log.persistedIndex
        progress[id]?.becomeReplicate()
        // Any membership change in the uncommitted tail may still be pending.
        pendingConfigurationIndex = log.lastIndex
        // An empty entry of the new term: committing it commits every earlier entry (§5.4.2).
        appendEntries([Entry(term: term, index: 0)])
        broadcastAppend()
    }

    // MARK: messages out

    /// Queues a message. The leader's replication traffic may leave before persistence; everything else
    /// (votes, acknowledgements, requests sent by non-leaders) waits until the state it reports is on disk.
    mutating func send(_ message: Message) {
        let leaderTraffic: Set<Message.Kind> = [.append, .heartbeat, .snapshot, .timeoutNow, .readIndexResponse]
        if role == .leader && leaderTraffic.contains(message.kind) {
            outbox.append(message)
        } else {
            outboxAfterPersist.append(message)
        }
    }

    func message(_ kind: Message.Kind, to: NodeID) -> Message {
        Message(kind: kind, from: id, to: to, term: term)
    }
}

/// splitmix64: a tiny deterministic generator. Raft draws its election timeouts from it; the simulator its
/// fault schedules, so a seed replays exactly.
public struct SplitMix64: Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Raft {
    /// The first index this member still holds as an entry (earlier ones are in its snapshot).
    public var firstLogIndex: UInt64 { log.firstIndex }
}
