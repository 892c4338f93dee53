#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Answers one request; the API server's request pipeline behind the HTTP layer.
public protocol APIResponder: Sendable {
    func respond(to request: APIRequest) async -> APIResponse
}

/// HTTP/1.1 on SwiftNIO: one handler per connection that reads a request (its body bounded), hands it to the
/// responder, and writes the answer — whole, or streamed for watches. NIO directly rather than a framework: the
/// watch fan-out writes one shared buffer to many connections straight from the watch cache, with no per-event
/// task hop.
public final class HTTPServer: Sendable {
    /// Bodies larger than this are refused with 413 before they are read in full (kube-apiserver: 3 MiB).
    public static let maxBodyBytes = 3 << 20

    public let channel: Channel

    private init(channel: Channel) {
        self.channel = channel
    }

    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Binds `host:port`, serving HTTPS when given a TLS context (HTTP/1.1 by ALPN); `reusePort` lets several API
    /// servers on one machine share the port (the kernel spreads connections over the live ones).
    public static func start(host: String, port: Int, reusePort: Bool = false, tls: NIOSSLContext?, group: EventLoopGroup,
                             responder: APIResponder, logger: Logger) async throws -> HTTPServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.Types.SocketOption(level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET), name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: reusePort ? 1 : 0)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(HTTPConnectionHandler(responder: responder, logger: logger))
                }
            }
            .bind(host: host, port: port).get()
        return HTTPServer(channel: channel)
    }

    /// A TLS context serving `certificatePEM` (the chain, leaf first) with `keyPEM`, offering HTTP/1.1 by ALPN.
    public static func tlsContext(certificatePEM: String, keyPEM: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.applicationProtocols = ["http/1.1"]
        return try NIOSSLContext(configuration: configuration)
    }

    public func close() async {
        try? await channel.close()
    }
}

/// One connection: requests in order (the pipeline holds pipelined ones back), each answered before the next.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let responder: APIResponder
    let logger: Logger
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(responder: APIResponder, logger: Logger) {
        self.responder = responder
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
            tooLarge = false
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > HTTPServer.maxBodyBytes {
                tooLarge = true
            }
        case .body(var chunk):
            guard !tooLarge else { return }
            if body.count + chunk.readableBytes > HTTPServer.maxBodyBytes {
                tooLarge = true
                body = []
                return
            }
            body += chunk.readBytes(length: chunk.readableBytes) ?? []
        case .end:
            guard let head else { return }
            self.head = nil
            if tooLarge {
                let status = Status.failure(.payloadTooLarge, reason: "RequestEntityTooLarge",
                                            message: "the request body is too large (limit \(HTTPServer.maxBodyBytes) bytes)")
                write(status.response, keepAlive: false, context: context)
                return
            }
            let request = APIRequest(method: head.method, uri: head.uri, headers: head.headers, body: body)
            body = []
            let keepAlive = head.isKeepAlive
            let responder = responder
            let eventLoop = context.eventLoop
            let loopBound = NIOLoopBound((self, context), eventLoop: eventLoop)
            Task {
                let response = await responder.respond(to: request)
                eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.write(response, keepAlive: keepAlive, context: context)
                }
            }
        }
    }

    private func write(_ response: APIResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        var headers = response.headers
        switch response.body {
        case .bytes(let bytes):
            headers.replaceOrAdd(name: "Content-Length", value: String(bytes.count))
            if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
            let done = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
            if !keepAlive {
                let channel = context.channel
                done.futureResult.whenComplete { _ in channel.close(promise: nil) }
            }
        case .stream(let produce):
            headers.remove(name: "Content-Length")
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
            let stream = ResponseStream(channel: context.channel)
            let eventLoop = context.eventLoop
            let loopBound = NIOLoopBound(context, eventLoop: eventLoop)
            Task {
                await produce(stream)
                eventLoop.execute {
                    let context = loopBound.value
                    guard context.channel.isActive else { return }
                    context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
                    if !keepAlive { context.close(promise: nil) }
                }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("HTTP connection error: \(error)")
        context.close(promise: nil)
    }
}
