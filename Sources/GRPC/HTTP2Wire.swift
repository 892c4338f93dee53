import NIOCore

/// The parts of HTTP/2 (RFC 9113) gRPC speaks, read and written directly on the connection's bytes by both our
/// server and our client: a frame costs a 9-byte header in one output buffer instead of a trip through a general
/// HTTP/2 state machine.
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
        case frameSizeError, refusedStream, cancel, compressionError, connectError, enhanceYourCalm
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

    /// A header block as HEADERS, continued in CONTINUATION frames if it exceeds the peer's frame size.
    static func writeHeaderBlock<Block: Collection>(_ block: Block, streamID: UInt32, endStream: Bool, maxFrameSize: Int,
                                                    to output: inout ByteBuffer) where Block.Element == UInt8 {
        var rest = block[...]
        var type = FrameType.headers
        repeat {
            let chunk = rest.prefix(maxFrameSize)
            rest = rest.dropFirst(chunk.count)
            var flags = rest.isEmpty ? Flags.endHeaders : 0
            if endStream, type == .headers { flags |= Flags.endStream }
            writeFrameHeader(type, length: chunk.count, flags: flags, streamID: streamID, to: &output)
            output.writeBytes(chunk)
            type = .continuation
        } while !rest.isEmpty
    }

    /// What a peer's SETTINGS frame changes, checked against RFC 9113's limits; settings it leaves out stay nil.
    struct SettingsChange {
        var initialWindow: Int?
        var maxFrameSize: Int?
        var maxConcurrentStreams: Int?
    }

    /// Reads a SETTINGS frame: nil for an acknowledgement of ours, else what it changes (to acknowledge).
    static func settings(_ frame: Frame) throws(ConnectionError) -> SettingsChange? {
        guard frame.streamID == 0 else { throw ConnectionError(.protocolError, "SETTINGS on a stream") }
        if frame.has(Flags.ack) {
            guard frame.payload.readableBytes == 0 else { throw ConnectionError(.frameSizeError, "SETTINGS ACK with a payload") }
            return nil
        }
        guard frame.payload.readableBytes % 6 == 0 else { throw ConnectionError(.frameSizeError, "malformed SETTINGS") }
        var change = SettingsChange()
        var payload = frame.payload
        while let (identifier, value) = payload.readMultipleIntegers(as: (UInt16, UInt32).self) {
            switch Setting(rawValue: identifier) {
            case .initialWindowSize:
                guard value <= maxWindow else {
                    throw ConnectionError(.flowControlError, "SETTINGS_INITIAL_WINDOW_SIZE \(value) is too large")
                }
                change.initialWindow = Int(value)
            case .maxFrameSize:
                guard (defaultMaxFrameSize...largestMaxFrameSize).contains(Int(value)) else {
                    throw ConnectionError(.protocolError, "SETTINGS_MAX_FRAME_SIZE \(value) is out of range")
                }
                change.maxFrameSize = Int(value)
            case .maxConcurrentStreams:
                change.maxConcurrentStreams = Int(value)
            case .enablePush:
                guard value <= 1 else { throw ConnectionError(.protocolError, "SETTINGS_ENABLE_PUSH \(value)") }
            default:
                break  // Nothing is indexed (header table size); header lists are bounded on receipt.
            }
        }
        return change
    }

    static func writeResetStream(_ streamID: UInt32, _ code: ErrorCode, to output: inout ByteBuffer) {
        writeFrameHeader(.rstStream, length: 4, streamID: streamID, to: &output)
        output.writeInteger(code.rawValue)
    }

    static func writeWindowUpdate(streamID: UInt32, increment: Int, to output: inout ByteBuffer) {
        writeFrameHeader(.windowUpdate, length: 4, streamID: streamID, to: &output)
        output.writeInteger(UInt32(increment))
    }

    /// A DATA or HEADERS payload without its padding.
    static func unpadded(_ frame: Frame) throws(ConnectionError) -> ByteBuffer {
        guard frame.has(Flags.padded) else { return frame.payload }
        var payload = frame.payload
        guard let padding = payload.readInteger(as: UInt8.self), Int(padding) <= payload.readableBytes else {
            throw ConnectionError(.protocolError, "padding longer than the frame")
        }
        // Safe to force: the padding was just checked to fit.
        return payload.readSlice(length: payload.readableBytes - Int(padding))!
    }
}

/// Splits the bytes of a connection into frames; on a server's side, after checking the client's preface. A
/// frame inside one read is a slice of it; only a frame that a read ends inside is gathered, into a buffer of
/// its own full size, from its own bytes (copying the rest of every read, and growing one buffer for it, once
/// cost a client receiving watch events a third of its time).
struct HTTP2FrameReader {
    /// Larger frames are a FRAME_SIZE_ERROR: the most we advertise in SETTINGS_MAX_FRAME_SIZE.
    let maxFrameSize: Int
    /// The unread part of the last read.
    private var input: ByteBuffer?
    /// The beginning of the frame (or preface) the last read ended inside.
    private var partial: ByteBuffer?
    private var prefaceRead: Bool

    /// `expectsPreface` on the server's side: a client's bytes start with the connection preface.
    init(maxFrameSize: Int, expectsPreface: Bool = true) {
        self.maxFrameSize = maxFrameSize
        prefaceRead = !expectsPreface
    }

