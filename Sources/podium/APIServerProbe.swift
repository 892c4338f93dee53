import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Asks an API server over HTTPS whether it is ready (GET /readyz with the admin token, the server verified by the
/// cluster CA): how `podium up` knows the cluster answers kubectl before it says so.
enum APIServerProbe {
    /// The HTTP status of GET `path` (0 if no answer came).
    static func status(host: String, port: Int, path: String, token: String, caPEM: String,
                       group: EventLoopGroup, timeout: TimeAmount = .seconds(2)) async -> Int {
        do {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
            let context = try NIOSSLContext(configuration: tls)
            let answer = ResponseCollector()
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                        try channel.pipeline.syncOperations.addHandler(answer)
                    }
                }
                .connect(host: host, port: port).get()
            let request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
            try await channel.writeAndFlush(ByteBuffer(string: request))
            let scheduled = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            try? await channel.closeFuture.get()
            scheduled.cancel()
            let text = answer.text
            guard text.hasPrefix("HTTP/1.1 "), let code = Int(text.dropFirst(9).prefix(3)) else { return 0 }
            return code
        } catch {
            return 0
        }
    }

    final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked Sendable: written on the channel's event loop, read after the channel closed.
        typealias InboundIn = ByteBuffer
        private(set) var text = ""

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
    }
}
