import NIOCore
import NIOEmbedded
import Testing

@testable import GRPC

/// Our gRPC client against a hostile or stuck server, played frame by frame on an `EmbeddedChannel`.
@Suite struct GRPCClientBoundsTests {
    final class Closes {
        var statuses: [GRPCStatus] = []
    }

    /// Closed at the end of each test: an embedded channel left open keeps its handler, and what it holds.
    static func finish(_ channel: EmbeddedChannel) {
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }

    static func connected() throws -> (EmbeddedChannel, GRPCClientConnectionHandler) {
        let channel = EmbeddedChannel()
        let handler = GRPCClientConnectionHandler(authority: "test", eventLoop: channel.embeddedEventLoop)
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, handler)
    }

    static func serverFrames(_ frames: ByteBuffer..., into channel: EmbeddedChannel) throws {
        var bytes = ByteBuffer()
        for var frame in frames { bytes.writeBuffer(&frame) }
        try channel.writeInbound(bytes)
        channel.pipeline.fireChannelReadComplete()
        channel.embeddedEventLoop.run()
    }

    static func goAwayCode(_ channel: EmbeddedChannel) throws -> HTTP2.ErrorCode? {
        var written = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&chunk) }
        written.moveReaderIndex(forwardBy: HTTP2.clientPreface.count)
        while let (high, low, type, _, _) = written.readMultipleIntegers(as: (UInt8, UInt16, UInt8, UInt8, UInt32).self) {
            let length = Int(high) << 16 | Int(low)
            guard let payload = written.readSlice(length: length) else { break }
            if type == HTTP2.FrameType.goAway.rawValue {
                return payload.getInteger(at: payload.readerIndex + 4, as: UInt32.self).flatMap(HTTP2.ErrorCode.init)
            }
        }
        return nil
    }

    @Test func aResponseHeaderBlockContinuedWithoutEndIsRefused() throws {
        let (channel, handler) = try Self.connected()
        defer { Self.finish(channel) }
        let closes = Closes()
        let stream = handler.open(path: "/a.B/C", timeout: nil, onMessage: { _ in }, onClose: { closes.statuses.append($0) })
        stream.send(ByteBuffer(bytes: [1]), endStream: true)
        var frames = [WireClient.frame(.settings, streamID: 0), WireClient.frame(.headers, streamID: 1, ByteBuffer(bytes: [0x88]))]
        for _ in 0..<100 { frames.append(WireClient.frame(.continuation, streamID: 1, ByteBuffer(repeating: 0x40, count: 16 << 10))) }
        for frame in frames where channel.isActive { try Self.serverFrames(frame, into: channel) }
        #expect(try Self.goAwayCode(channel) == .enhanceYourCalm)
        #expect(closes.statuses.map(\.code) == [.unavailable])
    }

    @Test(arguments: [HTTP2.FrameType.rstStream, .windowUpdate, .data])
    func aFrameOnAStreamWeNeverOpenedIsAProtocolError(type: HTTP2.FrameType) throws {
        let (channel, _) = try Self.connected()
        defer { Self.finish(channel) }
        let frame: ByteBuffer
        switch type {
        case .rstStream: frame = WireClient.resetStream(9, .cancel)
        case .windowUpdate: frame = WireClient.windowUpdate(streamID: 9, 10)
        default: frame = WireClient.frame(.data, streamID: 9, WireClient.message([1]))
        }
        try Self.serverFrames(WireClient.frame(.settings, streamID: 0), frame, into: channel)
        #expect(try Self.goAwayCode(channel) == .protocolError)
    }

    /// A call whose request waits for a window the server never opens gives up after its timeout, and is
    /// forgotten (it used to stay on the waiting list until a WINDOW_UPDATE came).
    @Test func aCallStuckBehindAClosedWindowGivesUpAndIsForgotten() throws {
        let (channel, handler) = try Self.connected()
        defer { Self.finish(channel) }
        try Self.serverFrames(WireClient.settings([(.initialWindowSize, 0)]), into: channel)
        let closes = Closes()
        let stream = handler.open(path: "/a.B/C", timeout: .seconds(1), onMessage: { _ in }, onClose: { closes.statuses.append($0) })
        stream.send(ByteBuffer(repeating: 1, count: 1000), endStream: true)
        #expect(handler.waitingStreamCount == 1)
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(closes.statuses.map(\.code) == [.deadlineExceeded])
        #expect(handler.waitingStreamCount == 0)
    }
}
