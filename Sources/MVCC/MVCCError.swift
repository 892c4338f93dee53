/// A request the store refused. The descriptions are etcd's own messages, so that the API layer can hand them
/// to etcd clients unchanged and clients react as they do with etcd.
public enum MVCCError: Error, Sendable, Hashable, CustomStringConvertible {
    case emptyKey
    case keyNotFound
    case valueProvided
    case leaseProvided
    case tooManyOperations
    case duplicateKey
    /// The revision asked for is older than the compaction point; carries that point.
    case compacted(compactRevision: Int64)
    case futureRevision
    case requestTooLarge
    case noSpace
    case leaseNotFound
    case leaseExists
    case leaseTTLTooLarge
    /// A member record for an ID that was removed: as in etcd, a removed ID is never used again (see
    /// `MVCCStore.wasRemoved`).
    case memberRemoved

    public var description: String {
        switch self {
        case .emptyKey: return "etcdserver: key is not provided"
        case .keyNotFound: return "etcdserver: key not found"
        case .valueProvided: return "etcdserver: value is provided"
        case .leaseProvided: return "etcdserver: lease is provided"
        case .tooManyOperations: return "etcdserver: too many operations in txn request"
        case .duplicateKey: return "etcdserver: duplicate key given in txn request"
        case .compacted: return "etcdserver: mvcc: required revision has been compacted"
        case .futureRevision: return "etcdserver: mvcc: required revision is a future revision"
        case .requestTooLarge: return "etcdserver: request is too large"
        case .noSpace: return "etcdserver: mvcc: database space exceeded"
        case .leaseNotFound: return "etcdserver: requested lease not found"
        case .leaseExists: return "etcdserver: lease already exists"
        case .leaseTTLTooLarge: return "etcdserver: too large lease TTL"
        case .memberRemoved:
            return "etcdserver: ID removed (a removed member's ID is never reused; add the member with other peer URLs)"
        }
    }
}
