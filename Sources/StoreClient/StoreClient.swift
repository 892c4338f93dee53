import EtcdProto
import GRPC
import NIOCore
import NIOPosix
import SwiftProtobuf
import Synchronization

/// A client of an etcd v3 cluster (Podium's or etcd's) over our gRPC client: what the API server, and every
/// other component that needs the store, talks to it through.
///
/// It holds one connection, to one of the endpoints. A call that fails because that member is unreachable or has
/// no leader is tried again on the next endpoint, with backoff, until its deadline — but only when trying again
/// cannot apply it twice: reads always, writes only when the call was refused before it could reach the log (see
/// `StoreClientError.isSafeToRetry`).
public final class StoreClient: Sendable {
    public struct Configuration: Sendable {
        /// Client URLs (`HOST:PORT` or `http://HOST:PORT`) of the cluster's members; tried in turn.
        public var endpoints: [String]
        /// How long one call, its retries included, may take.
        public var requestTimeout = TimeAmount.seconds(10)
        public var connectTimeout = TimeAmount.seconds(2)
        /// The first pause between two tries; it doubles up to `maxBackoff`.
        public var initialBackoff = TimeAmount.milliseconds(25)
        public var maxBackoff = TimeAmount.seconds(1)

        public init(endpoints: [String]) {
            self.endpoints = endpoints
        }
    }

    struct Connection {
        var endpoint: Int
        var channel: GRPCChannel
    }

    public let configuration: Configuration
    let endpoints: [(host: String, port: Int)]
    private let group: EventLoopGroup
    /// The connection calls go over, and which endpoint it is to; nil until the first call (or after it failed).
    private let connection = Mutex<Connection?>(nil)
    /// The endpoint to try next when there is no connection.
    private let nextEndpoint = Mutex(0)
    /// The Watch call all watches share, on the connection it was opened on.
    private let sharedWatch = Mutex<SharedWatchStream?>(nil)

    public init(configuration: Configuration, group: EventLoopGroup) throws {
        self.configuration = configuration
        self.group = group
        endpoints = try configuration.endpoints.map(Self.parse)
        guard !endpoints.isEmpty else { throw StoreClientError.invalidConfiguration("no endpoints given") }
    }

    static func parse(_ text: String) throws -> (host: String, port: Int) {
        let trimmed = text.hasPrefix("http://") ? Substring(text.dropFirst(7)) : Substring(text)
        guard let colon = trimmed.lastIndex(of: ":"), colon > trimmed.startIndex,
              let port = Int(trimmed[trimmed.index(after: colon)...]), (1...65_535).contains(port) else {
            throw StoreClientError.invalidConfiguration("invalid endpoint \"\(text)\": expected HOST:PORT or http://HOST:PORT")
        }
        return (String(trimmed[..<colon]), port)
    }

    /// The endpoint calls go to now, if connected (for status displays and tests).
    public var connectedEndpoint: String? {
        connection.withLock { $0.map { configuration.endpoints[$0.endpoint] } }
    }

    /// Closes the connection; calls after this open a new one.
    public func close() async {
        let current = connection.withLock { connection in
            defer { connection = nil }
            return connection
        }
        await current?.channel.close()
    }

    // MARK: KV

    public func range(_ request: Etcdserverpb_RangeRequest) async throws -> Etcdserverpb_RangeResponse {
        try await call("/etcdserverpb.KV/Range", request, idempotent: true)
    }

    public func put(_ request: Etcdserverpb_PutRequest) async throws -> Etcdserverpb_PutResponse {
        try await call("/etcdserverpb.KV/Put", request, idempotent: false)
    }

    public func deleteRange(_ request: Etcdserverpb_DeleteRangeRequest) async throws -> Etcdserverpb_DeleteRangeResponse {
        try await call("/etcdserverpb.KV/DeleteRange", request, idempotent: false)
    }

    /// A transaction is retried like a read when it only reads, like a write otherwise.
    public func txn(_ request: Etcdserverpb_TxnRequest) async throws -> Etcdserverpb_TxnResponse {
        let readOnly = (request.success + request.failure).allSatisfy {
            if case .requestRange = $0.request { true } else { false }
        }
        return try await call("/etcdserverpb.KV/Txn", request, idempotent: readOnly)
    }

    /// Compacting to a revision twice is as compacting once (the second answers "compacted"), so it is retried
    /// like a read.
    public func compact(_ request: Etcdserverpb_CompactionRequest) async throws -> Etcdserverpb_CompactionResponse {
        try await call("/etcdserverpb.KV/Compact", request, idempotent: true)
    }

    // MARK: Lease