    /// Adds a read; call once `next()` returned nil for the previous one.
    mutating func append(_ bytes: ByteBuffer) {
        if var rest = input, rest.readableBytes > 0 {
            var gathered = partial ?? ByteBufferAllocator().buffer(capacity: rest.readableBytes)
            gathered.writeBuffer(&rest)
            partial = gathered
        }
        input = bytes
    }

    /// The next whole frame, or nil until more bytes arrive.
    mutating func next() throws(HTTP2.ConnectionError) -> HTTP2.Frame? {
        guard var bytes = input else { return nil }
        defer { input = bytes.readableBytes > 0 ? bytes : nil }
        if !prefaceRead {
            let length = HTTP2.clientPreface.count
            var gathered = partial ?? ByteBufferAllocator().buffer(capacity: length)
            partial = nil
            gathered.take(upTo: length - gathered.readableBytes, from: &bytes)
            guard gathered.readableBytesView.elementsEqual(HTTP2.clientPreface.prefix(gathered.readableBytes)) else {
                throw HTTP2.ConnectionError(.protocolError, "not an HTTP/2 client preface (gRPC needs HTTP/2 with prior knowledge)")
            }
            guard gathered.readableBytes == length else {
                partial = gathered
                return nil
            }
            prefaceRead = true
        }
        if var gathered = partial {
            partial = nil
            gathered.take(upTo: HTTP2.frameHeaderBytes - gathered.readableBytes, from: &bytes)
            guard let length = try frameLength(in: gathered) else {
                partial = gathered
                return nil
            }
            gathered.take(upTo: HTTP2.frameHeaderBytes + length - gathered.readableBytes, from: &bytes)
            guard gathered.readableBytes == HTTP2.frameHeaderBytes + length else {
                partial = gathered
                return nil
            }
            return Self.frame(from: &gathered, length: length)
        }
        let length = try frameLength(in: bytes)
        if let length, bytes.readableBytes >= HTTP2.frameHeaderBytes + length {
            return Self.frame(from: &bytes, length: length)
        }
        guard bytes.readableBytes > 0 else { return nil }
        var gathered = ByteBufferAllocator().buffer(capacity: max(bytes.readableBytes, HTTP2.frameHeaderBytes + (length ?? 0)))
        gathered.writeBuffer(&bytes)
        partial = gathered
        return nil
    }

    /// The payload length announced by the frame header at the start of `buffer`, once all 9 bytes are there.
    private func frameLength(in buffer: ByteBuffer) throws(HTTP2.ConnectionError) -> Int? {
        guard let (high, low) = buffer.getMultipleIntegers(at: buffer.readerIndex, as: (UInt8, UInt16).self),
              buffer.readableBytes >= HTTP2.frameHeaderBytes else { return nil }
        let length = Int(high) << 16 | Int(low)
        guard length <= maxFrameSize else {
            throw HTTP2.ConnectionError(.frameSizeError, "a frame of \(length) bytes exceeds the advertised \(maxFrameSize)")
        }
        return length
    }

    private static func frame(from buffer: inout ByteBuffer, length: Int) -> HTTP2.Frame {
        // Safe to force: callers checked that the header and `length` payload bytes are readable.
        let (_, _, type, flags, rawStreamID) = buffer.readMultipleIntegers(as: (UInt8, UInt16, UInt8, UInt8, UInt32).self)!
        let payload = buffer.readSlice(length: length)!
        return HTTP2.Frame(type: type, flags: flags, streamID: rawStreamID & 0x7FFF_FFFF, payload: payload)
    }

}

extension ByteBuffer {
    /// Moves up to `count` readable bytes from the front of `source` to the end of this buffer: how a unit that
    /// spans reads (a frame, a message) is completed from the next read without copying the rest of it.
    mutating func take(upTo count: Int, from source: inout ByteBuffer) {
        guard count > 0 else { return }
        // Safe to force: at most the readable bytes are read.
        var chunk = source.readSlice(length: min(count, source.readableBytes))!
        writeBuffer(&chunk)
    }
}

/// The header blocks of gRPC calls, HPACK-encoded (RFC 7541) without the dynamic table: the peer's table size
/// setting then never matters, and nothing is Huffman-coded (which HPACK leaves optional).
enum GRPCHeaderBlock {
    /// A call's request headers: `:method: POST` and `:scheme: http` (static entries 3 and 6), then literals
    /// (names from static entries where there are: `:path` 4, `:authority` 1, `content-type` 31).
    static func request(path: String, authority: String, timeout: String?, to buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(UInt8(0x83), UInt8(0x86))
        writeLiteral(nameIndex: 4, value: path, to: &buffer)
        writeLiteral(nameIndex: 1, value: authority, to: &buffer)
        writeLiteral(nameIndex: 31, value: "application/grpc", to: &buffer)
        writeLiteral(name: "te", value: "trailers", to: &buffer)
        if let timeout { writeLiteral(name: "grpc-timeout", value: timeout, to: &buffer) }
    }

    /// A literal header field without indexing, its name a static table entry.
    static func writeLiteral(nameIndex: Int, value: String, to buffer: inout ByteBuffer) {
        writeInteger(nameIndex, prefixBits: 4, firstByte: 0, to: &buffer)
        writeString(value, to: &buffer)
    }

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
