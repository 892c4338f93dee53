/// The fault schedule's knobs. Probabilities are per simulation step.
public struct SimulationOptions: Sendable {
    public var nodes = 3
    /// Nodes outside the initial membership, which membership changes may add (a member joining an existing
    /// cluster: it knows the initial members, and they learn its address only from the change that adds it).
    public var spareNodes = 1
    /// Messages in flight on one link beyond which new ones are dropped and the sender told the peer is
    /// unreachable, as the transport's bounded per-peer queue does.
    public var linkCapacity = 24
    /// Steps of the faulty phase; then the network heals and liveness is checked.
    public var steps = 600
    public var electionTicks = 10
    public var dropRate = 0.05
    public var duplicateRate = 0.02
    /// Messages are delayed by 0 up to this many steps (so they also arrive out of order).
    public var maxDelay = 3
    public var crashRate = 0.004
    public var restartRate = 0.05
    public var partitionRate = 0.006
    /// A live member is told its leader's connection was lost while the leader runs.
    public var falsePeerDownRate = 0.005
    public var healRate = 0.03
    public var proposeRate = 0.25
    public var readRate = 0.08
    /// Ticks a member waits for a read point before asking again (as the store's shell does).
    public var readRetryTicks = 5
    public var transferRate = 0.003
    public var compactRate = 0.01
    /// Membership changes proposed by the leader: remove a voter, add a learner, promote one, re-add a voter.
    public var membershipChangeRate = 0.01
    /// Steps after applying a removal before a node's transport forgets the removed peer (the shell: 2 s).
    public var forgetRemovedAfter = 20
    /// Steps allowed after healing for a leader to emerge and a proposal to reach every node.
    public var livenessSteps = 400
    /// Keep a trace of events to print with a violation (slower).
    public var trace = false

    public init() {}
}

/// Why a schedule failed.
public struct Violation: Error, CustomStringConvertible, Sendable {
    public var seed: UInt64
    public var step: Int
    public var what: String
    public var trace: [String]

    public var description: String {
        var text = "seed \(seed), step \(step): \(what)"
        if !trace.isEmpty { text += "\n  last events:\n    " + trace.suffix(60).joined(separator: "\n    ") }
        return text
    }
}

/// What a passing schedule did, to show the schedules are not vacuous.
public struct SimulationStats: Sendable {
    public var committedEntries = 0
    public var elections = 0
    public var crashes = 0
    public var partitions = 0
    public var reads = 0
    public var snapshotsSent = 0
    public var membershipChanges = 0
    /// Messages the modelled transport dropped: no address for the peer, or its link full.
    public var transportDrops = 0
}
