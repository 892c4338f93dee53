import NIOCore

/// gRPC's message framing: 1 byte compressed-flag, 4 bytes big-endian length, then the message.
public enum GRPCFraming {
    /// Bytes to keep free before a message so it can be framed in place.
    public static let reservedPrefix = 5

    /// Frames `message` for sending: without touching its bytes when the prefix is already written before its
    /// reader index (see `ProtobufBuffer`), in place when there is room for it, else by copying.
    static func frame(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = message.readableBytes
        if message.readerIndex >= reservedPrefix {
            var framed = message
            let start = message.readerIndex - reservedPrefix
            framed.moveReaderIndex(to: start)
            // Writing into a buffer the caller still references would copy all of it (copy-on-write), so a
            // prefix written when the message was encoded is only checked.
            if framed.getInteger(at: start, as: UInt8.self) != 0
                || framed.getInteger(at: start + 1, as: UInt32.self) != UInt32(length) {
                framed.setInteger(UInt8(0), at: start)
                framed.setInteger(UInt32(length), at: start + 1)
            }
            return framed
        }
        var framed = allocator.buffer(capacity: reservedPrefix + length)
        framed.writeInteger(UInt8(0))
        framed.writeInteger(UInt32(length))
        var copy = message
        framed.writeBuffer(&copy)
        return framed
    }
}

/// Splits a stream's DATA into messages. Whole messages inside one frame are sliced out without a copy; only a
/// message spread over several frames is gathered.
struct MessageReader {
    enum Failure: Error {
        case compressed
        case tooLarge(Int)
    }

    let maxMessageBytes: Int
    private var pending: ByteBuffer?

    init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    var hasPartialMessage: Bool { pending.map { $0.readableBytes > 0 } ?? false }

    /// Appends a frame's bytes and returns the messages completed by it. Of a message begun in an earlier frame,
    /// only its own remaining bytes are copied, never the rest of the frame.
    mutating func append(_ data: ByteBuffer) throws -> [ByteBuffer] {
        var buffer = data
        var messages: [ByteBuffer] = []
        if var partial = pending {
            pending = nil
            // Complete the prefix first, then the message it announces.
            if partial.readableBytes < GRPCFraming.reservedPrefix {
                partial.take(upTo: GRPCFraming.reservedPrefix - partial.readableBytes, from: &buffer)
                if partial.readableBytes < GRPCFraming.reservedPrefix {
                    pending = partial
                    return []
                }
            }
            let length = try Self.messageLength(at: partial.readerIndex, in: partial, maxMessageBytes: maxMessageBytes)
            partial.take(upTo: GRPCFraming.reservedPrefix + length - partial.readableBytes, from: &buffer)
            guard partial.readableBytes == GRPCFraming.reservedPrefix + length else {
                pending = partial
                return []
            }
            partial.moveReaderIndex(forwardBy: GRPCFraming.reservedPrefix)
            messages.append(partial)
        }
        while buffer.readableBytes >= GRPCFraming.reservedPrefix {
            let length = try Self.messageLength(at: buffer.readerIndex, in: buffer, maxMessageBytes: maxMessageBytes)
            guard buffer.readableBytes >= GRPCFraming.reservedPrefix + length else { break }
            buffer.moveReaderIndex(forwardBy: GRPCFraming.reservedPrefix)
            // Safe to force: `length` readable bytes were just checked.
            messages.append(buffer.readSlice(length: length)!)
        }
        if buffer.readableBytes > 0 {
            // Keep the partial message in a buffer of its own, sized for all of it once its length is known, so
            // later frames' bytes are appended without reallocating.
            let length = buffer.readableBytes >= GRPCFraming.reservedPrefix
                ? try Self.messageLength(at: buffer.readerIndex, in: buffer, maxMessageBytes: maxMessageBytes) : 0
            var rest = ByteBufferAllocator().buffer(capacity: max(buffer.readableBytes, GRPCFraming.reservedPrefix + length))
            rest.writeBuffer(&buffer)
            pending = rest
        }
        return messages
    }

    /// The length announced by the prefix at `index`, checked against the limits.
    private static func messageLength(at index: Int, in buffer: ByteBuffer, maxMessageBytes: Int) throws -> Int {
        // Safe to force: callers checked that the 5 prefix bytes are readable.
        let flag = buffer.getInteger(at: index, as: UInt8.self)!
        let length = Int(buffer.getInteger(at: index + 1, as: UInt32.self)!)
        guard flag == 0 else { throw Failure.compressed }
        guard length <= maxMessageBytes else { throw Failure.tooLarge(length) }
        return length
    }
}
