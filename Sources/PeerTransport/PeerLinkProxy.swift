import NIOCore
import NIOPosix
import Synchronization

/// Sits on the peer links of a test cluster (`podium chaos`) to cut, slow or one-way them. Every member advertises a port of
/// this proxy as its peer URL, so each connection a member opens to another ends here and is forwarded to the
/// other's real peer port. Peer connections carry one member's Raft messages in frames (4-byte length, then the
/// message, whose sender ID follows its kind byte); the proxy learns the sender from the first message and then
/// forwards, delays or drops whole frames by the link's current fault, so a healed link carries a well-formed
/// stream again.
public final class PeerLinkProxy: Sendable {
    public enum LinkFault: Sendable, Equatable {
        case drop
        case delay(TimeAmount)
    }

    struct Link: Hashable, Sendable {
        var from: UInt64
        var to: UInt64
    }

    private let group: EventLoopGroup
    private let faults = Mutex<[Link: LinkFault]>([:])
    private let listeners = Mutex<[Channel]>([])
    /// Every proxied connection, both ends: closed on shutdown.
    let connections = OpenChannels()
    private let dropped = Atomic<Int>(0)

    /// Frames dropped so far by `.drop` faults.
    public var droppedFrames: Int { dropped.load(ordering: .relaxed) }

    func countDropped(_ frames: Int) {
        dropped.add(frames, ordering: .relaxed)
    }

    public init(group: EventLoopGroup) {
        self.group = group
    }

    /// Starts forwarding `listenPort` (0: any free port) to `targetPort`, the real peer port of member
    /// `memberID`; returns the port listened on.
    @discardableResult
    public func forward(listenPort: Int, to targetPort: Int, memberID: UInt64) async throws -> Int {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] inbound in
                connections.add(inbound)
                return inbound.eventLoop.makeCompletedFuture {
                    try inbound.pipeline.syncOperations.addHandler(
                        LinkHandler(proxy: self, destination: memberID, targetPort: targetPort, group: group))
                }
            }
            .bind(host: "127.0.0.1", port: listenPort)
            .get()
        listeners.withLock { $0.append(listener) }
        // Safe to force: a bound TCP channel has a local address with a port.
        return listener.localAddress!.port!
    }

    public func setFault(_ fault: LinkFault?, from: UInt64, to: UInt64) {
        faults.withLock { $0[Link(from: from, to: to)] = fault }
    }

    public func healAll() {
        faults.withLock { $0.removeAll() }
    }

    func fault(from: UInt64, to: UInt64) -> LinkFault? {
        faults.withLock { $0[Link(from: from, to: to)] }
    }

    /// Stops listening and closes every proxied connection; returns once each channel is fully closed (see
    /// `PeerTransport.shutdown`).
    public func shutdown() async {
        for listener in listeners.withLock({ $0 }) {
            listener.close(promise: nil)
            try? await listener.closeFuture.get()
        }
        await connections.closeAll()
    }
}

/// One proxied connection: frames from the member that opened it, to the destination's peer port.
private final class LinkHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let proxy: PeerLinkProxy
    private let destination: UInt64
    private let targetPort: Int
    private let group: EventLoopGroup
    private var received = ByteBuffer()
    private var sender: UInt64?
    /// Frames read before the sender was known or the onward connection was up.
    private var held: [ByteBuffer] = []
    private var outbound: Channel?
    private var closed = false
    /// When the last delayed frame goes out, so delayed frames keep their order.
    private var lastRelease = NIODeadline.now()

    init(proxy: PeerLinkProxy, destination: UInt64, targetPort: Int, group: EventLoopGroup) {
        self.proxy = proxy
        self.destination = destination
        self.targetPort = targetPort
        self.group = group
    }

    func channelActive(context: ChannelHandlerContext) {
        let inbound = context.channel
        let proxy = proxy, destination = destination
        // The reply forwarder runs on this handler's event loop (the onward channel shares it).
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The only bytes going back are a snapshot's acknowledgement: cut with the reverse link.
                    try channel.pipeline.syncOperations.addHandler(ReplyForwarder { reply in
                        guard let sender = handler.value.sender, proxy.fault(from: destination, to: sender) != .drop else { return }
                        inbound.writeAndFlush(reply, promise: nil)
                    })
                }
            }
            .connect(host: "127.0.0.1", port: targetPort)
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    guard !closed else {
                        channel.close(promise: nil)
                        return
                    }
                    outbound = channel
                    proxy.connections.add(channel)
                    channel.closeFuture.whenComplete { _ in inbound.close(promise: nil) }
                    releaseHeld()
                case .failure:
                    inbound.close(promise: nil)
                }
            }
        context.fireChannelActive()
    }

    /// The sender closed its end: the onward connection closes too, but only once what was forwarded (and what
    /// a delay still holds) is written. A snapshot's sender closes as soon as its last chunk is in the socket;
    /// closing onward at once dropped the tens of MiB still queued, so a member behind the log never caught up.
    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        if let outbound {
            outbound.eventLoop.scheduleTask(deadline: lastRelease) {
                outbound.writeAndFlush(ByteBuffer()).whenComplete { _ in outbound.close(promise: nil) }
            }
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        while let length = received.getInteger(at: received.readerIndex, as: UInt32.self),
              received.readableBytes >= 4 + Int(length) {
            // Safe to force: the whole frame is readable.
            let frame = received.readSlice(length: 4 + Int(length))!
            if sender == nil, length >= 9, frame.getInteger(at: frame.readerIndex + 4, as: UInt8.self) != SnapshotFraming.chunkKind {
                sender = frame.getInteger(at: frame.readerIndex + 5, as: UInt64.self)
            }
            held.append(frame)
        }
        received.discardReadBytes()
        releaseHeld()
    }

    private func releaseHeld() {
        guard let sender, let outbound, !held.isEmpty else { return }
        let frames = held
        held = []
        switch proxy.fault(from: sender, to: destination) {
        case nil:
            guard NIODeadline.now() >= lastRelease else { return delay(frames, until: lastRelease, on: outbound) }
            for frame in frames { outbound.write(frame, promise: nil) }
            outbound.flush()
        case .drop:
            // Hellos pass: a real network loses a connection, never one frame of a stream that stays up, and a
            // hello says who the sender is once per change (see `PeerAdvertisement`).
            let hellos = frames.filter { $0.readableBytes > 4 && $0.getInteger(at: $0.readerIndex + 4, as: UInt8.self) == PeerHello.kind }
            proxy.countDropped(frames.count - hellos.count)
            if !hellos.isEmpty {
                for frame in hellos { outbound.write(frame, promise: nil) }
                outbound.flush()
            }
        case .delay(let amount):
            lastRelease = max(lastRelease, NIODeadline.now() + amount)
            delay(frames, until: lastRelease, on: outbound)
        }
    }

    private func delay(_ frames: [ByteBuffer], until deadline: NIODeadline, on channel: Channel) {
        channel.eventLoop.scheduleTask(deadline: deadline) {
            for frame in frames { channel.write(frame, promise: nil) }
            channel.flush()
        }
    }
}

/// Hands what the destination writes back on a proxied connection to `forward` (on the connection's loop).
private final class ReplyForwarder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let forward: (ByteBuffer) -> Void

    init(forward: @escaping (ByteBuffer) -> Void) {
        self.forward = forward
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        forward(unwrapInboundIn(data))
    }
}
