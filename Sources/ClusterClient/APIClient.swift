import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Resources
import Synchronization

/// The HTTPS client of the cluster's API servers that every component shares: a pool of keep-alive connections
/// (requests run in parallel, one per connection at a time, as client-go uses HTTP/1.1), failover between the
/// servers, and streamed watches on connections of their own.
///
/// Failover: requests go to the preferred server; when it cannot be reached (or answers 503 while it has no
/// store), the next one becomes preferred and the request is sent there. A request that may already have reached
/// a server is sent again only when that is harmless (`HTTPRequest.idempotent`); otherwise the caller gets the
/// error and decides, as a controller requeues its key.
public final class APIClient: Sendable {
    public struct Options: Sendable {
        public var requestTimeout: TimeAmount = .seconds(30)
        public var connectTimeout: TimeAmount = .seconds(3)
        /// Idle keep-alive connections kept per server; requests beyond them open more, closed after use.
        public var maxIdleConnectionsPerServer = 64
        /// The largest whole answer (a list) read into memory.
        public var maxBodyBytes = 512 << 20
        /// The largest single watch event.
        public var maxWatchLineBytes = 64 << 20
        /// A watch on which nothing (not even a bookmark) arrives for this long is dropped and resumed.
        public var watchIdleTimeout: TimeAmount = .seconds(60)

        public init() {}
    }

    public let access: ClusterAccess
    let options: Options
    let group: EventLoopGroup
    let tls: NIOSSLContext
    private let state: Mutex<PoolState>

    struct PoolState {
        var preferred = 0
        var idle: [[HTTPConnection]]
    }

    public init(access: ClusterAccess, options: Options = Options(),
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        guard !access.servers.isEmpty else { throw ClusterAccessError("no API server to connect to") }
        var configuration = TLSConfiguration.makeClientConfiguration()
        do {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(access.caPEM.utf8)))
        } catch {
            throw ClusterAccessError("the cluster CA is not a PEM certificate: \(error)")
        }
        configuration.applicationProtocols = ["http/1.1"]
        tls = try NIOSSLContext(configuration: configuration)
        self.access = access
        self.options = options
        self.group = group
        state = Mutex(PoolState(idle: Array(repeating: [], count: access.servers.count)))
    }

    /// The server requests go to now.
    public var preferredServer: ClusterAccess.Server {
        access.servers[state.withLock { $0.preferred }]
    }

    /// Sends `request`, failing over between servers; any HTTP answer but 503 is returned as it is.
    public func send(_ request: HTTPRequest) async throws(APIError) -> HTTPResponse {
        let attempts = max(2, access.servers.count * 2)
        var lastError = "no server tried"
        for attempt in 0..<attempts {
            let index = state.withLock { $0.preferred }
            let server = access.servers[index]
            do {
                let connection = try await connection(to: index)
                let response: HTTPResponse
                do {
                    response = try await connection.send(request, timeout: request.timeout ?? options.requestTimeout)
                } catch {
                    connection.close()
                    if case HTTPConnectionError.closed(sent: false) = error {
                        // The pooled connection had died while idle: nothing was sent; try a fresh one.
                        lastError = "\(server): \(error)"
                        continue
                    }
                    guard request.idempotent else {
                        failedOver(from: index)
                        throw APIError.unreachable("\(server): \(error) (the request may have been applied)")
                    }
                    lastError = "\(server): \(error)"
                    failedOver(from: index)
                    if attempt + 1 < attempts { try? await Task.sleep(for: .milliseconds(20 * (attempt + 1))) }
                    continue
                }
                if response.status == 503, attempt + 1 < attempts {
                    release(connection, to: index)
                    lastError = "\(server): 503 \(String(decoding: response.body.prefix(200), as: UTF8.self))"
                    failedOver(from: index)
                    try? await Task.sleep(for: .milliseconds(20 * (attempt + 1)))
                    continue
                }
                release(connection, to: index)
                return response
            } catch let error as APIError {
                throw error
            } catch {
                lastError = "\(server): \(error)"
                failedOver(from: index)
                if attempt + 1 < attempts { try? await Task.sleep(for: .milliseconds(20 * (attempt + 1))) }
            }
        }
        throw APIError.unreachable("no API server answered: \(lastError)")
    }

    /// Sends `request` and returns the answer's JSON body, throwing the server's Status for any other code
    /// than 2xx.
    public func json(_ request: HTTPRequest) async throws(APIError) -> JSONValue {
        let response = try await send(request)
        guard (200..<300).contains(response.status) else { throw APIError(status: response.status, body: response.body) }
        do {
            return try JSONParser.parse(response.body)
        } catch {
            throw APIError(code: response.status, reason: "InvalidBody", message: "the answer is not JSON: \(error)")
        }
    }

    /// Streams the lines of a watch answer to `onLine` until the server ends it (nil), the connection drops
    /// (an error), or `onLine` throws. Connecting fails over between servers; `onConnected` runs once a
    /// connection stands. A non-200 answer throws its Status.
    public func stream(_ request: HTTPRequest, onLine: (ByteBuffer) async throws -> Void) async throws {
        var lastError: Error = APIError.unreachable("no server tried")
        for _ in 0..<max(2, access.servers.count * 2) {
            let index = state.withLock { $0.preferred }
            let connected = Atomic<Bool>(false)
            do {
                try await HTTPStream.run(request, server: access.servers[index], token: access.token, tls: tls,
                                         group: group, connectTimeout: options.connectTimeout,
                                         idleTimeout: options.watchIdleTimeout, maxLineBytes: options.maxWatchLineBytes,
                                         onConnected: { connected.store(true, ordering: .relaxed) }, onLine: onLine)
                return
            } catch {
                if connected.load(ordering: .relaxed) {
                    if !(error is APIError) { failedOver(from: index) }
                    throw error
                }
                lastError = error
                failedOver(from: index)
            }
        }
        throw lastError
    }

    /// Closes every idle connection.
    public func shutdown() {
        let all = state.withLock { state in
            defer { state.idle = state.idle.map { _ in [] } }
            return state.idle.flatMap { $0 }
        }
        for connection in all { connection.close() }
    }

    private func connection(to index: Int) async throws -> HTTPConnection {
        while let pooled = state.withLock({ $0.idle[index].popLast() }) {
            if pooled.isActive { return pooled }
        }
        return try await HTTPConnection.connect(to: access.servers[index], token: access.token, tls: tls, group: group,
                                                maxBodyBytes: options.maxBodyBytes,
                                                connectTimeout: options.connectTimeout)
    }

    private func release(_ connection: HTTPConnection, to index: Int) {
        let kept = state.withLock { state in
            guard connection.isActive, state.idle[index].count < options.maxIdleConnectionsPerServer else { return false }
            state.idle[index].append(connection)
            return true
        }
        if !kept { connection.close() }
    }

    /// Moves the preference on from a server that failed (unless another caller already did).
    private func failedOver(from index: Int) {
        let stale = state.withLock { state -> [HTTPConnection] in
            guard state.preferred == index else { return [] }
            state.preferred = (index + 1) % access.servers.count
            defer { state.idle[index] = [] }
            return state.idle[index]
        }
        for connection in stale { connection.close() }
    }
}
