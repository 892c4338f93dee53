import BinaryCoding
import NIOCore
import Raft
import Synchronization

/// Splits the byte stream into frames (4-byte big-endian length, then a `MessageCodec` message) and decodes
/// them. A frame that is too large or malformed closes the connection: a peer speaking garbage gets nothing
/// from us, and we never buffer an unbounded frame. A connection starts with the peer's hello, and says only
/// that peer's; anything else first closes it. Snapshot chunks (`SnapshotFraming`) are gathered until the
/// snapshot message that ends them, which is delivered with their bytes as its data; only so many snapshots are
/// gathered at once (`SnapshotReceipts`).
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = Message

    enum FrameError: Error, Equatable {
        case tooLarge(Int)
        case snapshotTooLarge
        case strayChunks
        /// The peer's hello names another cluster.
        case otherCluster(UInt64)
        /// A frame came before the peer said who it is.
        case noHello
        /// A second hello named another member.
        case changedIdentity(NodeID)
        /// As many snapshots as may be are being received already.
        case tooManySnapshots
    }

    /// Told that the connection's peer said who it is: the first hello on a connection, passed on as a user event.
    struct HelloReceived {}

    private var snapshotData: [UInt8] = []
    private var peer: NodeID?
    private var holdsReceipt = false
    let maxFrameBytes: Int
    let receipts: SnapshotReceipts
    /// Told who opened the connection and where it listens (`PeerHello`); false closes the connection.
    let onHello: @Sendable (PeerHello) -> Bool

    init(maxFrameBytes: Int, receipts: SnapshotReceipts, onHello: @escaping @Sendable (PeerHello) -> Bool) {
        self.maxFrameBytes = maxFrameBytes
        self.receipts = receipts
        self.onHello = onHello
    }

    mutating func decoderRemoved(context: ChannelHandlerContext) {
        releaseReceipt()
    }

    private mutating func releaseReceipt() {
        snapshotData = []
        if holdsReceipt {
            holdsReceipt = false
            receipts.release()
        }
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= maxFrameBytes else { throw FrameError.tooLarge(Int(length)) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let kind = length > 0 ? buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) : nil
        guard peer != nil || kind == PeerHello.kind else { throw FrameError.noHello }
        if kind == SnapshotFraming.chunkKind {
            buffer.moveReaderIndex(forwardBy: 1)
            if !holdsReceipt {
                guard receipts.acquire() else { throw FrameError.tooManySnapshots }
                holdsReceipt = true
            }
            guard snapshotData.count + Int(length) - 1 <= SnapshotFraming.maxSnapshotBytes else { throw FrameError.snapshotTooLarge }
            // Checked above: the whole frame is readable.
            snapshotData.append(contentsOf: buffer.readBytes(length: Int(length) - 1)!)
            return .continue
        }
        if kind == PeerHello.kind {
            // Checked above: the whole frame is readable.
            let hello = try buffer.readWithUnsafeReadableBytes { raw in
                (Int(length), try PeerHello(decoding: UnsafeRawBufferPointer(rebasing: raw[..<Int(length)])))
            }
            if let peer, peer != hello.id { throw FrameError.changedIdentity(hello.id) }
            guard onHello(hello) else { throw FrameError.otherCluster(hello.clusterID) }
            if peer == nil {
                peer = hello.id
                context.fireUserInboundEventTriggered(HelloReceived())
            }
            return .continue
        }
        // Checked just above: the whole frame is readable.
        var message = try buffer.readWithUnsafeReadableBytes { raw in
            (Int(length), try MessageCodec.decode(UnsafeRawBufferPointer(rebasing: raw[..<Int(length)])))
        }
        if holdsReceipt {
            guard message.kind == .snapshot, message.snapshot?.data.isEmpty == true else { throw FrameError.strayChunks }
            message.snapshot?.data = snapshotData
            releaseReceipt()
        }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }
}

extension ByteBuffer {
    /// Appends one frame holding `message`.
    mutating func writeFrame(_ message: Message) {
        var writer = ByteWriter(reservingCapacity: 96 + message.payloadBytes)
        MessageCodec.encode(message, into: &writer)
        writeInteger(UInt32(writer.bytes.count))
        writeBytes(writer.bytes)
    }
}

/// How many snapshots a transport gathers from its peers at once: each may be as large as the store. A
/// leader sends a follower one at a time; a few more cover leaderships that changed meanwhile.
final class SnapshotReceipts: Sendable {
    private let count = Mutex(0)
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func acquire() -> Bool {
        count.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func release() {
        count.withLock { $0 -= 1 }
    }
}

/// Says who we are first thing on a connection we open, as it becomes active.
final class HelloOnConnect: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let advertisement: PeerAdvertisement

    init(advertisement: PeerAdvertisement) {
        self.advertisement = advertisement
    }

    func channelActive(context: ChannelHandlerContext) {
        advertisement.writeHello(on: context.channel)
        context.flush()
        context.fireChannelActive()
    }
}

/// Closes an accepted connection whose peer does not say who it is within `timeout`: a connection that sends
/// nothing, or only part of a frame, holds a socket and its buffers for nothing.
final class HelloDeadline: ChannelInboundHandler {
    typealias InboundIn = Message
    typealias InboundOut = Message

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is FrameDecoder.HelloReceived {
            deadline?.cancel()
            deadline = nil
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Hands decoded messages to the receiver in batches: everything one read burst brought, at once, so the
/// receiver (the Raft loop) is woken once per burst rather than once per message.
final class InboundBatcher: ChannelInboundHandler {
    typealias InboundIn = Message
    typealias OutboundOut = ByteBuffer

    private let deliver: @Sendable ([Message]) -> Void
    private var batch: [Message] = []

    init(deliver: @escaping @Sendable ([Message]) -> Void) {
        self.deliver = deliver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        batch.append(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard !batch.isEmpty else { return }
        let messages = batch
        batch.removeAll(keepingCapacity: true)
        deliver(messages)
        // The snapshot is Raft's now (see `SnapshotFraming`): tell its sender.
        if messages.contains(where: { $0.kind == .snapshot }) {
            var acknowledgement = context.channel.allocator.buffer(capacity: 1)
            acknowledgement.writeInteger(SnapshotFraming.acknowledgement)
            context.writeAndFlush(wrapOutboundOut(acknowledgement), promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
