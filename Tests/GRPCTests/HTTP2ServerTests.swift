import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOPosix
import Synchronization
import Testing

@testable import GRPC

/// A frame the server wrote.
struct WrittenFrame {
    var type: HTTP2.FrameType?
    var flags: UInt8
    var streamID: UInt32
    var payload: ByteBuffer
}

/// Plays an HTTP/2 client frame by frame against the server's connection handler on an `EmbeddedChannel`.
final class WireClient {
    let channel = EmbeddedChannel()
    private var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
    private var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
    private var unread = ByteBuffer()

    static let unaryPath = "/test.Echo/Unary"
    static let streamPath = "/test.Echo/Stream"
    static let floodPath = "/test.Echo/Flood"

    /// Counts events from the server's side, from any thread.
    final class Counter: Sendable {
        private let value = Mutex(0)
        func increment() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    /// How many streaming calls' receivers heard `cancelled`.
    let cancellations = Counter()
    /// Calls of `Hold`, which answers only when told; touched on the embedded loop only.
    final class HeldCalls: @unchecked Sendable {
        var calls: [ServerCall] = []
    }
    let held = HeldCalls()
    /// How many times the server asked its channel for a read.
    let reads = Counter()

    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        let reads: Counter
        init(reads: Counter) { self.reads = reads }
        func read(context: ChannelHandlerContext) {
            reads.increment()
            context.read()
        }
    }

    /// Echo methods: the unary one answers with its request; the streaming one echoes each message and ends
    /// with OK when the client half-closes. `Flood` answers a message of one byte N with N one-byte messages,
    /// sent only while the call is writable, then OK.
    static let holdPath = "/test.Echo/Hold"

    static func makeRouter(cancellations: Counter?, held: HeldCalls? = nil) -> GRPCRouter {
        var router = GRPCRouter()
        router.register("test.Echo", "Hold", .unary { _, call in held?.calls.append(call) })
        router.register("test.Echo", "Unary", .unary { request, call in call.respond(request) })
        router.register("test.Echo", "Stream", .streaming { call in Echo(call: call, cancellations: cancellations) })
        router.register("test.Echo", "Flood", .streaming { call in Flood(call: call) })
        return router
    }

    static var router: GRPCRouter { makeRouter(cancellations: nil) }

    final class Echo: ServerCallReceiver {
        let call: ServerCall
        let cancellations: Counter?
        init(call: ServerCall, cancellations: Counter?) {
            self.call = call
            self.cancellations = cancellations
        }
        func received(_ message: ByteBuffer) { call.send(message) }
        func requestsEnded() { call.finish(.ok) }
        func cancelled() { cancellations?.increment() }
    }

    final class Flood: ServerCallReceiver {
        let call: ServerCall
        var wanted = 0
        var sent = 0
        init(call: ServerCall) { self.call = call }
        func received(_ message: ByteBuffer) {
            wanted = Int(message.getInteger(at: message.readerIndex, as: UInt8.self) ?? 0)
            pump()
        }
        func becameWritable() { pump() }
        func cancelled() {}
        private func pump() {
            while sent < wanted, call.isWritable {
                sent += 1
                call.send(ByteBuffer(bytes: [UInt8(sent)]))
            }
            if sent == wanted { call.finish(.ok) }
        }
    }

