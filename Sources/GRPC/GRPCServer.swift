import NIOCore
import NIOPosix
import Synchronization

/// A plaintext gRPC server (HTTP/2 with prior knowledge, as etcd clients speak to `http://` endpoints).
public final class GRPCServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free port (see `start`'s result).
        public var port: Int
        /// Larger request messages are refused with RESOURCE_EXHAUSTED, as grpc-go does.
        public var maxReceiveMessageBytes = 4 << 20
        /// The inbound flow-control window per stream and per connection.
        public var windowBytes = 8 << 20
        public var maxConcurrentStreams = 4096

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    public let configuration: Configuration
    let router: GRPCRouter
    let group: EventLoopGroup
    private let channels = Mutex<(listener: Channel?, connections: [ObjectIdentifier: Channel])>((nil, [:]))

    public init(configuration: Configuration, router: GRPCRouter, group: EventLoopGroup) {
        self.configuration = configuration
        self.router = router
        self.group = group
    }

    /// Starts listening; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        let router = router
        let configuration = configuration
        let limits = GRPCConnectionHandler.Limits(maxMessageBytes: configuration.maxReceiveMessageBytes,
                                                  windowBytes: configuration.windowBytes,
                                                  maxConcurrentStreams: configuration.maxConcurrentStreams,
                                                  maxFrameBytes: 1 << 20, maxHeaderListBytes: 1 << 16)
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // Streaming senders pause while the channel is not writable. NIO's default high-water mark (64 KiB)
            // is a single watch batch: a fan-out to many watchers would stall and resume on every flush.
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 4 << 20))
            .childChannelInitializer { [weak self] channel in
                self?.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        GRPCConnectionHandler(router: router, limits: limits, allocator: channel.allocator))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        channels.withLock { $0.listener = listener }
        // Safe to force: a bound TCP channel has a local address with a port.
        return listener.localAddress!.port!
    }

    private func track(_ channel: Channel) {
        let key = ObjectIdentifier(channel)
        channels.withLock { $0.connections[key] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.channels.withLock { $0.connections.removeValue(forKey: key) }
        }
    }

    /// Stops listening and closes every connection (open calls see `cancelled`).
    public func shutdown() async {
        let (listener, connections) = channels.withLock { state in
            defer { state = (nil, [:]) }
            return (state.listener, Array(state.connections.values))
        }
        try? await listener?.close()
        for connection in connections { try? await connection.close() }
    }
}
