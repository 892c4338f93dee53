import NIOCore
import Synchronization
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One request to an API server, as the client sends it.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    /// Path and query ("/api/v1/namespaces/default/pods?limit=500").
    public var path: String
    public var body: [UInt8]?
    public var contentType: String
    /// Whether sending it twice does no harm, so that it may be retried on another server after the first
    /// attempt may have reached the server (reads, and writes guarded by a resourceVersion precondition).
    public var idempotent: Bool
    /// How long to wait for the answer; nil: the client's request timeout.
    public var timeout: TimeAmount?

    public init(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json",
                idempotent: Bool? = nil) {
        self.method = method
        self.path = path
        self.body = body
        self.contentType = contentType
        self.idempotent = idempotent ?? (method == .GET)
    }
}

/// A whole answer.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
}

/// One keep-alive HTTPS/1.1 connection to an API server, one request at a time (the pool hands it to one caller
/// at a time). Answers are matched to requests in order by the channel handler; no task hop per request.
final class HTTPConnection: Sendable {
    let channel: Channel
    private let handler: NIOLoopBound<ResponseHandler>
    /// Set (before the answer is handed over) when the server said it closes the connection after answering: such
    /// a connection must not go back to the pool, where the next request would meet the close.
    private let lastAnswered: LastAnswer
    let server: ClusterAccess.Server
    private let authorization: String

    final class LastAnswer: Sendable {
        let closes = Atomic<Bool>(false)
    }

    private init(channel: Channel, handler: NIOLoopBound<ResponseHandler>, lastAnswered: LastAnswer, server: ClusterAccess.Server,
                 token: String) {
        self.channel = channel
        self.handler = handler
        self.lastAnswered = lastAnswered
        self.server = server
        self.authorization = "Bearer \(token)"
    }

    static func connect(to server: ClusterAccess.Server, token: String, tls: NIOSSLContext, group: EventLoopGroup,
                        maxBodyBytes: Int, connectTimeout: TimeAmount) async throws -> HTTPConnection {
        let lastAnswered = LastAnswer()
        let (channel, handler) = try await ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(connectTimeout)
            .connect(host: server.host, port: server.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: tls, serverHostname: server.verifiableHostname))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    let handler = ResponseHandler(maxBodyBytes: maxBodyBytes, lastAnswered: lastAnswered)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        return HTTPConnection(channel: channel, handler: handler, lastAnswered: lastAnswered, server: server, token: token)
    }

    /// Open, and fit for another request.
    var isActive: Bool { channel.isActive && !lastAnswered.closes.load(ordering: .acquiring) }

    /// Sends `request` and waits for its whole answer; a connection that gives none within `timeout` is closed.
    func send(_ request: HTTPRequest, timeout: TimeAmount) async throws -> HTTPResponse {
        let head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.path,
                                   headers: Self.headers(for: request, server: server, authorization: authorization))
        let promise = channel.eventLoop.makePromise(of: HTTPResponse.self)
        let handler = self.handler
        let channel = self.channel
        channel.eventLoop.execute {
            guard channel.isActive else { return promise.fail(HTTPConnectionError.closed(sent: false)) }
            handler.value.pending.append(promise)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let body = request.body {
                channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
            }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(HTTPConnectionError.timedOut)
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }

    func close() {
        channel.close(promise: nil)
    }

    static func headers(for request: HTTPRequest, server: ClusterAccess.Server, authorization: String) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(server.host):\(server.port)")
        headers.add(name: "Authorization", value: authorization)
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "User-Agent", value: "podium")
        if let body = request.body {
            headers.add(name: "Content-Type", value: request.contentType)
            headers.add(name: "Content-Length", value: String(body.count))
        }
        return headers
    }

    /// Collects each answer and completes the oldest pending request with it.
    final class ResponseHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        var pending: [EventLoopPromise<HTTPResponse>] = []
        private var status = 0
        private var keepAlive = true
        private var body = ByteBuffer()
        private let maxBodyBytes: Int
        private let lastAnswered: LastAnswer

        init(maxBodyBytes: Int, lastAnswered: LastAnswer) {
            self.maxBodyBytes = maxBodyBytes
            self.lastAnswered = lastAnswered
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = Int(head.status.code)
                keepAlive = head.isKeepAlive
                body.clear()
            case .body(var chunk):
                guard body.readableBytes + chunk.readableBytes <= maxBodyBytes else {
                    failAll(HTTPConnectionError.bodyTooLarge(limit: maxBodyBytes))
                    context.close(promise: nil)
                    return
                }
                body.writeBuffer(&chunk)
            case .end:
                guard !pending.isEmpty else { return }
                let answer = HTTPResponse(status: status, body: Array(body.readableBytesView))
                body = ByteBuffer()
                if !keepAlive {
                    lastAnswered.closes.store(true, ordering: .releasing)
                    context.close(promise: nil)
                }
                pending.removeFirst().succeed(answer)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            failAll(HTTPConnectionError.closed(sent: true))
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            failAll(error)
            context.close(promise: nil)
        }

        private func failAll(_ error: Error) {
            let waiting = pending
            pending = []
            for promise in waiting { promise.fail(error) }
        }
    }
}

enum HTTPConnectionError: Error, CustomStringConvertible {
    /// The connection closed; `sent` when the request may have reached the server.
    case closed(sent: Bool)
    case timedOut
    case bodyTooLarge(limit: Int)
    case lineTooLong(limit: Int)

    var description: String {
        switch self {
        case .closed: "the connection closed"
        case .timedOut: "no answer in time"
        case .bodyTooLarge(let limit): "the answer exceeds \(limit) bytes"
        case .lineTooLong(let limit): "a watch event exceeds \(limit) bytes"
        }
    }
}

extension ClusterAccess.Server {
    /// The name to check the server's certificate against: nil for an IP address, whose check NIOSSL makes
    /// against the connected address's subject alternative names.
    var verifiableHostname: String? {
        host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? nil : host
    }
}
