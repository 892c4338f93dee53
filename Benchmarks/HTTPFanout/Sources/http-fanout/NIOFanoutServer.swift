import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// SwiftNIO's HTTP/1.1 pipeline used directly, the way Podium's API server fans a watch event out: the event's
/// bytes written to every stream, one event-loop hop per loop per event, no task per stream.
enum NIOFanoutServer {
    final class Hub: Sendable {
        private let streams = NIOLockedValueBox<[ObjectIdentifier: (EventLoop, [Channel])]>([:])

        func add(_ channel: Channel) {
            streams.withLockedValue { $0[ObjectIdentifier(channel.eventLoop), default: (channel.eventLoop, [])].1.append(channel) }
        }

        func publish(_ buffer: ByteBuffer) {
            for (loop, channels) in streams.withLockedValue({ Array($0.values) }) {
                loop.execute {
                    for channel in channels where channel.isActive {
                        channel.write(HTTPServerResponsePart.body(.byteBuffer(buffer)), promise: nil)
                        channel.flush()
                    }
                }
            }
        }
    }

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked Sendable: used on its channel's event loop only.
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let hub: Hub
        var head: HTTPRequestHead?

        init(hub: Hub) { self.hub = hub }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let request): head = request
            case .body: break
            case .end:
                guard let head else { return }
                respond(to: head, context: context)
            }
        }

        func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
            let path = head.uri.split(separator: "?").first.map(String.init) ?? ""
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            switch path {
            case "/watch":
                headers.add(name: "Transfer-Encoding", value: "chunked")
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                hub.add(context.channel)
            case "/start":
                let source = EventSource(query: head.uri.split(separator: "?").dropFirst().first.map(String.init) ?? "")
                let hub = self.hub
                Task { await source.run { hub.publish($0) } }
                reply("started", headers: headers, context: context)
            default:
                reply(String(processCPUSeconds()), headers: headers, context: context)
            }
        }

        func reply(_ text: String, headers: HTTPHeaders, context: ChannelHandlerContext) {
            var headers = headers
            headers.add(name: "Content-Length", value: String(text.utf8.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    static func run(port: Int) async throws {
        let hub = Hub()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(Handler(hub: hub)) }
            }
            .bind(host: "127.0.0.1", port: port).get()
        print("nio fan-out server on 127.0.0.1:\(port)")
        try await channel.closeFuture.get()
    }
}
