import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// A lean gRPC client connection for load generation and store clients: many concurrent calls on one HTTP/2
/// connection, routed by stream ID in one handler (no child channel per call), each answered through callbacks on
/// the connection's event loop — the client-side twin of `GRPCServer`'s connection handler.
public final class GRPCChannel: Sendable {
    public let eventLoop: EventLoop
    let channel: Channel
    /// Used only on `eventLoop`.
    let handler: UnsafeTransfer<GRPCClientConnectionHandler>

    private init(channel: Channel, handler: UnsafeTransfer<GRPCClientConnectionHandler>) {
        self.channel = channel
        eventLoop = channel.eventLoop
        self.handler = handler
    }

    public static func connect(host: String, port: Int, group: EventLoopGroup,
                               timeout: TimeAmount = .seconds(5)) async throws -> GRPCChannel {
        let authority = "\(host):\(port)"
        let (channel, handler) = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(timeout)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    var configuration = NIOHTTP2Handler.ConnectionConfiguration()
                    configuration.initialSettings = [
                        HTTP2Setting(parameter: .initialWindowSize, value: GRPCClientConnectionHandler.windowBytes),
                        HTTP2Setting(parameter: .maxFrameSize, value: 1 << 20),
                    ]
                    // Go's gRPC servers (etcd) send a PING per burst of data to estimate bandwidth: thousands a
                    // second under load. The server is the one we chose to talk to, so this flood guard is
                    // effectively off: 10,000 per 10 ms. (Not `.max`: the guard preallocates room for that many
                    // timestamps, which overflows.)
                    configuration.controlFrameRateLimit.maximumCount = 10_000
                    configuration.controlFrameRateLimit.windowLength = .milliseconds(10)
                    let handler = GRPCClientConnectionHandler(authority: authority, eventLoop: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHandler(NIOHTTP2Handler(mode: .client,
                                                                                   connectionConfiguration: configuration))
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, UnsafeTransfer(handler))
                }
            }
        return GRPCChannel(channel: channel, handler: handler)
    }

    /// Starts a unary call; `completion` runs on `eventLoop` with the response message or the call's status.
    /// Cheapest when called on `eventLoop` (it hops there otherwise). `request` may carry 5 bytes of headroom
    /// before its reader index to be framed without a copy (see `GRPCFraming.reservedPrefix`).
    public func unary(_ path: String, request: ByteBuffer, timeout: TimeAmount? = nil,
                      completion: @escaping (Result<ByteBuffer, GRPCStatus>) -> Void) {
        if eventLoop.inEventLoop {
            startUnary(path, request: request, timeout: timeout, completion: completion)
        } else {
            let completion = UnsafeTransfer(completion)
            eventLoop.execute { self.startUnary(path, request: request, timeout: timeout, completion: completion.value) }
        }
    }

    /// One unary call, awaited: for tools and set-up rather than hot paths. Besides the `grpc-timeout` it sends,
    /// the call gives up on its own one second after `timeout`, so a server that never answers (paused, or cut
    /// off) cannot hang the caller.
    public func unary(_ path: String, request: ByteBuffer, timeout: TimeAmount) async throws -> ByteBuffer {
        let promise = eventLoop.makePromise(of: ByteBuffer.self)
        unary(path, request: request, timeout: timeout) { result in promise.completeWith(result.mapError { $0 }) }
        return try await promise.futureResult.get()
    }

    private func startUnary(_ path: String, request: ByteBuffer, timeout: TimeAmount?,
                            completion: @escaping (Result<ByteBuffer, GRPCStatus>) -> Void) {
        var response: ByteBuffer?
        var giveUp: Scheduled<Void>?
        let stream = handler.value.open(path: path, timeout: timeout,
                                        onMessage: { response = $0 },
                                        onClose: { status in
                                            giveUp?.cancel()
                                            if status.code != .ok {
                                                completion(.failure(status))
                                            } else if let response {
                                                completion(.success(response))
                                            } else {
                                                completion(.failure(GRPCStatus(.internal, "no response message")))
                                            }
                                        })
        stream.send(request, endStream: true)
        if let timeout, !stream.closed {
            giveUp = eventLoop.assumeIsolated().scheduleTask(in: timeout + .seconds(1)) {
                stream.cancel(GRPCStatus(.deadlineExceeded, "no answer within \(timeout)"))
            }
        }
    }

    /// Opens a streaming call (client, server or bidirectional streaming). Call on `eventLoop`; the returned
    /// stream and both callbacks are used there only. `onClose` runs once, with `.ok` or the call's status.
    public func openStream(_ path: String, timeout: TimeAmount? = nil,
                           onMessage: @escaping (ByteBuffer) -> Void,
                           onClose: @escaping (GRPCStatus) -> Void) -> GRPCClientStream {
        eventLoop.preconditionInEventLoop()
        return handler.value.open(path: path, timeout: timeout, onMessage: onMessage, onClose: onClose)
    }

    public func close() async {
        try? await channel.close()
    }

    /// Stops reading from the socket: the server's sends back up into its own buffers, as with a client that
    /// stalls (for testing that a stalled watcher does not slow anyone else down).
    public func stopReading() async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: false).get()
    }

    /// Starts closing the connection without waiting for it.
    public func closeSoon() {
        channel.close(promise: nil)
    }
}