    init(maxConcurrentStreams: Int = 100, adjust: (inout GRPCConnectionHandler.Limits) -> Void = { _ in }) throws {
        var limits = GRPCConnectionHandler.Limits(maxMessageBytes: 1 << 20, windowBytes: 1 << 20,
                                                  maxConcurrentStreams: maxConcurrentStreams,
                                                  maxFrameBytes: 1 << 20, maxHeaderListBytes: 1 << 16)
        adjust(&limits)
        let router = Self.makeRouter(cancellations: cancellations, held: held)
        try channel.pipeline.syncOperations.addHandler(ReadCounter(reads: reads))
        try channel.pipeline.syncOperations.addHandler(
            GRPCConnectionHandler(router: router, limits: limits, allocator: channel.allocator))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    /// The server's connection handler, to read what it holds.
    var handler: GRPCConnectionHandler {
        get throws { try channel.pipeline.syncOperations.handler(type: GRPCConnectionHandler.self) }
    }

    deinit {
        // Closing tears the pipeline down; an embedded channel left open keeps its handlers (and their calls).
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }

    /// Bytes from the client, as one read.
    func deliver(_ bytes: ByteBuffer) throws {
        try channel.writeInbound(bytes)
        channel.pipeline.fireChannelReadComplete()
        channel.embeddedEventLoop.run()
    }

    static func frame(_ type: HTTP2.FrameType, flags: UInt8 = 0, streamID: UInt32, _ payload: ByteBuffer = ByteBuffer()) -> ByteBuffer {
        var buffer = ByteBuffer()
        HTTP2.writeFrameHeader(type, length: payload.readableBytes, flags: flags, streamID: streamID, to: &buffer)
        var payload = payload
        buffer.writeBuffer(&payload)
        return buffer
    }

    static func preface(initialWindow: Int? = nil) -> ByteBuffer {
        var buffer = ByteBuffer(bytes: HTTP2.clientPreface)
        var settings = ByteBuffer()
        if let initialWindow { settings.writeMultipleIntegers(HTTP2.Setting.initialWindowSize.rawValue, UInt32(initialWindow)) }
        var frame = frame(.settings, streamID: 0, settings)
        buffer.writeBuffer(&frame)
        return buffer
    }

    func headerBlock(path: String, timeout: String? = nil) throws -> ByteBuffer {
        var block = ByteBuffer()
        var headers: HPACKHeaders = [":method": "POST", ":scheme": "http", ":path": path, ":authority": "localhost",
                                     "content-type": "application/grpc", "te": "trailers"]
        if let timeout { headers.add(name: "grpc-timeout", value: timeout) }
        try encoder.encode(headers: headers, to: &block)
        return block
    }

    /// HEADERS opening `streamID` on `path`, in one frame.
    func open(_ streamID: UInt32, path: String, timeout: String? = nil, endStream: Bool = false) throws -> ByteBuffer {
        WireClient.frame(.headers, flags: HTTP2.Flags.endHeaders | (endStream ? HTTP2.Flags.endStream : 0),
                         streamID: streamID, try headerBlock(path: path, timeout: timeout))
    }

    static func settings(_ values: [(HTTP2.Setting, Int)]) -> ByteBuffer {
        var payload = ByteBuffer()
        for (setting, value) in values { payload.writeMultipleIntegers(setting.rawValue, UInt32(value)) }
        return frame(.settings, streamID: 0, payload)
    }

    static func resetStream(_ streamID: UInt32, _ code: HTTP2.ErrorCode) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.writeInteger(code.rawValue)
        return frame(.rstStream, streamID: streamID, payload)
    }

    static func message(_ bytes: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }

    static func windowUpdate(streamID: UInt32, _ increment: Int) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.writeInteger(UInt32(increment))
        return frame(.windowUpdate, streamID: streamID, payload)
    }

    /// Every frame the server wrote since the last call.
    func written() throws -> [WrittenFrame] {
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { unread.writeBuffer(&chunk) }
        var frames: [WrittenFrame] = []
        while let (high, low, type, flags, streamID) = unread.getMultipleIntegers(
            at: unread.readerIndex, as: (UInt8, UInt16, UInt8, UInt8, UInt32).self) {
            let length = Int(high) << 16 | Int(low)
            guard unread.readableBytes >= 9 + length else { break }
            unread.moveReaderIndex(forwardBy: 9)
            frames.append(WrittenFrame(type: HTTP2.FrameType(rawValue: type), flags: flags, streamID: streamID,
                                       payload: unread.readSlice(length: length)!))
        }
        return frames
    }

    func decode(_ frame: WrittenFrame) throws -> HPACKHeaders {
        var block = frame.payload
        return try decoder.decodeHeaders(from: &block)
    }
}

@Suite struct HTTP2ServerTests {
    @Test func aResponseLargerThanTheClientsWindowWaitsForWindowUpdates() throws {
        let client = try WireClient()
        var bytes = WireClient.preface(initialWindow: 100)
        var headers = WireClient.frame(.headers, flags: HTTP2.Flags.endHeaders, streamID: 1, try client.headerBlock(path: WireClient.unaryPath))
        let body = (0..<1000).map { UInt8($0 % 251) }
        var data = WireClient.frame(.data, flags: HTTP2.Flags.endStream, streamID: 1, WireClient.message(body))
        bytes.writeBuffer(&headers)
        bytes.writeBuffer(&data)
        try client.deliver(bytes)

        let first = try client.written()
        #expect(first.map(\.type) == [.settings, .windowUpdate, .settings, .headers, .data])
        #expect(first[2].flags == HTTP2.Flags.ack)
        #expect(try client.decode(first[3]).first(name: ":status") == "200")
        #expect(first[4].payload.readableBytes == 100, "the stream's window is 100 bytes")
        #expect(first[4].flags & HTTP2.Flags.endStream == 0)

        try client.deliver(WireClient.windowUpdate(streamID: 1, 10_000))
        let rest = try client.written()
        #expect(rest.map(\.type) == [.data, .headers])
        #expect((rest.last?.flags ?? 0) & HTTP2.Flags.endStream != 0)
        #expect(try rest.last.map(client.decode)?.first(name: "grpc-status") == "0")
        var echoed = first[4].payload
        var tail = rest[0].payload
        echoed.writeBuffer(&tail)
        #expect(echoed == WireClient.message(body))
    }

