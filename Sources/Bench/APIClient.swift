import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A minimal HTTPS/1.1 client of a Kubernetes API server for load generation: one keep-alive connection, one
/// request at a time (as client-go's connections are used), plus streamed watches that hand each line over as
/// it arrives.
public final class APIClientConnection: Sendable {
    public struct Target: Sendable {
        public var host: String
        public var port: Int
        public var token: String
        public var caPEM: String

        public init(host: String, port: Int, token: String, caPEM: String) {
            self.host = host
            self.port = port
            self.token = token
            self.caPEM = caPEM
        }

        /// Reads server, CA data and token from a kubeconfig as `podium up` writes it.
        public init(kubeconfig path: String) throws {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            func value(_ key: String) -> String? {
                text.split(separator: "\n").lazy.map { $0.trimmingCharacters(in: .whitespaces) }
                    .first { $0.hasPrefix(key + ":") }.map { String($0.dropFirst(key.count + 1)).trimmingCharacters(in: .whitespaces) }
            }
            guard let server = value("server"), let url = URL(string: server), let host = url.host, let port = url.port,
                  let caData = value("certificate-authority-data"), let ca = Data(base64Encoded: caData),
                  let token = value("token") else {
                throw APIClientError("\(path) lacks server, certificate-authority-data or token")
            }
            self.init(host: host, port: port, token: token, caPEM: String(decoding: ca, as: UTF8.self))
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: ByteBuffer
    }

    let channel: Channel
    let handler: NIOLoopBound<ResponseHandler>
    let target: Target

    private init(channel: Channel, handler: NIOLoopBound<ResponseHandler>, target: Target) {
        self.channel = channel
        self.handler = handler
        self.target = target
    }

    public static func connect(_ target: Target, group: EventLoopGroup, onLine: (@Sendable (ByteBufferView) -> Void)? = nil) async throws -> APIClientConnection {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(target.caPEM.utf8)))
        tls.applicationProtocols = ["http/1.1"]
        let context = try NIOSSLContext(configuration: tls)
        let (channel, handler) = try await ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    let handler = ResponseHandler(onLine: onLine)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        return APIClientConnection(channel: channel, handler: handler, target: target)
    }

    /// Sends one request and waits for its whole answer.
    public func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil,
                        contentType: String = "application/json", timeout: TimeAmount = .seconds(30)) async throws -> Response {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(target.host):\(target.port)")
        headers.add(name: "Authorization", value: "Bearer \(target.token)")
        headers.add(name: "Accept", value: "application/json")
        if let body {
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.count))
        }
        let promise = channel.eventLoop.makePromise(of: Response.self)
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        let handler = self.handler
        let channel = self.channel
        channel.eventLoop.execute {
            // A connection the server closed (after a 413, say) fails at once rather than never answering.
            guard channel.isActive else { return promise.fail(APIClientError("the connection closed")) }
            handler.value.pending.append(promise)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        // An answer that never comes fails the request and closes the connection (the server is at fault).
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(APIClientError("no answer within \(timeout)"))
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }

    public func close() async {
        try? await channel.close()
    }

    /// Starts closing without waiting for the TLS shutdown.
    public func closeSoon() {
        channel.close(promise: nil)
    }

    /// Matches answers to requests in order; in streaming mode hands each line of a body over as it comes.
    final class ResponseHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        var pending: [EventLoopPromise<Response>] = []
        var status = 0
        var body = ByteBuffer()
        let onLine: (@Sendable (ByteBufferView) -> Void)?
        var partial = ByteBuffer()

        init(onLine: (@Sendable (ByteBufferView) -> Void)?) {
            self.onLine = onLine
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = Int(head.status.code)
                body.clear()
            case .body(var chunk):
                if let onLine {
                    partial.writeBuffer(&chunk)
                    while let newline = partial.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                        let length = newline - partial.readerIndex
                        if let line = partial.readSlice(length: length) { onLine(line.readableBytesView) }
                        partial.moveReaderIndex(forwardBy: 1)
                    }
                    partial.discardReadBytes()
                } else {
                    body.writeBuffer(&chunk)
                }
            case .end:
                guard !pending.isEmpty else { return }
                pending.removeFirst().succeed(Response(status: status, body: body))
                body = ByteBuffer()
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            for promise in pending { promise.fail(APIClientError("the connection closed")) }
            pending = []
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }
}

public struct APIClientError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
