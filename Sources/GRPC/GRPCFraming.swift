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

/// Splits a stream's DATA into messages, handed out one at a time so that a call that cannot take more for now
/// leaves the rest here (its client's window then closes). Whole messages inside one frame are sliced out
/// without a copy; only bytes left over once the whole messages are out are gathered, into a buffer of our own
/// (a slice would keep the read it came from alive).
struct MessageReader {
    enum Failure: Error {
        case compressed
        case tooLarge(Int)
    }

    /// The most a gathering buffer reserves ahead of the bytes it holds: a 5-byte prefix announcing a large
    /// message must not make us allocate all of it before the message's bytes come.
    static let reserveAheadBytes = 256 << 10

    let maxMessageBytes: Int
    /// Bytes not yet handed out, beginning at a message's prefix.
    private var buffered: ByteBuffer?
    /// Whether `buffered` is a buffer of our own rather than a slice of a read.
    private var gathering = false

    init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// The bytes this reader keeps alive: what it holds, or the capacity of its own buffer.
    var heldBytes: Int {
        guard let buffered else { return 0 }
        return gathering ? buffered.capacity : buffered.readableBytes
    }

    /// Whether bytes of an incomplete message are held (meaningful once `next()` returned nil).
    var hasPartialMessage: Bool { (buffered?.readableBytes ?? 0) > 0 }

    /// Adds a frame's bytes behind those not yet handed out.
    mutating func append(_ data: ByteBuffer) {
        guard var current = buffered, current.readableBytes > 0 else {
            buffered = data
            gathering = false
            return
        }
        var data = data
        if !gathering {
            var own = Self.buffer(for: current, adding: data.readableBytes)
            own.writeBuffer(&current)
            current = own
            gathering = true
        }
        buffered = nil  // So the write below finds the buffer uniquely referenced and does not copy it.
        current.writeBuffer(&data)
        buffered = current
    }

    /// The next whole message, or nil until more bytes come.
    mutating func next() throws -> ByteBuffer? {
        guard var buffer = buffered, buffer.readableBytes >= GRPCFraming.reservedPrefix else {
            keepRest()
            return nil
        }
        let length = try Self.messageLength(at: buffer.readerIndex, in: buffer, maxMessageBytes: maxMessageBytes)
        guard buffer.readableBytes >= GRPCFraming.reservedPrefix + length else {
            keepRest()
            return nil
        }
        buffer.moveReaderIndex(forwardBy: GRPCFraming.reservedPrefix)
        // Safe to force: `length` readable bytes were just checked.
        let message = buffer.readSlice(length: length)!
        buffered = buffer.readableBytes > 0 ? buffer : nil
        return message
    }

    /// Moves an incomplete message left in a slice of a read, or behind messages already handed out of our own
    /// buffer, into a buffer of its own, sized for as much of the message as may be reserved ahead: what was
    /// handed out is not kept, and the buffer does not grow with every frame.
    private mutating func keepRest() {
        guard var rest = buffered, !gathering || rest.readerIndex > 0 else { return }
        var own = Self.buffer(for: rest, adding: 0)
        own.writeBuffer(&rest)
        buffered = own
        gathering = true
    }

    private static func buffer(for bytes: ByteBuffer, adding count: Int) -> ByteBuffer {
        let held = bytes.readableBytes + count
        let announced = bytes.readableBytes >= GRPCFraming.reservedPrefix
            ? Int(bytes.getInteger(at: bytes.readerIndex + 1, as: UInt32.self) ?? 0) + GRPCFraming.reservedPrefix : 0
        return ByteBufferAllocator().buffer(capacity: max(held, min(announced, held + reserveAheadBytes)))
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
