import NIOCore

/// The parts of HTTP/2 (RFC 9113) a gRPC server speaks, read and written directly on the connection's bytes:
/// a frame costs a 9-byte header in one output buffer instead of a trip through a general HTTP/2 state machine.
enum HTTP2 {
    /// What a client sends before its first frame.
    static let clientPreface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let frameHeaderBytes = 9
    /// Every window starts here until SETTINGS or WINDOW_UPDATE say otherwise.
    static let defaultWindow = 65_535
    static let maxWindow = Int(Int32.max)
    static let defaultMaxFrameSize = 16_384
    static let largestMaxFrameSize = (1 << 24) - 1

    enum FrameType: UInt8 {
        case data = 0, headers, priority, rstStream, settings, pushPromise, ping, goAway, windowUpdate, continuation
    }

    enum Flags {
        static let endStream: UInt8 = 0x1
        static let ack: UInt8 = 0x1
        static let endHeaders: UInt8 = 0x4
        static let padded: UInt8 = 0x8
        static let priority: UInt8 = 0x20
    }

    enum ErrorCode: UInt32 {
        case noError = 0x0, protocolError, internalError, flowControlError, settingsTimeout, streamClosed
        case frameSizeError, refusedStream, cancel, compressionError
    }

    enum Setting: UInt16 {
        case headerTableSize = 1, enablePush, maxConcurrentStreams, initialWindowSize, maxFrameSize, maxHeaderListSize
    }

    /// A fault that ends the whole connection (with GOAWAY carrying `code`).
    struct ConnectionError: Error {
        var code: ErrorCode
        var message: String

        init(_ code: ErrorCode, _ message: String) {
            self.code = code
            self.message = message
        }
    }

    /// One frame as read: its payload is a slice of the bytes received, not a copy.
    struct Frame {
        var type: UInt8
        var flags: UInt8
        var streamID: UInt32
        var payload: ByteBuffer

        func has(_ flag: UInt8) -> Bool { flags & flag != 0 }
    }

    static func writeFrameHeader(_ type: FrameType, length: Int, flags: UInt8 = 0, streamID: UInt32,
                                 to buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(UInt8(truncatingIfNeeded: length >> 16), UInt16(truncatingIfNeeded: length),
                                     type.rawValue, flags, streamID & 0x7FFF_FFFF)
    }
}

/// Splits the bytes of a connection into frames, after checking the client's preface.
struct HTTP2FrameReader {
    /// Larger frames are a FRAME_SIZE_ERROR: the most we advertise in SETTINGS_MAX_FRAME_SIZE.
    let maxFrameSize: Int
    private var buffered: ByteBuffer?
    private var prefaceRead = false

    init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    mutating func append(_ bytes: ByteBuffer) {
        if var existing = buffered, existing.readableBytes > 0 {
            var incoming = bytes
            buffered = nil
            existing.writeBuffer(&incoming)
            buffered = existing
        } else {
            buffered = bytes
        }
    }

    /// The next whole frame, or nil until more bytes arrive.
    mutating func next() throws(HTTP2.ConnectionError) -> HTTP2.Frame? {
        guard var buffer = buffered else { return nil }
        defer { buffered = buffer.readableBytes > 0 ? buffer : nil }
        if !prefaceRead {
            let length = HTTP2.clientPreface.count
            let available = min(buffer.readableBytes, length)
            guard buffer.readableBytesView.prefix(available).elementsEqual(HTTP2.clientPreface.prefix(available)) else {
                throw HTTP2.ConnectionError(.protocolError, "not an HTTP/2 client preface (gRPC needs HTTP/2 with prior knowledge)")
            }
            guard available == length else { return nil }
            buffer.moveReaderIndex(forwardBy: length)
            prefaceRead = true
        }
        guard let (high, low, type, flags, rawStreamID) = buffer.getMultipleIntegers(
            at: buffer.readerIndex, as: (UInt8, UInt16, UInt8, UInt8, UInt32).self) else { return nil }
        let length = Int(high) << 16 | Int(low)
        guard length <= maxFrameSize else {
            throw HTTP2.ConnectionError(.frameSizeError, "a frame of \(length) bytes exceeds the advertised \(maxFrameSize)")
        }
        guard buffer.readableBytes >= HTTP2.frameHeaderBytes + length else { return nil }
        buffer.moveReaderIndex(forwardBy: HTTP2.frameHeaderBytes)
        // Safe to force: `length` readable bytes were just checked.
        let payload = buffer.readSlice(length: length)!
        return HTTP2.Frame(type: type, flags: flags, streamID: rawStreamID & 0x7FFF_FFFF, payload: payload)
    }
}

/// The header blocks a gRPC server sends, HPACK-encoded (RFC 7541) without the dynamic table: the client's
/// table size setting then never matters, and nothing is Huffman-coded (which HPACK leaves optional).
enum GRPCHeaderBlock {
    /// `:status: 200` (static table entry 8) and `content-type: application/grpc` (a literal, not indexed,
    /// whose name is static entry 31).
    static let responseHeaders: [UInt8] = [0x88, 0x0F, 0x10, 16] + Array("application/grpc".utf8)

    /// The trailers ending a call; `trailersOnly` also carries the response headers, for a call answered with
    /// nothing but its status.
    static func trailers(_ status: GRPCStatus, trailersOnly: Bool, to buffer: inout ByteBuffer) {
        if trailersOnly { buffer.writeBytes(responseHeaders) }
        writeLiteral(name: "grpc-status", value: String(status.code.rawValue), to: &buffer)
        if !status.message.isEmpty { writeLiteral(name: "grpc-message", value: status.encodedMessage, to: &buffer) }
    }

    /// A literal header field without indexing, with a new name.
    static func writeLiteral(name: String, value: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0))
        writeString(name, to: &buffer)
        writeString(value, to: &buffer)
    }

    private static func writeString(_ string: String, to buffer: inout ByteBuffer) {
        writeInteger(string.utf8.count, prefixBits: 7, firstByte: 0, to: &buffer)
        buffer.writeString(string)
    }

    /// HPACK's integer: the low `prefixBits` of the first byte, then 7 bits per byte while more follow.
    static func writeInteger(_ value: Int, prefixBits: Int, firstByte: UInt8, to buffer: inout ByteBuffer) {
        let limit = (1 << prefixBits) - 1
        guard value >= limit else {
            buffer.writeInteger(firstByte | UInt8(value))
            return
        }
        buffer.writeInteger(firstByte | UInt8(limit))
        var rest = value - limit
        while rest >= 128 {
            buffer.writeInteger(UInt8(rest & 0x7F | 0x80))
            rest >>= 7
        }
        buffer.writeInteger(UInt8(rest))
    }
}
