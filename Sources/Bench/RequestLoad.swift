import Foundation
import GRPC
import NIOCore
import NIOPosix
import Synchronization

/// Drives unary calls from many clients over few connections and measures each call from the moment it is handed
/// to the connection to its response. Every client is a callback chain on its connection's event loop — one
/// request in flight each, no task or channel per request — so one client thread can drive thousands of clients.
public final class RequestLoad: Sendable {
    let shape: LoadShape
    let path: String
    let makeRequest: @Sendable (Int) throws -> ByteBuffer
    let onResponse: (@Sendable (Int, ByteBuffer) -> Void)?

    /// `makeRequest(i)` builds the i-th request (see `ByteBuffer.framable`) and `onResponse(i, reply)` sees its
    /// successful reply; both run on the event loops.
    public init(shape: LoadShape, path: String, makeRequest: @escaping @Sendable (Int) throws -> ByteBuffer,
                onResponse: (@Sendable (Int, ByteBuffer) -> Void)? = nil) {
        self.shape = shape
        self.path = path
        self.makeRequest = makeRequest
        self.onResponse = onResponse
    }

    /// One connection's clients; its state is touched only on the connection's event loop.
    final class Lane: @unchecked Sendable {
        // @unchecked Sendable: every mutable field is used only on `channel.eventLoop`.
        let channel: GRPCChannel
        let load: RequestLoad
        let issued: Counter
        let progress: ProgressBar
        let interval: UInt64?
        let deadline: UInt64
        var laneIssued: UInt64 = 0
        var started: UInt64 = 0
        var histogram = LatencyHistogram()
        var errors: [String: Int] = [:]
        var active = 0
        let done: EventLoopPromise<Void>

        init(channel: GRPCChannel, load: RequestLoad, issued: Counter, progress: ProgressBar, laneRate: Double?,
             deadline: UInt64) {
            self.channel = channel
            self.load = load
            self.issued = issued
            self.progress = progress
            interval = laneRate.map { UInt64(1e9 / $0) }
            self.deadline = deadline
            done = channel.eventLoop.makePromise()
        }

        func start(clients: Int, at time: UInt64) {
            started = time
            active = clients
            if active == 0 { done.succeed() }
            for _ in 0..<clients { next() }
        }

        func next() {
            let now = DispatchTime.now().uptimeNanoseconds
            let index = issued.add(1)
            guard index < (load.shape.total ?? .max), now < deadline else {
                retire()
                return
            }
            if let interval {
                let due = started + laneIssued * interval
                laneIssued += 1
                if due > now {
                    guard due < deadline else {
                        retire()
                        return
                    }
                    channel.eventLoop.scheduleTask(deadline: .uptimeNanoseconds(due)) { self.send(index) }
                    return
                }
            }
            send(index)
        }

        func send(_ index: Int) {
            let request: ByteBuffer
            do {
                request = try load.makeRequest(index)
            } catch {
                errors["cannot build request: \(error)", default: 0] += 1
                next()
                return
            }
            let sent = DispatchTime.now().uptimeNanoseconds
            channel.unary(load.path, request: request) { result in
                let elapsed = DispatchTime.now().uptimeNanoseconds - sent
                switch result {
                case .success(let reply):
                    self.histogram.record(elapsed)
                    self.load.onResponse?(index, reply)
                case .failure(let status): self.errors[status.description, default: 0] += 1
                }
                self.progress.completed.add(1, ordering: .relaxed)
                self.next()
            }
        }

        func retire() {
            active -= 1
            if active == 0 { done.succeed() }
        }
    }

    public func run(workload: String) async throws -> BenchReport {
        try shape.validate()
        return try await withEventLoopGroup(threads: shape.connections) { group in
            try await run(workload: workload, group: group)
        }
    }

    func run(workload: String, group: EventLoopGroup) async throws -> BenchReport {
        let channels = try await connect(shape, group: group)
        defer { closeAll(channels) }
        let issued = Counter()
        let progress = ProgressBar(label: workload, total: shape.total, duration: shape.duration, enabled: shape.progress)
        defer { progress.stop() }
        let started = DispatchTime.now().uptimeNanoseconds
        let deadline = shape.duration.map { started + UInt64($0 * 1e9) } ?? .max
        let lanes = channels.map {
            Lane(channel: $0, load: self, issued: issued, progress: progress,
                 laneRate: shape.rate.map { $0 / Double(channels.count) }, deadline: deadline)
        }
        for (index, lane) in lanes.enumerated() {
            let clients = shape.clients / lanes.count + (index < shape.clients % lanes.count ? 1 : 0)
            lane.channel.eventLoop.execute { lane.start(clients: clients, at: started) }
        }
        for lane in lanes { try await lane.done.futureResult.get() }
        var report = BenchReport(workload: workload)
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        for lane in lanes {
            let (histogram, errors) = try await lane.channel.eventLoop.submit { (lane.histogram, lane.errors) }.get()
            report.latency.merge(histogram)
            report.errors.merge(errors, uniquingKeysWith: +)
        }
        report.succeeded = Int(report.latency.count)
        report.parameters = shape.parameters
        return report
    }
}

extension LoadShape {
    var parameters: [String: String] {
        var fields = ["endpoints": endpoints.map(\.description).joined(separator: ","), "conns": "\(connections)",
                      "clients": "\(clients)"]
        if let total { fields["total"] = "\(total)" }
        if let duration { fields["duration"] = "\(duration)" }
        if let rate { fields["rate"] = "\(rate)" }
        return fields
    }
}

/// Runs `body` with an event loop group of at most one thread per core, shut down afterwards.
func withEventLoopGroup<Result>(threads: Int, _ body: (EventLoopGroup) async throws -> Result) async throws -> Result {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, min(System.coreCount, threads)))
    do {
        let result = try await body(group)
        try await group.shutdownGracefully()
        return result
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
}

/// Closes connections without waiting (the group's shutdown waits for them).
func closeAll(_ channels: [GRPCChannel]) {
    for channel in channels { channel.closeSoon() }
}

/// Opens `shape.connections` connections, spread round-robin over the endpoints.
func connect(_ shape: LoadShape, group: EventLoopGroup) async throws -> [GRPCChannel] {
    var channels: [GRPCChannel] = []
    for index in 0..<shape.connections {
        let endpoint = shape.endpoints[index % shape.endpoints.count]
        do {
            channels.append(try await GRPCChannel.connect(host: endpoint.host, port: endpoint.port, group: group))
        } catch {
            for channel in channels { await channel.close() }
            throw BenchError("cannot connect to \(endpoint): \(error)")
        }
    }
    return channels
}