    @Test func bytesArrivingOneAtATimeMakeTheSameCall() throws {
        let client = try WireClient()
        var bytes = WireClient.preface()
        var headers = WireClient.frame(.headers, flags: HTTP2.Flags.endHeaders, streamID: 3, try client.headerBlock(path: WireClient.unaryPath))
        var data = WireClient.frame(.data, flags: HTTP2.Flags.endStream, streamID: 3, WireClient.message([1, 2, 3]))
        bytes.writeBuffer(&headers)
        bytes.writeBuffer(&data)
        for byte in bytes.readableBytesView { try client.deliver(ByteBuffer(bytes: [byte])) }
        let frames = try client.written().filter { $0.streamID == 3 }
        #expect(frames.map(\.type) == [.headers, .data, .headers])
        #expect(frames[1].payload == WireClient.message([1, 2, 3]))
    }

    @Test func pingsAreAnsweredAndHeaderBlocksMayContinue() throws {
        let client = try WireClient()
        var bytes = WireClient.preface()
        var ping = WireClient.frame(.ping, streamID: 0, ByteBuffer(bytes: [1, 2, 3, 4, 5, 6, 7, 8]))
        bytes.writeBuffer(&ping)
        var block = try client.headerBlock(path: "/test.Echo/Missing")
        var first = WireClient.frame(.headers, flags: HTTP2.Flags.endStream, streamID: 1, block.readSlice(length: 5)!)
        var second = WireClient.frame(.continuation, flags: HTTP2.Flags.endHeaders, streamID: 1, block)
        bytes.writeBuffer(&first)
        bytes.writeBuffer(&second)
        try client.deliver(bytes)

        let frames = try client.written()
        let pong = try #require(frames.first { $0.type == .ping })
        #expect(pong.flags == HTTP2.Flags.ack && pong.payload == ByteBuffer(bytes: [1, 2, 3, 4, 5, 6, 7, 8]))
        let answer = try #require(frames.first { $0.type == .headers && $0.streamID == 1 })
        let trailers = try client.decode(answer)
        #expect(trailers.first(name: "grpc-status") == "12")
        #expect(trailers.first(name: "grpc-message")?.contains("unknown method") == true)
        #expect(answer.flags & HTTP2.Flags.endStream != 0)
    }

    @Test func aStreamEchoesInOrderAndStreamsBeyondTheLimitAreRefused() throws {
        let client = try WireClient(maxConcurrentStreams: 1)
        var bytes = WireClient.preface()
        var open = WireClient.frame(.headers, flags: HTTP2.Flags.endHeaders, streamID: 1, try client.headerBlock(path: WireClient.streamPath))
        bytes.writeBuffer(&open)
        var refused = WireClient.frame(.headers, flags: HTTP2.Flags.endHeaders, streamID: 3, try client.headerBlock(path: WireClient.streamPath))
        bytes.writeBuffer(&refused)
        for index in 0..<50 {
            var data = WireClient.frame(.data, flags: index == 49 ? HTTP2.Flags.endStream : 0, streamID: 1, WireClient.message([UInt8(index)]))
            bytes.writeBuffer(&data)
        }
        try client.deliver(bytes)
        let frames = try client.written()
        let reset = try #require(frames.first { $0.type == .rstStream && $0.streamID == 3 })
        #expect(reset.payload.getInteger(at: reset.payload.readerIndex, as: UInt32.self) == HTTP2.ErrorCode.refusedStream.rawValue)
        var echoed = ByteBuffer()
        for frame in frames where frame.type == .data && frame.streamID == 1 {
            var payload = frame.payload
            echoed.writeBuffer(&payload)
        }
        var expected = ByteBuffer()
        for index in 0..<50 {
            var message = WireClient.message([UInt8(index)])
            expected.writeBuffer(&message)
        }
        #expect(echoed == expected)
        let end = try #require(frames.last { $0.type == .headers && $0.streamID == 1 })
        #expect(try client.decode(end).first(name: "grpc-status") == "0")
    }

