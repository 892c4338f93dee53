/// The role a member plays and the leader it knows: volatile, never persisted.
public struct SoftState: Sendable, Hashable {
    public var leader: NodeID
    public var role: Role
}

public enum Role: Sendable, Hashable {
    case follower, preCandidate, candidate, leader
}

/// The answer to a read-index request: reads tagged `context` are linearizable once `index` is applied.
public struct ReadState: Sendable, Hashable {
    public var index: UInt64
    public var context: [UInt8]

    public init(index: UInt64, context: [UInt8]) {
        self.index = index
        self.context = context
    }
}

/// Everything Raft needs its caller to do, in this order: persist `hardState`, `entries` and `snapshot`
/// (entries may replace a persisted suffix); send `messagesAfterPersist` (`messages` may be sent at once, even
/// before persisting: the leader's appends go out while it writes its own log); apply `snapshot`, then
/// `committedEntries`; then call `Raft.advance(_:)`. No other Raft method may be called in between.
public struct Ready: Sendable {
    public var softState: SoftState?
    public var hardState: HardState?
    public var entries: [Entry]
    public var snapshot: Snapshot?
    public var committedEntries: [Entry]
    public var messages: [Message]
    public var messagesAfterPersist: [Message]
    public var readStates: [ReadState]
    /// Entries this member forwarded that the leader (or whoever it took for the leader) did not append: they
    /// will not commit from that proposal, and may be proposed again (once the leader is known, or has
    /// finished handing over). Each one's `term` is the term it was forwarded in, so a refusal that arrives
    /// after the proposal was forwarded again is not taken for a refusal of the later forwarding.
    public var refusedProposals: [Entry]
    /// Membership changes this member forwarded that the leader refused for good (another is pending, or the
    /// change does not apply): proposing them again would be refused again.
    public var refusedChanges: [Entry]
}

/// Why a request could not be taken.
public enum RaftError: Error, Sendable, Hashable {
    /// No leader is known to forward a proposal to, or the leader is handing over leadership.
    case proposalDropped
    /// This member is not a voter of the configuration (it cannot campaign, or be transferred leadership).
    case notAVoter
    /// A membership change was proposed while another is still not applied, or it does not apply to the
    /// current membership (see `ConfigurationChange.Refusal`).
    case configurationChangeRefused
}
