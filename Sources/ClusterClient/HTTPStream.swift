import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A streamed answer (a watch) on a connection of its own, read line by line with backpressure: the socket is read
/// only as fast as the consumer takes lines, so a slow consumer holds at most one read's worth of bytes plus one
/// partial line (bounded by `maxLineBytes`). A stream that stays silent for `idleTimeout` is dropped, as the server
/// sends bookmarks to every live watch every few seconds.
enum HTTPStream {
    static func run(_ request: HTTPRequest, server: ClusterAccess.Server, token: String, tls: NIOSSLContext,
                    group: EventLoopGroup, connectTimeout: TimeAmount, idleTimeout: TimeAmount, maxLineBytes: Int,
                    onConnected: @Sendable () -> Void,
                    onLine: (ByteBuffer) async throws -> Void) async throws {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(connectTimeout)
            .connect(host: server.host, port: server.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: tls, serverHostname: server.verifiableHostname))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(IdleCloser())
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        onConnected()
        try await channel.executeThenClose { inbound, outbound in
            let head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.path,
                                       headers: HTTPConnection.headers(for: request, server: server,
                                                                       authorization: "Bearer \(token)"))
            try await outbound.write(.head(head))
            if let body = request.body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            try await outbound.write(.end(nil))
            var status = 0
            var partial = ByteBuffer()
            var errorBody: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let responseHead):
                    status = Int(responseHead.status.code)
                case .body(var chunk):
                    guard status == 200 else {
                        if errorBody.count < 1 << 20 { errorBody += chunk.readableBytesView.prefix((1 << 20) - errorBody.count) }
                        continue
                    }
                    partial.writeBuffer(&chunk)
                    while let newline = partial.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                        let length = newline - partial.readerIndex
                        if let line = partial.readSlice(length: length), line.readableBytes > 0 { try await onLine(line) }
                        partial.moveReaderIndex(forwardBy: 1)
                    }
                    guard partial.readableBytes <= maxLineBytes else { throw HTTPConnectionError.lineTooLong(limit: maxLineBytes) }
                    partial.discardReadBytes()
                case .end:
                    if status != 200 { throw APIError(status: status, body: errorBody) }
                    if partial.readableBytes > 0 { try await onLine(partial) }
                    return
                }
            }
            if status != 200, status != 0 { throw APIError(status: status, body: errorBody) }
            // The connection closed before the answer ended: a failure (backed off), not the server ending a watch.
            throw HTTPConnectionError.closed(sent: true)
        }
    }

    /// Closes a connection on which nothing arrived for the idle timeout.
    final class IdleCloser: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias InboundOut = HTTPClientResponsePart

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is IdleStateHandler.IdleStateEvent {
                context.close(promise: nil)
            } else {
                context.fireUserInboundEventTriggered(event)
            }
        }
    }
}