    @Test(arguments: ["bad preface", "even stream", "DATA on an idle stream", "oversized frame"])
    func protocolFaultsEndTheConnectionWithGoAway(fault: String) throws {
        let client = try WireClient()
        var bytes: ByteBuffer
        switch fault {
        case "bad preface":
            bytes = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        case "even stream":
            bytes = WireClient.preface()
            var headers = WireClient.frame(.headers, flags: HTTP2.Flags.endHeaders, streamID: 2, try client.headerBlock(path: WireClient.unaryPath))
            bytes.writeBuffer(&headers)
        case "DATA on an idle stream":
            bytes = WireClient.preface()
            var data = WireClient.frame(.data, streamID: 7, WireClient.message([1]))
            bytes.writeBuffer(&data)
        default:
            bytes = WireClient.preface()
            var header = ByteBuffer()
            header.writeMultipleIntegers(UInt8(0x20), UInt16(0), UInt8(0), UInt8(0), UInt32(1))
            bytes.writeBuffer(&header)
        }
        try client.deliver(bytes)
        let frames = try client.written()
        let goAway = try #require(frames.first { $0.type == .goAway }, "\(fault)")
        let code = goAway.payload.getInteger(at: goAway.payload.readerIndex + 4, as: UInt32.self)
        #expect(code == (fault == "oversized frame" ? HTTP2.ErrorCode.frameSizeError : .protocolError).rawValue)
        #expect(!client.channel.isActive)
    }

    @Test func headerBlocksDecodeAsHPACK() throws {
        var block = ByteBuffer()
        GRPCHeaderBlock.trailers(GRPCStatus(.invalidArgument, String(repeating: "long message ", count: 20)),
                                 trailersOnly: true, to: &block)
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
        let headers = try decoder.decodeHeaders(from: &block)
        #expect(headers.map(\.name) == [":status", "content-type", "grpc-status", "grpc-message"])
        #expect(headers.first(name: "content-type") == "application/grpc")
        #expect(headers.first(name: "grpc-status") == "3")
        #expect(headers.first(name: "grpc-message")?.count == 260)
        // RFC 7541 C.1.2: 1337 with a 5-bit prefix.
        var integer = ByteBuffer()
        GRPCHeaderBlock.writeInteger(1337, prefixBits: 5, firstByte: 0, to: &integer)
        #expect(Array(integer.readableBytesView) == [31, 154, 10])
    }

    /// Our swift-nio-http2 client against the server over a real socket: many concurrent calls, messages far
    /// larger than a frame or the initial windows, and a long stream.
    @Test func manyConcurrentCallsAndLargeMessagesOverASocket() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let server = GRPCServer(configuration: .init(host: "127.0.0.1", port: 0), router: WireClient.router, group: group)
        let port = try await server.start()
        let channel = try await GRPCChannel.connect(host: "127.0.0.1", port: port, group: group)
        let sizes = [0, 1, 100, 16_384, 65_536, 300_000, 3 << 20]
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            for index in 0..<200 {
                tasks.addTask {
                    let size = sizes[index % sizes.count]
                    let body = ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) })
                    let reply = try await channel.unary(WireClient.unaryPath, request: body, timeout: .seconds(60))
                    return reply == body
                }
            }
            for try await same in tasks { #expect(same) }
        }
        let closed = channel.eventLoop.makePromise(of: (GRPCStatus, [ByteBuffer]).self)
        try await channel.eventLoop.submit {
            var received: [ByteBuffer] = []
            let stream = channel.openStream(WireClient.streamPath, onMessage: { received.append($0) },
                                            onClose: { closed.succeed(($0, received)) })
            for index in 0..<5_000 { stream.send(ByteBuffer(string: "message \(index)")) }
            stream.send(ByteBuffer(string: "last"), endStream: true)
        }.get()
        let (status, messages) = try await closed.futureResult.get()
        #expect(status.code == .ok)
        #expect(messages.count == 5_001)
        #expect(messages.prefix(5_000).enumerated().allSatisfy { $0.element == ByteBuffer(string: "message \($0.offset)") })
        await channel.close()
        await server.shutdown()
        try await group.shutdownGracefully()
    }
}

/// What a client can make the server hold, and for how long: each test fails without the bound it checks.
@Suite struct HTTP2ServerBoundsTests {
    static func status(_ frames: [WrittenFrame], _ client: WireClient, stream: UInt32) throws -> HPACKHeaders? {
        try frames.last { $0.type == .headers && $0.streamID == stream }.map(client.decode)
    }

    static func goAwayCode(_ frames: [WrittenFrame]) -> HTTP2.ErrorCode? {
        frames.first { $0.type == .goAway }.flatMap { frame in
            frame.payload.getInteger(at: frame.payload.readerIndex + 4, as: UInt32.self).flatMap(HTTP2.ErrorCode.init)
        }
    }

