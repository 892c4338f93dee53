import NIOCore

/// How a method's calls are served. Handlers run on the connection's event loop and must not block it; they
/// answer through the `ServerCall`, from any thread, so a handler can hand work to another queue and reply
/// when it is done without a task per request.
public enum GRPCMethod: Sendable {
    /// One request message in, one response (or an error status) out.
    case unary(@Sendable (_ request: ByteBuffer, _ call: ServerCall) -> Void)
    /// Client, server or bidirectional streaming: called when the call opens; the returned receiver gets the
    /// request messages as they arrive.
    case streaming(@Sendable (_ call: ServerCall) -> any ServerCallReceiver)
}

/// Receives a streaming call's events, on the connection's event loop.
public protocol ServerCallReceiver: AnyObject {
    func received(_ message: ByteBuffer)
    /// The client sent its last message (half-close); the call stays open until the server finishes it.
    func requestsEnded()
    /// The call ended without the server finishing it: the client reset the stream, its deadline passed or the
    /// connection closed. Sending is pointless from here on.
    func cancelled()
    /// The client's flow-control window opened again after `ServerCall.isWritable` was false.
    func becameWritable()
}

extension ServerCallReceiver {
    public func requestsEnded() {}
    public func becameWritable() {}
}

/// The methods a server answers, by gRPC path (`/package.Service/Method`).
public struct GRPCRouter: Sendable {
    var methods: [String: GRPCMethod] = [:]

    public init() {}

    /// Registers `method` as `/service/name`, e.g. `register("etcdserverpb.KV", "Range", ...)`.
    public mutating func register(_ service: String, _ name: String, _ method: GRPCMethod) {
        methods["/\(service)/\(name)"] = method
    }

    func method(forPath path: String) -> GRPCMethod? { methods[path] }
}
