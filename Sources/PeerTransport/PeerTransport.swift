import NIOCore
import NIOPosix
import Raft
import Synchronization

/// Carries Raft messages between members over TCP: one listening socket for incoming connections, and one
/// outgoing connection per peer with a bounded queue, batched writes and reconnection with backoff.
///
/// `send` may be called from any thread; it costs one event-loop hop per peer per call, however many
/// messages it carries. Received messages are handed to `receive` in batches, on an event-loop thread.
public final class PeerTransport: Sendable {
    public struct Limits: Sendable {
        /// Messages waiting for one peer before new ones are dropped (and the peer reported unreachable).
        public var maxQueuedMessages = 4096
        public var maxQueuedBytes = 64 << 20
        public var connectTimeout = TimeAmount.seconds(1)
        public var initialBackoff = TimeAmount.milliseconds(50)
        public var maxBackoff = TimeAmount.seconds(2)
        /// Silence on a connection after which TCP keepalive starts probing, the time between probes, and the
        /// unanswered probes after which it closes (see `PeerSocketOptions`).
        public var keepaliveIdle = TimeAmount.seconds(10)
        public var keepaliveInterval = TimeAmount.seconds(3)
        public var keepaliveProbes = 3
        /// How long sent data may stay unacknowledged before the connection is closed (and made again).
        public var unacknowledgedDataTimeout = TimeAmount.seconds(10)
        /// Snapshot data travels in chunks of this size (see `sendSnapshot`).
        public var snapshotChunkBytes = 1 << 20
        /// How long a snapshot's receiver may take to take one chunk, and to say it has the snapshot after the last.
        public var snapshotAcknowledgementTimeout = TimeAmount.seconds(60)
        /// How long a peer that connected to us has to say who it is before the connection is closed.
        public var helloTimeout = TimeAmount.seconds(10)
        /// Snapshots gathered from peers at once; a connection that would start one more is closed.
        public var maxSnapshotsReceived = 4

        /// The largest frame accepted from a peer: a little more than the largest message a sender queues
        /// (larger ones it drops), so a frame announcing more can only be garbage or an attack.
        var maxFrameBytes: Int { min(maxQueuedBytes, MessageCodec.maxFrameBytes) + (1 << 20) }

        public init() {}
    }

    public let id: NodeID
    let group: EventLoopGroup
    let limits: Limits
    let receive: @Sendable ([Message]) -> Void
    let reportUnreachable: @Sendable (NodeID) -> Void
    let reportDown: @Sendable (NodeID) -> Void
    private let connections = Mutex<[NodeID: PeerConnection]>([:])
    private let listener = Mutex<Channel?>(nil)
    /// Connections peers opened to us; closed on shutdown (closing the listener does not close them).
    let accepted = OpenChannels()
    /// Who this member says it is, first thing on each connection it makes.
    let advertisement: PeerAdvertisement
    /// Peers removed (they left the cluster): their hellos no longer teach us their address.
    private let forgotten = Mutex<Set<NodeID>>([])
    /// Peers whose hello named this member's cluster.
    private let vouched = Mutex<Set<NodeID>>([])
    /// Peers whose address only their own hello told us (the member records have not named them yet).
    private let learned = Mutex<Set<NodeID>>([])
    /// At most this many peers are learned from hellos alone, or vouched for: a member added while we were
    /// away is one of a few; a connection per made-up ID must not grow our tables without end.
    static let maxUnconfirmedPeers = 32

    /// - Parameters:
    ///   - receive: gets every batch of messages received, on an event-loop thread.
    ///   - reportUnreachable: told when a peer cannot be reached or its queue overflowed (feed it to
    ///     `Raft.reportUnreachable`).
    ///   - reportDown: told when the connection to a peer closed and connecting again at once failed: its
    ///     process is most likely gone (feed it to `Raft.reportPeerDown`).
    public init(id: NodeID, group: EventLoopGroup, limits: Limits = Limits(),
                receive: @escaping @Sendable ([Message]) -> Void,
                reportUnreachable: @escaping @Sendable (NodeID) -> Void,
                reportDown: @escaping @Sendable (NodeID) -> Void = { _ in },
                clusterID: UInt64 = 0) {
        self.id = id
        advertisement = PeerAdvertisement(id: id, clusterID: clusterID)
        self.group = group
        self.limits = limits
        self.receive = receive
        self.reportUnreachable = reportUnreachable
        self.reportDown = reportDown
    }