    @Test(arguments: ["too large", "compressed", "ended inside a message"])
    func aStreamingCallTheServerEndsIsCancelledForItsReceiver(fault: String) throws {
        let client = try WireClient()
        var bytes = WireClient.preface()
        var open = try client.open(1, path: WireClient.streamPath)
        bytes.writeBuffer(&open)
        var message = ByteBuffer()
        switch fault {
        case "too large": message.writeMultipleIntegers(UInt8(0), UInt32(2 << 20))
        case "compressed": message.writeMultipleIntegers(UInt8(1), UInt32(1), UInt8(7))
        default: message.writeMultipleIntegers(UInt8(0), UInt32(10), UInt8(7))
        }
        var data = WireClient.frame(.data, flags: fault == "ended inside a message" ? HTTP2.Flags.endStream : 0,
                                    streamID: 1, message)
        bytes.writeBuffer(&data)
        try client.deliver(bytes)
        let trailers = try #require(try Self.status(client.written(), client, stream: 1), "\(fault)")
        #expect(trailers.first(name: "grpc-status") == (fault == "too large" ? "8" : "13"))
        #expect(client.cancellations.count == 1, "the receiver must let go of what it holds for the call")
        #expect(try client.handler.openStreamCount == 0)
    }

    @Test func aHeaderBlockContinuedPastTheHeaderListLimitEndsTheConnection() throws {
        let client = try WireClient()
        try client.deliver(WireClient.preface())
        var first = try client.headerBlock(path: WireClient.unaryPath)
        try client.deliver(WireClient.frame(.headers, streamID: 1, first.readSlice(length: 3) ?? ByteBuffer()))
        // 16 KiB of (meaningless) fragment per CONTINUATION: the limit is 64 KiB.
        let fragment = ByteBuffer(repeating: 0x40, count: 16 << 10)
        var sent = 0
        while client.channel.isActive, sent < 100 {
            try client.deliver(WireClient.frame(.continuation, streamID: 1, fragment))
            sent += 1
        }
        #expect(Self.goAwayCode(try client.written()) == .enhanceYourCalm)
        #expect(sent <= 4, "the block is refused once it passes the limit, not gathered")
    }

    @Test func raisingTheInitialWindowWakesABlockedSender() throws {
        let client = try WireClient()
        var bytes = WireClient.preface(initialWindow: 0)
        var open = try client.open(1, path: WireClient.floodPath)
        var data = WireClient.frame(.data, flags: HTTP2.Flags.endStream, streamID: 1, WireClient.message([50]))
        bytes.writeBuffer(&open)
        bytes.writeBuffer(&data)
        try client.deliver(bytes)
        #expect(try client.written().filter { $0.streamID == 1 && $0.type == .data }.isEmpty)
        try client.deliver(WireClient.settings([(.initialWindowSize, 1 << 20)]))
        let frames = try client.written().filter { $0.streamID == 1 }
        #expect(frames.filter { $0.type == .data }.reduce(0) { $0 + $1.payload.readableBytes } == 50 * 6)
        #expect(try Self.status(frames, client, stream: 1)?.first(name: "grpc-status") == "0")
    }

    @Test func aSettingThatTakesAWindowPast2To31IsAFlowControlError() throws {
        let client = try WireClient()
        var bytes = WireClient.preface()
        var open = try client.open(1, path: WireClient.streamPath)
        var update = WireClient.windowUpdate(streamID: 1, HTTP2.maxWindow - HTTP2.defaultWindow)
        var settings = WireClient.settings([(.initialWindowSize, HTTP2.defaultWindow + 1)])
        bytes.writeBuffer(&open)
        bytes.writeBuffer(&update)
        bytes.writeBuffer(&settings)
        try client.deliver(bytes)
        #expect(Self.goAwayCode(try client.written()) == .flowControlError)
        #expect(!client.channel.isActive)
    }

    @Test(arguments: [HTTP2.FrameType.rstStream, .windowUpdate])
    func aFrameOnAStreamNeverOpenedIsAProtocolError(type: HTTP2.FrameType) throws {
        let client = try WireClient()
        var bytes = WireClient.preface()
        var frame = type == .rstStream ? WireClient.resetStream(5, .cancel) : WireClient.windowUpdate(streamID: 5, 100)
        bytes.writeBuffer(&frame)
        try client.deliver(bytes)
        #expect(Self.goAwayCode(try client.written()) == .protocolError)
    }