/// One call's request side, bound to its connection's event loop.
public final class GRPCClientStream {
    let streamID: HTTP2StreamID
    unowned(unsafe) let handler: GRPCClientConnectionHandler
    var reader = MessageReader(maxMessageBytes: 256 << 20)
    var consumed = 0
    var halfClosed = false
    var closed = false
    let onMessage: (ByteBuffer) -> Void
    let onClose: (GRPCStatus) -> Void

    init(streamID: HTTP2StreamID, handler: GRPCClientConnectionHandler,
         onMessage: @escaping (ByteBuffer) -> Void, onClose: @escaping (GRPCStatus) -> Void) {
        self.streamID = streamID
        self.handler = handler
        self.onMessage = onMessage
        self.onClose = onClose
    }

    /// Sends one request message; `endStream` half-closes the call (no more requests).
    public func send(_ message: ByteBuffer, endStream: Bool = false) {
        guard !halfClosed, !closed else { return }
        halfClosed = endStream
        handler.send(message, on: self, endStream: endStream)
    }

    /// Ends the call from the client side (RST_STREAM CANCEL); `onClose` runs with `status`.
    public func cancel(_ status: GRPCStatus = GRPCStatus(.cancelled, "cancelled by the client")) {
        guard !closed else { return }
        handler.cancel(self, status: status)
    }
}

/// Moves a non-Sendable value to the event loop it will be used on.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    // @unchecked Sendable: the value is handed to exactly one event loop and used only there.
    let value: Value

    init(_ value: Value) {
        self.value = value
    }
}

