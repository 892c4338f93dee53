import NIOCore
import NIOPosix
import Raft

/// The outgoing connection to one peer: a bounded queue of messages, written in batches with one flush,
/// reconnecting with exponential backoff. Confined to one event loop.
final class PeerConnection: @unchecked Sendable {
    // @unchecked Sendable: every mutable property is touched only on `eventLoop` (asserted).
    enum State {
        case idle
        case connecting
        case connected(Channel)
        case waiting(Scheduled<Void>)
        case closed
    }

    let peer: NodeID
    let host: String
    let port: Int
    let eventLoop: EventLoop
    let limits: PeerTransport.Limits
    let reportUnreachable: @Sendable (NodeID) -> Void
    let reportDown: @Sendable (NodeID) -> Void
    /// Written first on every connection made (see `PeerHello`).
    let advertisement: PeerAdvertisement
    private var state = State.idle
    /// The connection closed under us, and no connection since has stayed up for a connect timeout.
    private var lost = false
    /// When the current (or last) connection was established.
    private var connectedAt = NIODeadline.distantPast
    private var queue: [Message] = []
    private var queuedBytes = 0
    private var draining = false
    private var backoff: TimeAmount
    /// The connection being made while `state` is `.connecting`.
    private var pendingConnect: EventLoopFuture<Channel>?
    /// The version of the advertisement last said on the current connection.
    private var helloVersion = 0

    init(peer: NodeID, host: String, port: Int, eventLoop: EventLoop, limits: PeerTransport.Limits,
         advertisement: PeerAdvertisement,
         reportUnreachable: @escaping @Sendable (NodeID) -> Void,
         reportDown: @escaping @Sendable (NodeID) -> Void = { _ in }) {
        self.advertisement = advertisement
        self.peer = peer
        self.host = host
        self.port = port
        self.eventLoop = eventLoop
        self.limits = limits
        self.reportUnreachable = reportUnreachable
        self.reportDown = reportDown
        backoff = limits.initialBackoff
    }

    /// Queues messages and writes what the connection can take. Called on `eventLoop`.
    func enqueue(_ messages: [Message]) {
        eventLoop.assertInEventLoop()
        if case .closed = state { return }
        var dropped = false
        for message in messages {
            let size = 64 + message.payloadBytes
            if queue.count >= limits.maxQueuedMessages || queuedBytes + size > limits.maxQueuedBytes {
                // Full: Raft copes with lost messages; it must not make us hold unbounded memory.
                dropped = true
                continue
            }
            queue.append(message)
            queuedBytes += size
        }
        if dropped { reportUnreachable(peer) }
        switch state {
        case .connected: drain()
        case .idle: connect()
        case .connecting, .waiting, .closed: break
        }
    }

    /// Writes queued messages while the channel accepts them, in writes of up to 1 MiB, then flushes.
    ///
    /// Writing or flushing can call back into `drain` (writability changes) or close the connection, so
    /// messages leave the queue before they are written and a nested call returns at once; the outer call
    /// goes on while the channel stays writable.
    func drain() {
        eventLoop.assertInEventLoop()
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while case .connected(let channel) = state, !queue.isEmpty, channel.isWritable {
            if advertisement.version != helloVersion { helloVersion = advertisement.writeHello(on: channel) }
            while case .connected = state, !queue.isEmpty, channel.isWritable {
                var buffer = channel.allocator.buffer(capacity: 0)
                var taken = 0
                while taken < queue.count && buffer.readableBytes < 1 << 20 {
                    buffer.writeFrame(queue[taken])
                    queuedBytes -= 64 + queue[taken].payloadBytes
                    taken += 1
                }
                queue.removeFirst(taken)
                channel.write(buffer, promise: nil)
            }
            channel.flush()
        }
    }

    private func connect() {
        eventLoop.assertInEventLoop()
        state = .connecting
        let bootstrap = PeerSocketOptions.apply(to: ClientBootstrap(group: eventLoop), limits)
            .connectTimeout(limits.connectTimeout)
            .channelInitializer { [weak self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConnectionWatcher(connection: self))
                }
            }
        let attempt = bootstrap.connect(host: host, port: port)
        pendingConnect = attempt
        attempt.whenComplete { [self] result in
            pendingConnect = nil
            switch result {
            case .success(let channel):
                if case .closed = state {
                    channel.close(promise: nil)
                    return
                }
                state = .connected(channel)
                connectedAt = .now()
                helloVersion = advertisement.writeHello(on: channel)
                drain()
            case .failure:
                reportUnreachable(peer)
                if lost {
                    lost = false
                    reportDown(peer)
                }
                retryLater()
            }
        }
    }

    private func retryLater() {
        guard !isClosed else { return }
        let delay = backoff
        backoff = min(backoff * 2, limits.maxBackoff)
        state = .waiting(eventLoop.scheduleTask(in: delay) { [self] in
            guard !isClosed else { return }
            connect()
        })
    }

    private var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The connection closed under us: connect again at once. A peer that refuses (or does not answer within
    /// the connect timeout), or whose new connection closes again at once (a proxy in between accepts, then
    /// fails to reach it), is most likely gone, which is worth telling Raft (`reportDown`): a process killed
    /// -9 closes its sockets at once, long before its followers' election timeout would notice.
    func connectionClosed() {
        eventLoop.assertInEventLoop()
        guard case .connected = state else { return }
        reportUnreachable(peer)
        state = .idle
        // A connection that lived a while went down for a reason of its own: try again at once. One that closed
        // right after it was made would close again: back off (and the backoff grows only across those).
        let brief = NIODeadline.now() - connectedAt < limits.connectTimeout
        if lost && brief {
            lost = false
            reportDown(peer)
        } else {
            lost = true
        }
        if brief {
            retryLater()
        } else {
            backoff = limits.initialBackoff
            connect()
        }
    }

    /// Stops for good; the future completes once the connection's channel is fully closed (its handlers
    /// removed), so an event loop group shut down after it has nothing of ours left to run.
    @discardableResult
    func close() -> EventLoopFuture<Void> {
        eventLoop.assertInEventLoop()
        let previous = state
        // Closed before the channel is: closing it calls `connectionClosed` at once, which would otherwise
        // see a live connection lost and connect again (a stray connection to a peer removed or moved).
        state = .closed
        queue.removeAll()
        queuedBytes = 0
        switch previous {
        case .connected(let channel):
            channel.close(promise: nil)
            return channel.closeFuture
        case .connecting:
            // The attempt's completion sees `.closed` and closes what it connected.
            return pendingConnect.map { attempt in
                attempt.flatMap { $0.closeFuture }.recover { _ in }
            } ?? eventLoop.makeSucceededVoidFuture()
        case .waiting(let task):
            task.cancel()
            return eventLoop.makeSucceededVoidFuture()
        case .idle, .closed:
            return eventLoop.makeSucceededVoidFuture()
        }
    }

    /// Watches the client channel: writability returns → write more; the channel closes → reconnect.
    final class ConnectionWatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        weak var connection: PeerConnection?

        init(connection: PeerConnection?) {
            self.connection = connection
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable { connection?.drain() }
            context.fireChannelWritabilityChanged()
        }

        func channelInactive(context: ChannelHandlerContext) {
            connection?.connectionClosed()
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }
}

extension Message {
    /// Bytes of entry and snapshot payload, for queue accounting.
    var payloadBytes: Int {
        entries.reduce(0) { $0 + $1.data.count } + (snapshot?.data.count ?? 0) + context.count
    }
}
