import BinaryCoding
import NIOCore
import Raft

/// Splits the byte stream into frames (4-byte big-endian length, then a `MessageCodec` message) and decodes
/// them. A frame that is too large or malformed closes the connection: a peer speaking garbage gets nothing
/// from us, and we never buffer an unbounded frame. Snapshot chunks (`SnapshotFraming`) are gathered until the
/// snapshot message that ends them, which is delivered with their bytes as its data.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = Message

    enum FrameError: Error, Equatable {
        case tooLarge(Int)
        case snapshotTooLarge
        case strayChunks
        /// The peer's hello names another cluster.
        case otherCluster(UInt64)
    }

    private var snapshotData: [UInt8] = []
    /// Told who opened the connection and where it listens (`PeerHello`); false closes the connection.
    let onHello: @Sendable (PeerHello) -> Bool

    init(onHello: @escaping @Sendable (PeerHello) -> Bool = { _ in true }) {
        self.onHello = onHello
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= MessageCodec.maxFrameBytes else { throw FrameError.tooLarge(Int(length)) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        if length > 0, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == SnapshotFraming.chunkKind {
            buffer.moveReaderIndex(forwardBy: 1)
            guard snapshotData.count + Int(length) - 1 <= SnapshotFraming.maxSnapshotBytes else { throw FrameError.snapshotTooLarge }
            // Checked above: the whole frame is readable.
            snapshotData.append(contentsOf: buffer.readBytes(length: Int(length) - 1)!)
            return .continue
        }
        if length > 0, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == PeerHello.kind {
            // Checked above: the whole frame is readable.
            let hello = try buffer.readWithUnsafeReadableBytes { raw in
                (Int(length), try PeerHello(decoding: UnsafeRawBufferPointer(rebasing: raw[..<Int(length)])))
            }
            guard onHello(hello) else { throw FrameError.otherCluster(hello.clusterID) }
            return .continue
        }
        // Checked just above: the whole frame is readable.
        var message = try buffer.readWithUnsafeReadableBytes { raw in
            (Int(length), try MessageCodec.decode(UnsafeRawBufferPointer(rebasing: raw[..<Int(length)])))
        }
        if !snapshotData.isEmpty {
            guard message.kind == .snapshot, message.snapshot?.data.isEmpty == true else { throw FrameError.strayChunks }
            message.snapshot?.data = snapshotData
            snapshotData = []
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
