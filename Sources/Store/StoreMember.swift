import Dispatch
import Logging
import MVCC
import NIOCore
import NIOPosix
import PeerTransport
import Raft
import Storage
import Synchronization

/// One member of a replicated store: Raft over a durable log of segment files, the MVCC state machine it feeds, and
/// the transport to the other members.
///
/// All Raft work happens on one thread (`RaftLoop`). Requests and peer messages are collected in an inbox
/// and handled together, so one Raft `Ready` and one fsync serve every request that arrived meanwhile (group
/// commit); the leader sends its appends before its own fsync.
public final class StoreMember: Sendable {
    public let id: NodeID
    public let configuration: MemberConfiguration
    /// The state machine, for reads and watches.
    public let mvcc: MVCCStore
    let loop: RaftLoop
    let transport: PeerTransport
    /// The thread of `loop` and `transport`; shut down by `stop`.
    let raftThread: MultiThreadedEventLoopGroup

    /// Opens (or creates) the member's data. `voters` is the initial membership of a new cluster; a member
    /// restarting from its data directory ignores it.
    public init(configuration: MemberConfiguration, voters: Set<NodeID>, group: EventLoopGroup) throws {
        id = configuration.id
        self.configuration = configuration
        let mvccPath = configuration.dataDirectory + "/mvcc"
        var opened: MVCCStore? = try MVCCStore(directory: mvccPath, options: configuration.mvcc)
        let logDirectory = configuration.dataDirectory + "/raft-log"
        try DurableRaftLog.importRocksDBLog(from: configuration.dataDirectory + "/raft", into: logDirectory,
                                                membership: Membership(voters: voters))
        let log = try DurableRaftLog(directory: logDirectory, membership: Membership(voters: voters),
                                     segmentSize: configuration.logSegmentSize)
        // Safe to force: just opened.
        if opened!.isIncomplete || opened!.appliedIndex < log.snapshot.metadata.index {
            // The store was cut off while restoring a snapshot (or lost what the log no longer holds): start it
            // empty and let the leader send a snapshot again.
            Logger(label: "podium.store.\(configuration.id)").warning("store state unusable; waiting for a snapshot from the leader")
            opened = nil
            try Database.destroy(path: mvccPath)
            opened = try MVCCStore(directory: mvccPath, options: configuration.mvcc)
            try log.discardLog(membership: log.snapshot.metadata.membership)
        }
        // Safe to force: assigned on every path above.
        mvcc = opened!
        // Raft and the peer connections share one thread of their own: messages reach the socket and Raft without
        // a thread hop, and client connections (on `group`) never wait behind the log's fsync.
        raftThread = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = try RaftLoop(configuration: configuration, log: log, mvcc: mvcc, eventLoop: raftThread.next())
        self.loop = loop
        transport = PeerTransport(id: configuration.id, group: raftThread,
                                  receive: { [weak loop] messages in loop?.submit(.messages(messages)) },
                                  reportUnreachable: { [weak loop] peer in loop?.submit(.unreachable(peer)) },
                                  reportDown: { [weak loop] peer in loop?.submit(.peerDown(peer)) },
                                  clusterID: configuration.clusterID != 0 ? configuration.clusterID : mvcc.clusterID ?? 0)
        loop.transport = transport
    }

    /// Starts accepting peer connections; returns the port (useful with port 0).
    public func listen() async throws -> Int {
        let port = try await transport.listen(host: configuration.peerHost, port: configuration.peerPort)
        let advertised = configuration.advertisedPeer ?? PeerAddress(host: configuration.peerHost, port: port)
        transport.advertise(host: advertised.host, port: advertised.port)
        return port
    }

    /// Says where peers reach this member, when only known after `listen` (a proxy's port picked then).
    public func advertise(_ address: PeerAddress) {
        transport.advertise(host: address.host, port: address.port)
    }

    /// Tells the member where its peers are. Members recorded in the store (added since the cluster started, or
    /// moved by a member update) are reached at their recorded address instead.
    public func setPeers(_ peers: [NodeID: PeerAddress]) {
        let all = peers.merging(mvcc.recordedPeerAddresses()) { _, recorded in recorded }
        for (peer, address) in all where peer != id {
            transport.setPeer(peer, host: address.host, port: address.port)
        }
    }

    /// Proposes a membership change; `completion` runs once it is applied here (`status.membership` follows at
    /// the end of that step), refused, or out of time (the request timeout). One change at a time.
    public func proposeConfigurationChange(_ change: ConfigurationChange,
                                           completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        loop.submit(.proposeConfigurationChange(change, completion: completion))
    }

    /// Starts the clock: elections and heartbeats begin.
    public func start() {
        loop.start()
    }

    /// Stops the member: pending requests fail with `StoreError.stopped`, connections close. The data stays.
    public func stop() async {
        loop.stop()
        await transport.shutdown()
        try? await raftThread.shutdownGracefully()
    }

    public var status: MemberStatus { loop.status.withLock { $0 } }

    /// Replicates a command and returns its result once applied on this member. Refusals that need no state
    /// (empty key, value too large, ...) are reported without touching the log, as etcd does.
    public func apply(_ command: MVCCCommand) async throws -> MVCCResponse {
        try await withCheckedThrowingContinuation { continuation in
            apply(command) { continuation.resume(with: $0) }
        }
    }

    /// `apply` without a task: `completion` runs once, on the Raft loop's thread (or at once for a refusal).
    public func apply(_ command: MVCCCommand, completion: @escaping WriteCompletion) {
        do {
            try command.validate(mvcc.options)
        } catch {
            completion(.failure(error))
            return
        }
        let requestID = UInt64.random(in: 1...UInt64.max)
        let data = CommandCodec.encode(requestID: requestID, command)
        let deadline = ContinuousClock.now + configuration.requestTimeout
        loop.propose(requestID: requestID, data: data, deadline: deadline, completion: completion)
    }

    /// Waits until a linearizable read may be served here (ReadIndex confirmed and applied); `completion` runs
    /// once, on the Raft loop's thread.
    public func awaitReadPoint(completion: @escaping ReadCompletion) {
        loop.submit(.read(completion: completion, deadline: ContinuousClock.now + configuration.requestTimeout))
    }

    /// Asks the leader to hand leadership to `member`; `completion` says whether the request was taken (the
    /// handover itself follows within an election timeout, or is abandoned).
    public func transferLeadership(to member: NodeID, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        loop.submit(.transferLeadership(to: member, completion: completion))
    }

    /// Whole seconds lease `id` has left by this member's clock (rounded up), or -1 when it is unknown here.
    public func leaseRemainingSeconds(_ id: Int64) -> Int64 {
        loop.leases.remainingSeconds(id)
    }

    /// Calls `completion` once every compaction applied so far has been purged physically (superseded versions
    /// removed from storage), for compactions that ask to wait for it.
    public func afterPurges(_ completion: @escaping @Sendable () -> Void) {
        loop.eventLoop.execute { self.loop.purgeQueue.async(execute: completion) }
    }

    /// Reads keys. Linearizable reads wait for a read point confirmed by a quorum (ReadIndex) and for this
    /// member to apply up to it; serializable reads answer from local state at once.
    public func range(_ request: RangeRequest, linearizable: Bool = true) async throws -> RangeResponse {
        if linearizable {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                awaitReadPoint { continuation.resume(with: $0) }
            }
        }
        return try mvcc.range(request)
    }
}
