import NIOCore
import NIOHPACK

/// One gRPC call on the server: the handler's way to answer. `send`, `respond` and `finish` may be called from
/// any thread (they hop to the connection's event loop when needed); calls after the call ended are ignored.
public final class ServerCall: @unchecked Sendable {
    // @unchecked Sendable: `connection`, `ended` and `abandoned` are only touched on `eventLoop`; everything else is immutable.
    public let eventLoop: EventLoop
    public let allocator: ByteBufferAllocator
    /// The request's headers (path, metadata such as `authorization`, `grpc-timeout`).
    public let requestHeaders: HPACKHeaders
    let streamID: UInt32
    weak var connection: GRPCConnectionHandler?
    var ended = false
    /// Reset by the client while its (unary) handler still worked on it: see `GRPCConnectionHandler.abandonedCalls`.
    var abandoned = false

    init(eventLoop: EventLoop, allocator: ByteBufferAllocator, requestHeaders: HPACKHeaders, streamID: UInt32,
         connection: GRPCConnectionHandler) {
        self.eventLoop = eventLoop
        self.allocator = allocator
        self.requestHeaders = requestHeaders
        self.streamID = streamID
        self.connection = connection
    }

    /// Sends one response message. A buffer with 5 free bytes before its reader index (see
    /// `GRPCFraming.reservedPrefix`) is framed in place, without a copy.
    public func send(_ message: ByteBuffer) {
        onLoop { call in call.connection?.send(message, on: call) }
    }

    /// Sends bytes holding one or more messages already framed for gRPC (flag byte, length, message), as a
    /// streaming sender that gathers many small responses writes them: one hand-over instead of one each.
    public func sendFramed(_ messages: ByteBuffer) {
        onLoop { call in call.connection?.sendFramed(messages, on: call) }
    }

    /// Sends the only response message of a unary call and finishes it with OK.
    public func respond(_ message: ByteBuffer) {
        onLoop { call in
            call.connection?.send(message, on: call)
            call.connection?.finish(call, status: .ok)
        }
    }

    /// Ends the call with `status` (the trailers).
    public func finish(_ status: GRPCStatus) {
        onLoop { call in call.connection?.finish(call, status: status) }
    }

    /// Whether the client's flow-control window has room: a streaming sender should stop producing while false
    /// and resume on `ServerCallReceiver.becameWritable`. Read it on the event loop.
    public var isWritable: Bool {
        eventLoop.preconditionInEventLoop()
        return connection?.isWritable(self) ?? false
    }

    /// Stops handing request messages to the receiver until `resumeRequests()`: for a call that answers
    /// asynchronously and would otherwise take requests faster than it can answer them. The messages wait in
    /// the connection, and once they fill the call's window the client waits too. Call on the event loop.
    public func pauseRequests() {
        eventLoop.preconditionInEventLoop()
        connection?.setRequestsPaused(true, on: self)
    }

    /// Hands the receiver the requests that waited, and those that come, again. Call on the event loop.
    public func resumeRequests() {
        eventLoop.preconditionInEventLoop()
        connection?.setRequestsPaused(false, on: self)
    }

    private func onLoop(_ body: @escaping @Sendable (ServerCall) -> Void) {
        if eventLoop.inEventLoop {
            body(self)
        } else {
            eventLoop.execute { body(self) }
        }
    }
}