    @Test func aPassedDeadlineDropsAResponseStillWaitingForTheWindow() throws {
        let client = try WireClient()
        var bytes = WireClient.preface(initialWindow: 0)
        var open = try client.open(1, path: WireClient.unaryPath, timeout: "1S")
        var data = WireClient.frame(.data, flags: HTTP2.Flags.endStream, streamID: 1, WireClient.message(Array(repeating: 9, count: 1000)))
        bytes.writeBuffer(&open)
        bytes.writeBuffer(&data)
        try client.deliver(bytes)
        #expect(try client.handler.waitingStreamCount == 1)
        client.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        let reset = try #require(try client.written().first { $0.type == .rstStream && $0.streamID == 1 })
        #expect(reset.payload.getInteger(at: reset.payload.readerIndex, as: UInt32.self) == HTTP2.ErrorCode.cancel.rawValue)
        #expect(try client.handler.openStreamCount == 0)
        #expect(try client.handler.waitingStreamCount == 0)
    }

    @Test func aStreamResetWhileWaitingForTheWindowIsForgotten() throws {
        let client = try WireClient()
        var bytes = WireClient.preface(initialWindow: 0)
        var open = try client.open(1, path: WireClient.unaryPath)
        var data = WireClient.frame(.data, flags: HTTP2.Flags.endStream, streamID: 1, WireClient.message([1, 2, 3]))
        bytes.writeBuffer(&open)
        bytes.writeBuffer(&data)
        try client.deliver(bytes)
        #expect(try client.handler.waitingStreamCount == 1)
        try client.deliver(WireClient.resetStream(1, .cancel))
        #expect(try client.handler.waitingStreamCount == 0)
        #expect(try client.handler.openStreamCount == 0)
    }

    @Test func aConnectionThatNeverBeginsHTTP2IsClosed() throws {
        let client = try WireClient()
        try client.deliver(ByteBuffer(bytes: HTTP2.clientPreface.prefix(10)))
        client.channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(!client.channel.isActive)
    }

    @Test func anIdleConnectionIsClosedButOneWithACallOpenIsNot() throws {
        let idle = try WireClient()
        try idle.deliver(WireClient.preface())
        idle.channel.embeddedEventLoop.advanceTime(by: .minutes(11))
        #expect(HTTP2ServerBoundsTests.goAwayCode(try idle.written()) == .noError)
        #expect(!idle.channel.isActive)

        let busy = try WireClient()
        var bytes = WireClient.preface()
        var open = try busy.open(1, path: WireClient.streamPath)
        bytes.writeBuffer(&open)
        try busy.deliver(bytes)
        busy.channel.embeddedEventLoop.advanceTime(by: .minutes(11))
        #expect(busy.channel.isActive, "a watch may sit quiet for hours")
    }

    @Test func timeoutsAreWrittenInAtMostEightDigits() {
        let cases: [(TimeAmount, String)] = [
            (.milliseconds(5), "5m"), (.nanoseconds(10), "1m"), (.hours(27), "97200000m"), (.hours(28), "100800S"),
            (.hours(24 * 365 * 4), "2102400M"), (.nanoseconds(.max), "2562047H"),
        ]
        for (timeout, expected) in cases {
            let encoded = GRPCTimeout.encode(timeout)
            #expect(encoded == expected)
            #expect(encoded.count <= 9)
            #expect(GRPCTimeout.parse(encoded).map { $0 <= max(timeout, .milliseconds(1)) } == true)
        }
    }
}

