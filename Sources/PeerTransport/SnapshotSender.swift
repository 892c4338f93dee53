import BinaryCoding
import NIOCore
import NIOPosix
import Raft

/// Snapshot messages do not go through a peer's bounded message queue: their data (the whole store) is streamed
/// over a connection of its own in chunks, each written once the previous one is on its way, so the queue keeps
/// carrying heartbeats and appends meanwhile and a large store never overflows it. The receiving side
/// (`FrameDecoder`) gathers the chunks and hands Raft one complete message, then answers with one byte
/// (`acknowledgement`): only then is the snapshot delivered. Until that byte the snapshot may still be in socket
/// buffers; a leader that went on as if delivered would send entries the follower, not yet holding the
/// snapshot, must refuse, and fall back to sending the snapshot again.
enum SnapshotFraming {
    /// The frame kind byte of a chunk (message kinds use 0 ... 14, the hello 0xFD).
    static let chunkKind: UInt8 = 0xFE
    /// The most a receiver gathers for one snapshot.
    static let maxSnapshotBytes = 16 << 30
    /// What the receiver answers once it handed the snapshot to Raft.
    static let acknowledgement: UInt8 = 0xAC
}

extension PeerTransport {
    /// Streams `message` (a Raft snapshot message with its data) to its destination; returns once the receiver
    /// says it handed the snapshot to its Raft loop, or throws if the peer cannot be reached, the connection
    /// fails, or no acknowledgement comes within `snapshotAcknowledgementTimeout` of the last byte.
    public func sendSnapshot(_ message: Message) async throws {
        guard let address = peerAddress(message.to) else { throw PeerTransportError.unknownPeer(message.to) }
        let data = message.snapshot?.data ?? []
        var metadataOnly = message
        metadataOnly.snapshot?.data = []
        let acknowledged = group.next().makePromise(of: Void.self)
        let channel: Channel
        do {
            channel = try await PeerSocketOptions.apply(to: ClientBootstrap(group: group), limits)
                .connectTimeout(limits.connectTimeout)
                .channelInitializer { [advertisement] channel in
                    channel.eventLoop.makeCompletedFuture {
                        // The hello goes out as the connection opens, on its event loop: a task resumed late (a
                        // busy machine) must not leave the receiver waiting for it past its hello deadline.
                        try channel.pipeline.syncOperations.addHandler(HelloOnConnect(advertisement: advertisement))
                        try channel.pipeline.syncOperations.addHandler(SnapshotAcknowledgementReader(acknowledged))
                    }
                }
                .connect(host: address.host, port: address.port)
                .get()
        } catch {
            acknowledged.fail(error)
            throw error
        }
        do {
            var offset = 0
            while offset < data.count {
                let end = min(offset + limits.snapshotChunkBytes, data.count)
                var buffer = channel.allocator.buffer(capacity: 5 + end - offset)
                buffer.writeInteger(UInt32(1 + end - offset))
                buffer.writeInteger(SnapshotFraming.chunkKind)
                buffer.writeBytes(data[offset..<end])
                // Waiting for each write keeps at most one chunk in flight beyond the socket buffer. A receiver
                // that stops reading (stopped, or a dead link) would hold it forever: give up after a while. The
                // watchdog is disarmed on the event loop when the write completes, however late this task runs.
                let written = channel.eventLoop.makePromise(of: Void.self)
                channel.writeAndFlush(buffer, promise: written)
                let watchdog = channel.eventLoop.scheduleTask(in: limits.snapshotAcknowledgementTimeout) {
                    acknowledged.fail(PeerTransportError.snapshotNotAcknowledged(message.to))
                    channel.close(promise: nil)
                }
                written.futureResult.whenComplete { _ in watchdog.cancel() }
                try await written.futureResult.get()
                offset = end
            }
            var last = channel.allocator.buffer(capacity: 256)
            last.writeFrame(metadataOnly)
            // The acknowledgement's deadline runs from the last byte written, on the event loop.
            let lastWritten = channel.eventLoop.makePromise(of: Void.self)
            channel.writeAndFlush(last, promise: lastWritten)
            let timeout = lastWritten.futureResult.flatMap { () -> EventLoopFuture<Void> in
                let timer = channel.eventLoop.scheduleTask(in: self.limits.snapshotAcknowledgementTimeout) {
                    acknowledged.fail(PeerTransportError.snapshotNotAcknowledged(message.to))
                }
                acknowledged.futureResult.whenComplete { _ in timer.cancel() }
                return acknowledged.futureResult
            }
            try await timeout.get()
        } catch {
            acknowledged.fail(error)
            await Self.closeFully(channel)
            throw error
        }
        await Self.closeFully(channel)
    }

    /// Closes and waits until NIO has removed the channel's handlers (see `PeerTransport.shutdown`).
    private static func closeFully(_ channel: Channel) async {
        channel.close(promise: nil)
        try? await channel.closeFuture.get()
    }
}

/// Completes `acknowledged` when the receiver's acknowledgement arrives; fails it if the connection closes first.
final class SnapshotAcknowledgementReader: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: used only on its channel's event loop.
    typealias InboundIn = ByteBuffer

    private let acknowledged: EventLoopPromise<Void>

    init(_ acknowledged: EventLoopPromise<Void>) {
        self.acknowledged = acknowledged
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if buffer.readableBytesView.contains(SnapshotFraming.acknowledgement) {
            acknowledged.succeed()
        } else {
            acknowledged.fail(PeerTransportError.snapshotNotAcknowledged(0))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        acknowledged.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        acknowledged.fail(error)
        context.close(promise: nil)
    }
}

public enum PeerTransportError: Error, Equatable {
    case unknownPeer(NodeID)
    /// The peer took the snapshot's bytes but did not say it received the snapshot in time.
    case snapshotNotAcknowledged(NodeID)
}
