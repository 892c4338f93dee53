import NIOCore
import NIOHPACK

/// One gRPC call on the server: the handler's way to answer. `send`, `respond` and `finish` may be called from
/// any thread (they hop to the connection's event loop when needed); calls after the call ended are ignored.
public final class ServerCall: @unchecked Sendable {
    // @unchecked Sendable: `connection` and `ended` are only touched on `eventLoop`; everything else is immutable.
    public let eventLoop: EventLoop
    public let allocator: ByteBufferAllocator
    /// The request's headers (path, metadata such as `authorization`, `grpc-timeout`).
    public let requestHeaders: HPACKHeaders
    let streamID: UInt32
    weak var connection: GRPCConnectionHandler?
    var ended = false

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

    private func onLoop(_ body: @escaping @Sendable (ServerCall) -> Void) {
        if eventLoop.inEventLoop {
            body(self)
        } else {
            eventLoop.execute { body(self) }
        }
    }
}