/// Backpressure: a client that sends without reading, or faster than its calls answer, is slowed down rather
/// than buffered for.
@Suite struct HTTP2ServerBackpressureTests {
    static func resetCode(_ frames: [WrittenFrame], stream: UInt32) -> HTTP2.ErrorCode? {
        frames.last { $0.type == .rstStream && $0.streamID == stream }.flatMap { frame in
            frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt32.self).flatMap(HTTP2.ErrorCode.init)
        }
    }

    @Test func readingWaitsWhileTheSocketTakesNoMoreWrites() throws {
        let client = try WireClient()
        try client.deliver(WireClient.preface())
        client.channel.isWritable = false
        client.channel.pipeline.fireChannelWritabilityChanged()
        let before = client.reads.count
        client.channel.pipeline.read()
        #expect(client.reads.count == before, "no read while our writes are not taken")
        #expect(try client.handler.isReadHeld)
        client.channel.isWritable = true
        client.channel.pipeline.fireChannelWritabilityChanged()
        #expect(client.reads.count == before + 1)
    }

    @Test func dataWaitsWhileTheSocketTakesNoMoreWrites() throws {
        let client = try WireClient()
        try client.deliver(WireClient.preface())
        _ = try client.written()
        client.channel.isWritable = false
        client.channel.pipeline.fireChannelWritabilityChanged()
        var bytes = try client.open(1, path: WireClient.unaryPath)
        var data = WireClient.frame(.data, flags: HTTP2.Flags.endStream, streamID: 1, WireClient.message([1, 2, 3]))
        bytes.writeBuffer(&data)
        try client.deliver(bytes)
        #expect(try client.written().filter { $0.type == .data }.isEmpty)
        #expect(try client.handler.waitingResponseBytes == 8)
        client.channel.isWritable = true
        client.channel.pipeline.fireChannelWritabilityChanged()
        client.channel.embeddedEventLoop.run()
        let frames = try client.written().filter { $0.streamID == 1 }
        #expect(frames.first { $0.type == .data }?.payload == WireClient.message([1, 2, 3]))
        #expect(try HTTP2ServerBoundsTests.status(frames, client, stream: 1)?.first(name: "grpc-status") == "0")
        #expect(try client.handler.waitingResponseBytes == 0)
    }

    /// A streaming call whose client never reads its answers stops being handed requests: what waits to be
    /// sent stays bounded, the requests wait in their window (no WINDOW_UPDATE for them), and a client that
    /// sends past it breaks the protocol. Opening the window delivers everything, in order.
    @Test func aCallWhoseClientDoesNotReadStopsTakingRequests() throws {
        let backlog = 4096
        let client = try WireClient { $0.maxStreamBacklogBytes = backlog }
        var bytes = WireClient.preface(initialWindow: 0)
        var open = try client.open(1, path: WireClient.streamPath)
        bytes.writeBuffer(&open)
        let body = [UInt8](repeating: 7, count: 95)
        for _ in 0..<2000 {
            var data = WireClient.frame(.data, streamID: 1, WireClient.message(body))
            bytes.writeBuffer(&data)
        }
        try client.deliver(bytes)
        let frames = try client.written()
        #expect(!frames.contains { $0.type == .windowUpdate && $0.streamID == 1 }, "taken requests only are credited")
        let handler = try client.handler
        #expect(handler.waitingResponseBytes <= backlog + GRPCConnectionHandler.batchBytes + 100)
        #expect(handler.waitingResponseBytes > 0)
        #expect(handler.bufferedRequestByteCount > 100_000, "the requests not taken wait in the connection")

        try client.deliver(WireClient.windowUpdate(streamID: 0, 1 << 30))
        var echoed = 0
        for _ in 0..<100 where echoed < 2000 * 100 {
            try client.deliver(WireClient.windowUpdate(streamID: 1, 1 << 20))
            echoed += try client.written().filter { $0.type == .data && $0.streamID == 1 }.reduce(0) { $0 + $1.payload.readableBytes }
        }
        #expect(echoed == 2000 * 100)
        #expect(try client.handler.bufferedRequestByteCount == 0)
    }

    /// Requests a call has not taken are not credited to its stream: a client may send its 1 MiB window and no
    /// more. The connection's window is credited as data arrives, so other calls go on meanwhile.
    @Test func dataPastTheStreamsWindowIsAFlowControlError() throws {
        let client = try WireClient { $0.maxStreamBacklogBytes = 0 }
        var bytes = WireClient.preface(initialWindow: 0)
        var open = try client.open(1, path: WireClient.streamPath)
        bytes.writeBuffer(&open)
        // Every request stays untaken (the first answer already fills the backlog).
        let chunk = WireClient.frame(.data, streamID: 1, ByteBuffer(repeating: 0, count: 64 << 10))
        for _ in 0..<17 { bytes.writeImmutableBuffer(chunk) }
        var other = try client.open(3, path: WireClient.unaryPath)
        var otherData = WireClient.frame(.data, flags: HTTP2.Flags.endStream, streamID: 3, WireClient.message([9]))
        bytes.writeBuffer(&other)
        bytes.writeBuffer(&otherData)
        try client.deliver(bytes)
        let frames = try client.written()
        #expect(Self.resetCode(frames, stream: 1) == .flowControlError)
        #expect(HTTP2ServerBoundsTests.goAwayCode(frames) == nil)
        #expect(frames.contains { $0.type == .windowUpdate && $0.streamID == 0 }, "the connection's window is topped up")
        #expect(frames.contains { $0.type == .headers && $0.streamID == 3 }, "another call is served meanwhile")
        #expect(try client.handler.bufferedRequestByteCount == 0, "the reset stream's requests are dropped")
    }

    @Test func newCallsAreRefusedWhileTheConnectionsResponsesWaitBeyondTheLimit() throws {
        let client = try WireClient { $0.maxConnectionBacklogBytes = 1000 }
        var bytes = WireClient.preface(initialWindow: 0)
        var open = try client.open(1, path: WireClient.unaryPath)
        var data = WireClient.frame(.data, flags: HTTP2.Flags.endStream, streamID: 1, WireClient.message(Array(repeating: 1, count: 2000)))
        var next = try client.open(3, path: WireClient.unaryPath)
        bytes.writeBuffer(&open)
        bytes.writeBuffer(&data)
        bytes.writeBuffer(&next)
        try client.deliver(bytes)
        #expect(Self.resetCode(try client.written(), stream: 3) == .refusedStream)
    }

    /// A call held back by the connection's backlog takes its requests once the backlog goes, however it goes
    /// (here: the stream holding it is reset), not only when a window opens.
    @Test func aCallHeldBackByTheConnectionsBacklogGoesOnWhenItDrops() throws {
        let client = try WireClient { $0.maxConnectionBacklogBytes = 1000 }
        var bytes = WireClient.preface(initialWindow: 0)
        var stream = try client.open(1, path: WireClient.streamPath)
        var open = try client.open(3, path: WireClient.unaryPath)
        var data = WireClient.frame(.data, flags: HTTP2.Flags.endStream, streamID: 3, WireClient.message(Array(repeating: 1, count: 2000)))
        bytes.writeBuffer(&stream)
        bytes.writeBuffer(&open)
        bytes.writeBuffer(&data)
        try client.deliver(bytes)
        try client.deliver(WireClient.frame(.data, streamID: 1, WireClient.message([7])))
        #expect(try client.handler.bufferedRequestByteCount > 0, "held while 2000 bytes wait")
        try client.deliver(WireClient.resetStream(3, .cancel))
        client.channel.embeddedEventLoop.run()
        #expect(try client.handler.bufferedRequestByteCount == 0, "taken once they are gone")
        #expect(try client.handler.waitingResponseBytes == 6, "its echo waits for the window")
    }

    /// Answers gathered in the read burst that opens a call count toward the connection's backlog too.
    @Test func answersNotYetFlushedCountTowardTheConnectionsBacklog() throws {
        let client = try WireClient { $0.maxConnectionBacklogBytes = 100 }
        var bytes = WireClient.preface()
        var open = try client.open(1, path: WireClient.streamPath)
        bytes.writeBuffer(&open)
        for _ in 0..<50 {
            var data = WireClient.frame(.data, streamID: 1, WireClient.message(Array(repeating: 1, count: 10)))
            bytes.writeBuffer(&data)
        }
        var next = try client.open(3, path: WireClient.unaryPath)
        bytes.writeBuffer(&next)
        try client.deliver(bytes)
        #expect(Self.resetCode(try client.written(), stream: 3) == .refusedStream, "750 bytes of echoes were gathered")
    }

    @Test func dataAfterEndStreamIsAStreamClosedError() throws {
        let client = try WireClient()
        var bytes = WireClient.preface(initialWindow: 0)
        var open = try client.open(1, path: WireClient.floodPath)
        var data = WireClient.frame(.data, flags: HTTP2.Flags.endStream, streamID: 1, WireClient.message([3]))
        var late = WireClient.frame(.data, streamID: 1, WireClient.message([4]))
        bytes.writeBuffer(&open)
        bytes.writeBuffer(&data)
        bytes.writeBuffer(&late)
        try client.deliver(bytes)
        #expect(Self.resetCode(try client.written(), stream: 1) == .streamClosed)
        #expect(try client.handler.openStreamCount == 0)
    }

    /// Opening calls and resetting them at once ("rapid reset") cannot start more work than the stream limit
    /// allows: a reset call counts until its handler answers.
    @Test func callsResetBeforeTheirHandlerAnsweredCountAgainstTheStreamLimit() throws {
        let client = try WireClient(maxConcurrentStreams: 2)
        try client.deliver(WireClient.preface())
        for streamID in [UInt32(1), 3] {
            var bytes = try client.open(streamID, path: WireClient.holdPath)
            var data = WireClient.frame(.data, flags: HTTP2.Flags.endStream, streamID: streamID, WireClient.message([1]))
            var reset = WireClient.resetStream(streamID, .cancel)
            bytes.writeBuffer(&data)
            bytes.writeBuffer(&reset)
            try client.deliver(bytes)
        }
        #expect(client.held.calls.count == 2)
        try client.deliver(try client.open(5, path: WireClient.unaryPath))
        #expect(Self.resetCode(try client.written(), stream: 5) == .refusedStream)
        for call in client.held.calls { call.respond(ByteBuffer()) }
        client.channel.embeddedEventLoop.run()
        try client.deliver(try client.open(7, path: WireClient.unaryPath))
        #expect(Self.resetCode(try client.written(), stream: 7) == nil)
        #expect(try client.handler.openStreamCount == 1)
    }
}
