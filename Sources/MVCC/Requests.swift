// The store's requests and responses, shaped like etcd's etcdserverpb messages so the API layer maps them
// field for field. They are plain values, independent of any wire format.

public struct PutRequest: Sendable, Hashable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var lease: Int64
    public var prevKV: Bool
    /// Keep the current value; the request's value must be empty.
    public var ignoreValue: Bool
    /// Keep the current lease; the request's lease must be 0.
    public var ignoreLease: Bool

    public init(key: [UInt8], value: [UInt8], lease: Int64 = 0, prevKV: Bool = false,
                ignoreValue: Bool = false, ignoreLease: Bool = false) {
        self.key = key
        self.value = value
        self.lease = lease
        self.prevKV = prevKV
        self.ignoreValue = ignoreValue
        self.ignoreLease = ignoreLease
    }
}

public struct PutResponse: Sendable, Hashable {
    public var revision: Int64
    public var prevKV: KeyValue?

    public init(revision: Int64, prevKV: KeyValue?) {
        self.revision = revision
        self.prevKV = prevKV
    }
}

public struct RangeRequest: Sendable, Hashable {
    public enum SortOrder: Sendable, Hashable { case none, ascend, descend }
    public enum SortTarget: Sendable, Hashable { case key, version, create, mod, value }

    public var range: KeyRange
    /// At most this many keys (0: no limit); `more` tells whether there were others.
    public var limit: Int64 = 0
    /// The revision to read at; 0 reads the current one.
    public var revision: Int64 = 0
    public var sortOrder = SortOrder.none
    public var sortTarget = SortTarget.key
    public var keysOnly = false
    public var countOnly = false
    public var minModRevision: Int64 = 0
    public var maxModRevision: Int64 = 0
    public var minCreateRevision: Int64 = 0
    public var maxCreateRevision: Int64 = 0

    public init(range: KeyRange, limit: Int64 = 0, revision: Int64 = 0) {
        self.range = range
        self.limit = limit
        self.revision = revision
    }
}

public struct RangeResponse: Sendable, Hashable {
    /// The store's current revision (the response header's), not the revision read at.
    public var revision: Int64
    public var kvs: [KeyValue]
    public var more: Bool
    /// Keys in the range at the revision read, regardless of limit and of the revision filters.
    public var count: Int64

    public init(revision: Int64, kvs: [KeyValue], more: Bool, count: Int64) {
        self.revision = revision
        self.kvs = kvs
        self.more = more
        self.count = count
    }
}

public struct DeleteRangeRequest: Sendable, Hashable {
    public var range: KeyRange
    public var prevKV: Bool

    public init(range: KeyRange, prevKV: Bool = false) {
        self.range = range
        self.prevKV = prevKV
    }
}

public struct DeleteRangeResponse: Sendable, Hashable {
    public var revision: Int64
    public var deleted: Int64
    public var prevKVs: [KeyValue]

    public init(revision: Int64, deleted: Int64, prevKVs: [KeyValue]) {
        self.revision = revision
        self.deleted = deleted
        self.prevKVs = prevKVs
    }
}

public struct Compare: Sendable, Hashable {
    public enum Result: Sendable, Hashable { case equal, greater, less, notEqual }
    public enum Target: Sendable, Hashable {
        case version(Int64)
        case createRevision(Int64)
        case modRevision(Int64)
        case value([UInt8])
        case lease(Int64)
    }

    /// The key or keys compared; every key in a range must satisfy the comparison.
    public var range: KeyRange
    public var result: Result
    public var target: Target

    public init(range: KeyRange, result: Result, target: Target) {
        self.range = range
        self.result = result
        self.target = target
    }
}

public indirect enum RequestOp: Sendable, Hashable {
    case range(RangeRequest)
    case put(PutRequest)
    case deleteRange(DeleteRangeRequest)
    case txn(TxnRequest)
}

public indirect enum ResponseOp: Sendable, Hashable {
    case range(RangeResponse)
    case put(PutResponse)
    case deleteRange(DeleteRangeResponse)
    case txn(TxnResponse)
}

public struct TxnRequest: Sendable, Hashable {
    public var compare: [Compare]
    public var success: [RequestOp]
    public var failure: [RequestOp]

    public init(compare: [Compare] = [], success: [RequestOp] = [], failure: [RequestOp] = []) {
        self.compare = compare
        self.success = success
        self.failure = failure
    }
}

public struct TxnResponse: Sendable, Hashable {
    public var revision: Int64
    public var succeeded: Bool
    public var responses: [ResponseOp]

    public init(revision: Int64, succeeded: Bool, responses: [ResponseOp]) {
        self.revision = revision
        self.succeeded = succeeded
        self.responses = responses
    }
}

public struct LeaseGrantResponse: Sendable, Hashable {
    public var revision: Int64
    public var id: Int64
    public var ttl: Int64

    public init(revision: Int64, id: Int64, ttl: Int64) {
        self.revision = revision
        self.id = id
        self.ttl = ttl
    }
}

/// A keep-alive that went through the log: the lease exists, and renews to its granted TTL. It says what a grant
/// says (revision, lease, TTL), so it is the same type.
public typealias LeaseKeepAliveResponse = LeaseGrantResponse

public struct LeaseRevokeResponse: Sendable, Hashable {
    public var revision: Int64

    public init(revision: Int64) {
        self.revision = revision
    }
}

public struct CompactResponse: Sendable, Hashable {
    public var revision: Int64

    public init(revision: Int64) {
        self.revision = revision
    }
}

/// A state-changing command, applied in Raft log order. Everything a command does is decided by the command and
/// the store's state: no clock, no randomness, so every member computes the same result.
public enum MVCCCommand: Sendable, Hashable {
    case put(PutRequest)
    case deleteRange(DeleteRangeRequest)
    case txn(TxnRequest)
    case compact(revision: Int64)
    /// Grants a lease; an `id` of 0 lets the store choose one (deterministically, from the Raft index).
    case leaseGrant(id: Int64, ttl: Int64)
    /// Revokes a lease and deletes its keys, at one revision. Also how a lease expires: the leader's clock
    /// decides, and the revoke goes through the log like any other command.
    case leaseRevoke(id: Int64)
    /// Renews a lease. It changes no state here: it is in the log so that every member renews the lease at
    /// the same point of the history (a keep-alive ordered after a revoke fails), whichever member received it.
    case leaseKeepAlive(id: Int64)
    /// Creates or changes a member's record (see `MemberRecord`).
    case memberUpdate(MemberRecord.Update)
    case memberRemove(id: UInt64)
    /// Raises (or clears) an alarm.
    case alarm(Alarm, raise: Bool)
}

/// What applying a command produced.
public enum MVCCResponse: Sendable, Hashable {
    case put(PutResponse)
    case deleteRange(DeleteRangeResponse)
    case txn(TxnResponse)
    case compact(CompactResponse)
    case leaseGrant(LeaseGrantResponse)
    case leaseRevoke(LeaseRevokeResponse)
    case leaseKeepAlive(LeaseKeepAliveResponse)
    /// The member's record after the change (nil once removed).
    case member(MemberRecord?)
    /// The alarms raised after the change.
    case alarms([Alarm])
}

/// The outcome of `MVCCStore.apply`: either the entry had been applied before (so nothing happened again), or
/// it was applied now with a response or a refusal. A refused command still consumes its Raft index.
public enum ApplyOutcome: Sendable, Hashable {
    case alreadyApplied
    case applied(Result<MVCCResponse, MVCCError>)
}
