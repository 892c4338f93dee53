import NIOCore
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
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(timeout)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = GRPCClientConnectionHandler(authority: authority, eventLoop: channel.eventLoop)
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
        let stream = handler.value.open(path: path, timeout: timeout,
                                        onMessage: { response = $0 },
                                        onClose: { status in
                                            if status.code != .ok {
                                                completion(.failure(status))
                                            } else if let response {
                                                completion(.success(response))
                                            } else {
                                                completion(.failure(GRPCStatus(.internal, "no response message")))
                                            }
                                        })
        stream.send(request, endStream: true)
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

    /// Whether the connection is still open: a call on a closed one fails at once, without reaching the server.
    public var isActive: Bool { channel.isActive }

    /// Starts closing the connection without waiting for it.
    public func closeSoon() {
        channel.close(promise: nil)
    }
}

/// One call's request side, bound to its connection's event loop.
public final class GRPCClientStream {
    let path: String
    let timeout: TimeAmount?
    /// 0 until the call is opened (a server's concurrency limit may hold it back).
    var streamID: UInt32 = 0
    unowned(unsafe) let handler: GRPCClientConnectionHandler
    var reader = MessageReader(maxMessageBytes: 256 << 20)
    /// Response bytes received since our last WINDOW_UPDATE for the stream.
    var consumed = 0
    /// The server's window for this stream: how many DATA bytes we may still send.
    var window = 0
    /// Request bytes waiting for a window, or for the call to open.
    var unsent: ByteBuffer?
    /// The last request was sent: END_STREAM goes with its last byte.
    var endStreamQueued = false
    var halfClosed = false
    var closed = false
    /// Gives up on the call a second after its timeout (see `GRPCClientConnectionHandler.open`).
    var deadline: Scheduled<Void>?
    let onMessage: (ByteBuffer) -> Void
    let onClose: (GRPCStatus) -> Void

    init(path: String, timeout: TimeAmount?, handler: GRPCClientConnectionHandler,
         onMessage: @escaping (ByteBuffer) -> Void, onClose: @escaping (GRPCStatus) -> Void) {
        self.path = path
        self.timeout = timeout
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

    /// Half-closes the call without another message: the server hears that no more requests come.
    public func halfClose() {
        guard !halfClosed, !closed else { return }
        halfClosed = true
        handler.halfClose(self)
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
