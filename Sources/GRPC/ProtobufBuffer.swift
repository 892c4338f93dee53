import NIOCore
import SwiftProtobuf

/// Lets swift-protobuf decode from and encode into a `ByteBuffer` directly: requests are parsed in place from
/// the received frame, and responses are serialized into a buffer that already has room for gRPC's 5-byte
/// prefix, so neither direction copies the message.
public struct ProtobufBuffer: SwiftProtobufContiguousBytes {
    public var buffer: ByteBuffer

    public init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    public init(repeating byte: UInt8, count: Int) {
        var buffer = ByteBufferAllocator().buffer(capacity: GRPCFraming.reservedPrefix + count)
        buffer.writeRepeatingByte(0, count: GRPCFraming.reservedPrefix)
        buffer.writeRepeatingByte(byte, count: count)
        buffer.moveReaderIndex(forwardBy: GRPCFraming.reservedPrefix)
        self.buffer = buffer
    }

    public init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        let bytes = Array(sequence)
        var buffer = ByteBufferAllocator().buffer(capacity: GRPCFraming.reservedPrefix + bytes.count)
        buffer.writeRepeatingByte(0, count: GRPCFraming.reservedPrefix)
        buffer.writeBytes(bytes)
        buffer.moveReaderIndex(forwardBy: GRPCFraming.reservedPrefix)
        self.buffer = buffer
    }

    public var count: Int { buffer.readableBytes }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes(body)
    }

    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutableReadableBytes(body)
    }
}

extension SwiftProtobuf.Message {
    /// Decodes a request message from a received gRPC message.
    public init(grpcMessage: ByteBuffer) throws {
        try self.init(serializedBytes: ProtobufBuffer(grpcMessage))
    }

    /// Encodes a message with gRPC's 5-byte prefix already written before its reader index, so framing it
    /// neither copies nor writes.
    public func grpcMessage() throws -> ByteBuffer {
        var encoded: ProtobufBuffer = try serializedBytes()
        let length = encoded.buffer.readableBytes
        let start = encoded.buffer.readerIndex - GRPCFraming.reservedPrefix
        encoded.buffer.setInteger(UInt8(0), at: start)
        encoded.buffer.setInteger(UInt32(length), at: start + 1)
        return encoded.buffer
    }
}
