/// A member of the cluster. 0 means "none" wherever a node is optional (no leader, no vote).
public typealias NodeID = UInt64

/// One entry of the replicated log.
public struct Entry: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Application data (possibly empty: a new leader appends one to commit its predecessors' entries).
        case normal
        /// A membership change; `data` is its encoding (see `ConfigurationChange`).
        case configurationChange
    }

    public var term: UInt64
    public var index: UInt64
    public var kind: Kind
    public var data: [UInt8]

    public init(term: UInt64, index: UInt64, kind: Kind = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
    }

    /// The size counted against message and in-flight byte limits.
    var payloadSize: Int { data.count }
}

/// What must survive a crash besides the log: the current term, the vote cast in it, and the commit index.
public struct HardState: Sendable, Hashable {
    public var term: UInt64
    public var vote: NodeID
    public var commit: UInt64

    public init(term: UInt64 = 0, vote: NodeID = 0, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// Where a snapshot cuts the log, and the membership at that point.
public struct SnapshotMetadata: Sendable, Hashable {
    public var index: UInt64
    public var term: UInt64
    public var membership: Membership

    public init(index: UInt64, term: UInt64, membership: Membership) {
        self.index = index
        self.term = term
        self.membership = membership
    }
}

/// The application's state as of `metadata.index`, replacing the log up to there.
public struct Snapshot: Sendable, Hashable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata, data: [UInt8]) {
        self.metadata = metadata
        self.data = data
    }
}