    /// Starts accepting peers' connections on `host`:`port` (0: any free port); returns the bound port.
    @discardableResult
    public func listen(host: String, port: Int) async throws -> Int {
        let receive = self.receive
        let accepted = self.accepted
        let learn: @Sendable (PeerHello) -> Bool = { [weak self] hello in self?.admit(hello) ?? false }
        let limits = self.limits
        let receipts = SnapshotReceipts(limit: limits.maxSnapshotsReceived)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        let channel = try await PeerSocketOptions.applyToAccepted(bootstrap, limits)
            .childChannelInitializer { channel in
                accepted.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(
                        FrameDecoder(maxFrameBytes: limits.maxFrameBytes, receipts: receipts, onHello: learn)))
                    try channel.pipeline.syncOperations.addHandler(HelloDeadline(timeout: limits.helloTimeout))
                    try channel.pipeline.syncOperations.addHandler(InboundBatcher(deliver: receive))
                }
            }
            .bind(host: host, port: port)
            .get()
        listener.withLock { $0 = channel }
        // A bound TCP socket always has a port.
        return channel.localAddress!.port!
    }

    /// Says where this member listens for peers (its advertised peer URL), in a hello on every connection it
    /// makes from now on: a peer that has no address for it learns one.
    public func advertise(host: String, port: Int) {
        advertisement.set(host: host, port: port)
    }

    /// The cluster's ID, once this member knows it (a joining member learns it from the member records): said
    /// on every connection from now on, including those already open.
    public func setClusterID(_ clusterID: UInt64) {
        advertisement.set(clusterID: clusterID)
    }

    /// The cluster's ID as this member says it (0: not known yet).
    public var clusterID: UInt64 { advertisement.clusterID }

    /// Whether `peer` said it is of this member's cluster (both knowing the cluster's ID): its messages count
    /// though it is not in the membership this member knows (it was added while this member was away).
    public func isOfThisCluster(_ peer: NodeID) -> Bool {
        vouched.withLock { $0.contains(peer) }
    }

    /// A peer that connected to us says who it is: refused if it names another cluster; otherwise its
    /// address is used if we know none (it was added while we were away, and its record is in entries we have
    /// not applied yet). A known address stays: the replicated member records decide where a member is.
    func admit(_ hello: PeerHello) -> Bool {
        let ours = advertisement.clusterID
        if hello.clusterID != 0, ours != 0, hello.clusterID != ours { return false }
        // A removed member is neither listened to nor reached again (it may not know it was removed).
        guard hello.id != id, !forgotten.withLock({ $0.contains(hello.id) }) else { return true }
        if hello.clusterID != 0, hello.clusterID == ours {
            vouched.withLock { vouched in
                if vouched.count < Self.maxUnconfirmedPeers { vouched.insert(hello.id) }
            }
        }
        guard hello.hasAddress, connections.withLock({ $0[hello.id] == nil }) else { return true }
        let room = learned.withLock { learned in
            guard learned.count < Self.maxUnconfirmedPeers else { return false }
            learned.insert(hello.id)
            return true
        }
        if room { setPeer(hello.id, host: hello.host, port: hello.port, onlyIfUnknown: true) }
        return true
    }

    /// Sets (or moves) where `peer` is reached; setting the address it already has changes nothing.
    public func setPeer(_ peer: NodeID, host: String, port: Int) {
        forgotten.withLock { _ = $0.remove(peer) }
        learned.withLock { _ = $0.remove(peer) }
        setPeer(peer, host: host, port: port, onlyIfUnknown: false)
    }

    private func setPeer(_ peer: NodeID, host: String, port: Int, onlyIfUnknown: Bool) {
        let connection = PeerConnection(peer: peer, host: host, port: port, eventLoop: group.next(), limits: limits,
                                        advertisement: advertisement,
                                        reportUnreachable: reportUnreachable, reportDown: reportDown)
        let previous = connections.withLock { connections -> PeerConnection? in
            if let current = connections[peer], onlyIfUnknown || (current.host == host && current.port == port) { return nil }
            defer { connections[peer] = connection }
            return connections[peer]
        }
        previous.map { old in old.eventLoop.execute { old.close() } }
    }

    /// Where `peer` is reached, if known.
    func peerAddress(_ peer: NodeID) -> (host: String, port: Int)? {
        connections.withLock { connections in connections[peer].map { ($0.host, $0.port) } }
    }

    /// Stops talking to `peer` (it left the cluster).
    public func removePeer(_ peer: NodeID) {
        forgotten.withLock { _ = $0.insert(peer) }
        vouched.withLock { _ = $0.remove(peer) }
        learned.withLock { _ = $0.remove(peer) }
        let removed = connections.withLock { $0.removeValue(forKey: peer) }
        removed.map { old in old.eventLoop.execute { old.close() } }
    }

    /// Sends messages, grouped per destination. Messages to peers whose address is unknown are dropped and the
    /// peers reported unreachable (so Raft stops streaming to them rather than assume they were delivered).
    public func send(_ messages: [Message]) {
        guard !messages.isEmpty else { return }
        var byPeer: [NodeID: [Message]] = [:]
        for message in messages { byPeer[message.to, default: []].append(message) }
        let targets = connections.withLock { connections in byPeer.keys.compactMap { connections[$0] } }
        if targets.count < byPeer.count {
            let known = Set(targets.map(\.peer))
            for peer in byPeer.keys where !known.contains(peer) { reportUnreachable(peer) }
        }
        for connection in targets {
            // Every target was found under one of byPeer's keys.
            let batch = byPeer[connection.peer]!
            if connection.eventLoop.inEventLoop {
                connection.enqueue(batch)
            } else {
                connection.eventLoop.execute { connection.enqueue(batch) }
            }
        }
    }

    /// Closes the listener and every connection, and returns once each channel is fully closed: NIO removes a
    /// closed channel's handlers in a task of its own, and an event loop group shut down before that task ran
    /// kept the channel, its handlers and the event loop alive for good (a reference cycle LeakSanitizer found).
    public func shutdown() async {
        let all = connections.withLock { connections in
            defer { connections = [:] }
            return Array(connections.values)
        }
        for connection in all {
            try? await connection.eventLoop.flatSubmit { connection.close() }.get()
        }
        let channel = listener.withLock { channel in
            defer { channel = nil }
            return channel
        }
        if let channel {
            channel.close(promise: nil)
            try? await channel.closeFuture.get()
        }
        await accepted.closeAll()
    }
}
