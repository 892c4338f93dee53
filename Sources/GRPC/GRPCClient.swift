import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// A plain gRPC client for unary calls over one HTTP/2 connection (prior knowledge, no TLS): what the CLI needs
/// to ask members for their status. Each call is one HTTP/2 stream.
public final class GRPCClient: Sendable {
    let channel: Channel
    let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    let authority: String

    private init(channel: Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer, authority: String) {
        self.channel = channel
        self.multiplexer = multiplexer
        self.authority = authority
    }

    public static func connect(host: String, port: Int, group: EventLoopGroup,
                               timeout: TimeAmount = .seconds(2)) async throws -> GRPCClient {
        let (channel, multiplexer) = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(timeout)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
                    ) { stream in stream.close() }
                    return (channel, multiplexer)
                }
            }
        return GRPCClient(channel: channel, multiplexer: multiplexer, authority: "\(host):\(port)")
    }

    /// Calls `path` (`/package.Service/Method`) with one request message; returns the response message, or
    /// throws the call's `GRPCStatus`.
    public func unary(_ path: String, request: ByteBuffer, timeout: TimeAmount = .seconds(5)) async throws -> ByteBuffer {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": authority,
            "content-type": "application/grpc", "te": "trailers",
            "grpc-timeout": "\(max(timeout.nanoseconds / 1_000_000, 1))m",
        ]
        let framed = GRPCFraming.frame(request, allocator: channel.allocator)
        let stream = multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(UnaryCallHandler(headers: headers, request: framed, promise: promise))
            }
        }
        stream.whenFailure { promise.fail($0) }
        let timer = channel.eventLoop.scheduleTask(in: timeout + .seconds(1)) {
            promise.fail(GRPCStatus(.deadlineExceeded, "no answer within \(timeout)"))
        }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }

    public func close() async {
        try? await channel.close()
    }
}

/// One unary call on its own stream: sends the request, gathers the response and the status.
private final class UnaryCallHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    let headers: HPACKHeaders
    let request: ByteBuffer
    let promise: EventLoopPromise<ByteBuffer>
    var reader = MessageReader(maxMessageBytes: 64 << 20)
    var response: ByteBuffer?
    var done = false

    init(headers: HPACKHeaders, request: ByteBuffer, promise: EventLoopPromise<ByteBuffer>) {
        self.headers = headers
        self.request = request
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(request), endStream: true))), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .data(let payload):
            guard case .byteBuffer(let bytes) = payload.data else { return }
            do {
                for message in try reader.append(bytes) { response = message }
            } catch {
                finish(.failure(GRPCStatus(.internal, "malformed response: \(error)")), context: context)
            }
        case .headers(let payload):
            guard let code = payload.headers.first(name: "grpc-status").flatMap(Int.init) else { return }
            let message = payload.headers.first(name: "grpc-message").map { GRPCStatus.decodeMessage(Substring($0)) } ?? ""
            let status = GRPCStatus(GRPCStatus.Code(rawValue: code) ?? .unknown, message)
            if status.code == .ok, let response {
                finish(.success(response), context: context)
            } else {
                finish(.failure(status.code == .ok ? GRPCStatus(.internal, "no response message") : status), context: context)
            }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(GRPCStatus(.unavailable, "the stream closed without a status")), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(.failure(GRPCStatus(.unavailable, "\(error)")), context: context)
    }

    private func finish(_ result: Result<ByteBuffer, GRPCStatus>, context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        promise.completeWith(result.mapError { $0 })
        context.close(promise: nil)
    }
}
