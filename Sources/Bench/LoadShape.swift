import Synchronization

/// How much load to offer and over what: the options every workload shares.
public struct LoadShape: Sendable {
    public var endpoints: [Endpoint]
    /// HTTP/2 connections, spread over `endpoints`.
    public var connections: Int
    /// Concurrent clients, each with one request in flight, spread over the connections.
    public var clients: Int
    /// Requests in all; nil when `duration` bounds the run.
    public var total: Int?
    /// Seconds to run; nil when `total` bounds the run.
    public var duration: Double?
    /// Requests per second across all clients; nil for as fast as the server answers.
    public var rate: Double?
    /// Draw a progress bar on standard error.
    public var progress: Bool

    public init(endpoints: [Endpoint], connections: Int, clients: Int, total: Int?, duration: Double?, rate: Double?,
                progress: Bool) {
        self.endpoints = endpoints
        self.connections = connections
        self.clients = clients
        self.total = total
        self.duration = duration
        self.rate = rate
        self.progress = progress
    }

    public func validate() throws {
        guard connections > 0 else { throw BenchError("--conns must be at least 1") }
        guard clients >= connections else { throw BenchError("--clients (\(clients)) must be at least --conns (\(connections))") }
        guard total != nil || duration != nil else { throw BenchError("give --total or --duration") }
        if let total, total <= 0 { throw BenchError("--total must be positive") }
        if let duration, !(duration > 0) { throw BenchError("--duration must be positive") }
        if let rate, !(rate > 0) { throw BenchError("--rate must be positive") }
    }
}

/// A count shared by event loops.
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)

    /// Adds `amount` and returns the value before.
    @discardableResult
    func add(_ amount: Int) -> Int {
        atomic.wrappingAdd(amount, ordering: .relaxed).oldValue
    }

    var value: Int { atomic.load(ordering: .relaxed) }
}
