/// A raised alarm, as etcd's Maintenance.Alarm reports it. Alarms are replicated state: every member refuses
/// the same writes while one is raised.
public struct Alarm: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, Hashable {
        /// The store outgrew its quota: writes that add data are refused until an operator frees space and
        /// disarms the alarm.
        case noSpace = 1
        case corrupt = 2
    }

    public var memberID: UInt64
    public var kind: Kind

    public init(memberID: UInt64, kind: Kind) {
        self.memberID = memberID
        self.kind = kind
    }

    var key: [UInt8] {
        Array("alarm/".utf8) + StorageLayout.bigEndian(Int64(bitPattern: memberID)) + [kind.rawValue]
    }

    static let keyPrefix = Array("alarm/".utf8)
}

extension TxnRequest {
    /// Whether any branch, however nested, puts (what a store over its quota refuses, as etcd does).
    var containsPut: Bool {
        (success + failure).contains { op in
            switch op {
            case .put: return true
            case .range, .deleteRange: return false
            case .txn(let nested): return nested.containsPut
            }
        }
    }
}

extension MVCCCommand {
    /// Whether the command adds data: what a store under a NOSPACE alarm refuses (deletes, compaction and
    /// revokes free space and stay allowed, as in etcd).
    public var addsData: Bool {
        switch self {
        case .put, .leaseGrant: return true
        case .txn(let request): return request.containsPut
        case .deleteRange, .compact, .leaseRevoke, .leaseKeepAlive, .memberUpdate, .memberRemove, .alarm: return false
        }
    }
}
