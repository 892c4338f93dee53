import MVCC
import Raft

/// Where a member listens for its peers.
public struct PeerAddress: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `http://host:port` (a trailing slash allowed; `localhost` means 127.0.0.1); nil for anything else.
    public init?(url: String) {
        var rest = Substring(url)
        guard rest.hasPrefix("http://") else { return nil }
        rest = rest.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
              (1...65535).contains(port) else { return nil }
        var host = String(rest[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains("/") else { return nil }
        self.init(host: host == "localhost" ? "127.0.0.1" : host, port: port)
    }
}

/// How one store member runs.
public struct MemberConfiguration: Sendable {
    public var id: NodeID
    /// Holds `raft/` (the durable Raft log) and `mvcc/` (the key-value state).
    public var dataDirectory: String
    /// The peer listener; port 0 picks a free port (see `StoreMember.listen`).
    public var peerHost = "127.0.0.1"
    public var peerPort = 0
    /// Where peers reach this member (its advertised peer URL), if not the peer listener itself (a proxy in
    /// between, another interface). Told to every peer it connects to (see `PeerTransport.advertise`).
    public var advertisedPeer: PeerAddress?
    /// The cluster's ID, when known at start (0 for a member joining, which learns it from the member records).
    public var clusterID: UInt64 = 0
    /// One Raft tick (etcd's --heartbeat-interval).
    public var tickInterval = Duration.milliseconds(100)
    /// Ticks without a leader before an election (etcd's --election-timeout / --heartbeat-interval).
    public var electionTicks = 10
    /// Ticks a linearizable read waits for its read point before it is asked for again (etcd: 500 ms).
    public var readRetryTicks = 5
    /// How long a request waits for its entry to be applied (or its read point) before giving up.
    public var requestTimeout = Duration.seconds(5)
    /// Writes submitted here and not yet answered beyond which new ones are refused at once with "etcdserver:
    /// too many requests" (etcd refuses proposals once applying is 5,000 entries behind committing): a flood of
    /// writes, or applying that fell far behind, then costs the clients a retry rather than the member its memory.
    public var maxPendingWrites = 20_000
    /// The same bound on the bytes of those writes' commands.
    public var maxPendingWriteBytes = 512 << 20
    /// Applied entries between log compactions (etcd's --snapshot-count): the log is cut at a snapshot point
    /// and a member that falls behind it catches up by snapshot.
    public var snapshotCount: UInt64 = 100_000
    /// Entries kept below the snapshot point, so a member a few seconds behind still catches up from the log.
    /// etcd keeps 5,000: at 1,400 writes/s a member killed and restarted (3.7 s away) missed 5,200, and the
    /// full snapshot it needed instead (43 MB) kept the cluster from committing for 3 s when the leader died
    /// next. 20 bytes of memory an entry (see `DurableRaftLog`).
    public var snapshotCatchUpEntries: UInt64 = 50_000
    /// Ticks at most that the leader keeps the log whole after a snapshot's point while the follower it was
    /// sent to installs it (10 minutes at the default tick).
    public var snapshotHoldTicks: UInt64 = 6_000
    /// Bytes allocated for each Raft log segment file (small only in tests, to roll and remove segments often).
    public var logSegmentSize = DurableRaftLog.defaultSegmentSize
    /// The store's options. Applied entries are not written to the MVCC store's WAL one by one: they are
    /// handed to the OS once per batch, and the Raft log, which has them durably, is cut only after an fsync of
    /// the store (`compactLogIfDue`), so a crash at any point is repaired by replaying the log.
    public var mvcc: MVCCOptions = {
        var options = MVCCOptions()
        options.database.manualWALFlush = true
        return options
    }()

    public init(id: NodeID, dataDirectory: String) {
        self.id = id
        self.dataDirectory = dataDirectory
    }
}

/// Why a request could not be served; the descriptions are etcd's messages for the same conditions.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case timeout
    case noLeader
    case stopped
    case leaderChanged
    case tooManyRequests

    public var description: String {
        switch self {
        case .timeout: return "etcdserver: request timed out"
        case .noLeader: return "etcdserver: no leader"
        case .stopped: return "etcdserver: server stopped"
        case .leaderChanged: return "etcdserver: leader changed"
        case .tooManyRequests: return "etcdserver: too many requests"
        }
    }
}

/// A member's view of the cluster, refreshed after every Raft step.
public struct MemberStatus: Sendable, Equatable {
    public var id: NodeID
    public var leader: NodeID
    public var term: UInt64
    public var role: Role
    public var committedIndex: UInt64
    public var appliedIndex: UInt64
    public var membership: Membership
    /// Raft messages refused because their sender is not a member (or they were addressed to another member).
    public var ignoredMessages: UInt64 = 0
    /// Snapshots this member sent to members behind its log, since it started.
    public var snapshotsSent: UInt64 = 0
    /// This member applied its own removal from the cluster (by a log entry or a snapshot): it takes no further
    /// part and should stop, as etcd's removed members do.
    public var isRemoved = false
}