final class GRPCClientConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = Never
    typealias OutboundOut = HTTP2Frame

    /// The receive window per stream and for the connection, returned once half of it is consumed.
    static let windowBytes = 8 << 20

    let authority: String
    private var context: ChannelHandlerContext?
    private var streams: [HTTP2StreamID: GRPCClientStream] = [:]
    private var nextStreamID = 1
    private var connectionConsumed = 0
    private var inRead = false
    private var flushPending = false
    private var closed = false
    /// Why the connection ended, for the calls it fails.
    private var closeReason = "the connection closed"
    private let eventLoop: EventLoop

    init(authority: String, eventLoop: EventLoop) {
        self.authority = authority
        self.eventLoop = eventLoop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The context holds this handler: keeping it past removal would keep the pair, and the whole pipeline
        // with its buffers, alive after the connection closed.
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        let increment = Self.windowBytes - 65_535
        context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: increment))),
                      promise: nil)
        context.flush()
        context.fireChannelActive()
    }

    func open(path: String, timeout: TimeAmount?, onMessage: @escaping (ByteBuffer) -> Void,
              onClose: @escaping (GRPCStatus) -> Void) -> GRPCClientStream {
        let streamID = HTTP2StreamID(nextStreamID)
        let stream = GRPCClientStream(streamID: streamID, handler: self, onMessage: onMessage, onClose: onClose)
        guard let context, !closed, nextStreamID < Int(Int32.max) - 2 else {
            // Fail from the event loop, not from inside the caller: a client that retries in its callback must
            // not recurse through every remaining request.
            stream.closed = true
            let status = GRPCStatus(.unavailable, closeReason)
            eventLoop.assumeIsolated().execute { onClose(status) }
            return stream
        }
        nextStreamID += 2
        var headers: HPACKHeaders = [":method": "POST", ":scheme": "http", ":path": path, ":authority": authority,
                                     "content-type": "application/grpc", "te": "trailers"]
        if let timeout { headers.add(name: "grpc-timeout", value: "\(max(timeout.nanoseconds / 1_000_000, 1))m") }
        streams[streamID] = stream
        context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: headers)))), promise: nil)
        flushSoon(context)
        return stream
    }

    func send(_ message: ByteBuffer, on stream: GRPCClientStream, endStream: Bool) {
        guard let context else { return }
        let framed = GRPCFraming.frame(message, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: stream.streamID,
                                                 payload: .data(.init(data: .byteBuffer(framed), endStream: endStream)))),
                      promise: nil)
        flushSoon(context)
    }

    func cancel(_ stream: GRPCClientStream, status: GRPCStatus) {
        guard let context else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: stream.streamID, payload: .rstStream(.cancel))), promise: nil)
        flushSoon(context)
        finish(stream.streamID, status)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inRead = true
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .data(let payload):
            let flowControlled = payload.data.readableBytes + (payload.paddingBytes.map { $0 + 1 } ?? 0)
            connectionConsumed += flowControlled
            if connectionConsumed >= Self.windowBytes / 2 {
                context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream,
                                                         payload: .windowUpdate(windowSizeIncrement: connectionConsumed))),
                              promise: nil)
                connectionConsumed = 0
            }
            guard let stream = streams[frame.streamID], case .byteBuffer(let bytes) = payload.data else { return }
            stream.consumed += flowControlled
            if stream.consumed >= Self.windowBytes / 2, !payload.endStream {
                context.write(wrapOutboundOut(HTTP2Frame(streamID: frame.streamID,
                                                         payload: .windowUpdate(windowSizeIncrement: stream.consumed))),
                              promise: nil)
                stream.consumed = 0
            }
            do {
                for message in try stream.reader.append(bytes) {
                    guard !stream.closed else { break }
                    stream.onMessage(message)
                }
            } catch {
                cancel(stream, status: GRPCStatus(.internal, "malformed response: \(error)"))
            }
        case .headers(let payload):
            guard let code = payload.headers.first(name: "grpc-status").flatMap(Int.init) else {
                if let status = payload.headers.first(name: ":status"), status != "200" {
                    finish(frame.streamID, GRPCStatus(.unavailable, "HTTP status \(status)"))
                }
                return
            }
            let message = payload.headers.first(name: "grpc-message").map { GRPCStatus.decodeMessage(Substring($0)) } ?? ""
            finish(frame.streamID, GRPCStatus(GRPCStatus.Code(rawValue: code) ?? .unknown, message))
        case .rstStream(let code):
            finish(frame.streamID, GRPCStatus(.unavailable, "stream reset: \(code)"))
        case .goAway(let lastStreamID, let code, let data):
            let detail = data.map { String(buffer: $0) } ?? ""
            closeReason = "the server closed the connection (GOAWAY \(code)\(detail.isEmpty ? "" : ": " + detail))"
            for (streamID, _) in streams where streamID > lastStreamID {
                finish(streamID, GRPCStatus(.unavailable, closeReason))
            }
            closed = true
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inRead = false
        flushPending = false
        context.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        let pending = streams
        streams = [:]
        for stream in pending.values where !stream.closed {
            stream.closed = true
            stream.onClose(GRPCStatus(.unavailable, closeReason))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is NIOHTTP2Errors.StreamClosed || error is NIOHTTP2Errors.NoSuchStream { return }
        closeReason = "the connection failed: \(error)"
        context.close(promise: nil)
    }

    private func finish(_ streamID: HTTP2StreamID, _ status: GRPCStatus) {
        guard let stream = streams.removeValue(forKey: streamID), !stream.closed else { return }
        stream.closed = true
        stream.onClose(status)
    }

    private func flushSoon(_ context: ChannelHandlerContext) {
        guard !inRead, !flushPending else { return }
        flushPending = true
        context.eventLoop.assumeIsolated().execute { [weak self] in
            guard let self, self.flushPending else { return }
            self.flushPending = false
            self.context?.flush()
        }
    }
}