    /// Not retried once sent: a grant that reached the log but whose answer was lost would leave a lease behind.
    public func leaseGrant(_ request: Etcdserverpb_LeaseGrantRequest) async throws -> Etcdserverpb_LeaseGrantResponse {
        try await call("/etcdserverpb.Lease/LeaseGrant", request, idempotent: false)
    }

    /// Revoking twice revokes once, so it is retried like a read; a retry of a revoke that had taken effect
    /// answers "lease not found".
    public func leaseRevoke(_ request: Etcdserverpb_LeaseRevokeRequest) async throws -> Etcdserverpb_LeaseRevokeResponse {
        try await call("/etcdserverpb.Lease/LeaseRevoke", request, idempotent: true)
    }

    public func leaseTimeToLive(_ request: Etcdserverpb_LeaseTimeToLiveRequest) async throws -> Etcdserverpb_LeaseTimeToLiveResponse {
        try await call("/etcdserverpb.Lease/LeaseTimeToLive", request, idempotent: true)
    }

    /// Keeps a connection's member alive: one LeaseKeepAlive exchange, like etcd's KeepAliveOnce. Renewing
    /// twice renews once, so it is retried like a read. Answers TTL 0 for a lease that no longer exists.
    public func leaseKeepAliveOnce(_ request: Etcdserverpb_LeaseKeepAliveRequest) async throws -> Etcdserverpb_LeaseKeepAliveResponse {
        try await call("/etcdserverpb.Lease/LeaseKeepAlive", request, idempotent: true)
    }

    // MARK: watch streams

    /// The shared Watch call on `connection`, started anew if the last one ended or was on another connection.
    func watchStream(on connection: Connection) -> SharedWatchStream {
        sharedWatch.withLock { current in
            if let current, current.channel === connection.channel, !current.isEnded { return current }
            let fresh = SharedWatchStream(channel: connection.channel)
            current = fresh
            return fresh
        }
    }

    func currentWatchStream() -> SharedWatchStream? {
        sharedWatch.withLock { $0 }
    }

    // MARK: calls

    /// One unary call, tried on the endpoints in turn while it fails in a way that allows it, until the
    /// deadline.
    func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String, _ request: Request, idempotent: Bool
    ) async throws -> Response {
        let deadline = NIODeadline.now() + configuration.requestTimeout
        var backoff = configuration.initialBackoff
        while true {
            let failure: StoreClientError
            do {
                let channel = try await channel(before: deadline)
                let remaining = deadline - NIODeadline.now()
                do {
                    let reply = try await channel.channel.unary(path, request: try request.grpcMessage(),
                                                                timeout: max(remaining, .milliseconds(1)))
                    return try Response(grpcMessage: reply)
                } catch let status as GRPCStatus {
                    failure = .status(status)
                    if failure.isUnavailable { drop(channel) }
                }
            } catch let error as StoreClientError {
                failure = error
            }
            guard failure.isSafeToRetry(idempotent: idempotent), NIODeadline.now() + backoff < deadline else {
                throw failure
            }
            try await Task.sleep(nanoseconds: UInt64(backoff.nanoseconds))
            backoff = min(backoff * 2, configuration.maxBackoff)
        }
    }

    /// The connection, opened to the next endpoint that accepts one if there is none (or it closed: its member
    /// went away while no call was under way, so a write now would fail without having been sent).
    func channel(before deadline: NIODeadline) async throws(StoreClientError) -> Connection {
        if let current = connection.withLock({ $0 }) {
            guard !current.channel.isActive else { return current }
            drop(current)
        }
        var lastError = ""
        for _ in 0..<endpoints.count {
            let index = nextEndpoint.withLock { next in
                defer { next = (next + 1) % endpoints.count }
                return next
            }
            let (host, port) = endpoints[index]
            let timeout = min(configuration.connectTimeout, max(deadline - NIODeadline.now(), .milliseconds(1)))
            do {
                let channel = try await GRPCChannel.connect(host: host, port: port, group: group, timeout: timeout)
                let opened = Connection(endpoint: index, channel: channel)
                let (kept, spare) = connection.withLock { connection -> (Connection, Connection?) in
                    if let other = connection { return (other, opened) }  // Another call connected meanwhile.
                    connection = opened
                    return (opened, nil)
                }
                if let spare { await spare.channel.close() }
                return kept
            } catch {
                lastError = "\(host):\(port): \(error)"
            }
        }
        throw .unreachable(lastError)
    }

    /// Forgets a connection whose member did not serve a call, so the next call tries the next endpoint.
    func drop(_ failed: Connection) {
        let dropped = connection.withLock { connection -> GRPCChannel? in
            guard connection?.channel === failed.channel else { return nil }
            connection = nil
            return failed.channel
        }
        dropped?.closeSoon()
        nextEndpoint.withLock { $0 = (failed.endpoint + 1) % endpoints.count }
    }
}
