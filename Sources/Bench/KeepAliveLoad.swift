import EtcdProto
import Foundation
import GRPC
import NIOCore
import Synchronization

/// Lease keep-alives: each client grants a lease, opens a LeaseKeepAlive stream and renews it one request at a
/// time; latency is from a renewal's send to its answer.
public struct KeepAliveLoad: Sendable {
    public var shape: LoadShape
    public var ttl: Int64

    public init(shape: LoadShape, ttl: Int64) {
        self.shape = shape
        self.ttl = ttl
    }

    /// One client; used only on its connection's event loop.
    final class Client: @unchecked Sendable {
        // @unchecked Sendable: every mutable field is used only on `channel.eventLoop`.
        let channel: GRPCChannel
        let lease: Int64
        let issued: Counter
        let total: Int
        let deadline: UInt64
        let progress: ProgressBar
        var stream: GRPCClientStream?
        var sent: UInt64 = 0
        var histogram = LatencyHistogram()
        var errors: [String: Int] = [:]
        let done: EventLoopPromise<Void>
        var finished = false

        init(channel: GRPCChannel, lease: Int64, issued: Counter, total: Int, deadline: UInt64, progress: ProgressBar) {
            self.channel = channel
            self.lease = lease
            self.issued = issued
            self.total = total
            self.deadline = deadline
            self.progress = progress
            done = channel.eventLoop.makePromise()
        }

        func start() {
            stream = channel.openStream("/etcdserverpb.Lease/LeaseKeepAlive", onMessage: { [self] reply in
                histogram.record(DispatchTime.now().uptimeNanoseconds - sent)
                if let response = try? Etcdserverpb_LeaseKeepAliveResponse(grpcMessage: reply), response.ttl <= 0 {
                    errors["lease not found", default: 0] += 1
                }
                progress.completed.add(1, ordering: .relaxed)
                next()
            }, onClose: { [self] status in
                if !finished { errors["keep-alive stream closed: \(status)", default: 0] += 1 }
                finish()
            })
            next()
        }

        func next() {
            let now = DispatchTime.now().uptimeNanoseconds
            guard issued.add(1) < total, now < deadline else {
                finish()
                stream?.halfClose()
                return
            }
            var request = Etcdserverpb_LeaseKeepAliveRequest()
            request.id = lease
            guard let message = try? request.grpcMessage() else { return }
            sent = now
            stream?.send(message)
        }

        func finish() {
            guard !finished else { return }
            finished = true
            done.succeed()
        }
    }

    public func run(workload: String) async throws -> BenchReport {
        try shape.validate()
        guard ttl > 0 else { throw BenchError("--ttl must be positive") }
        return try await withEventLoopGroup(threads: shape.connections) { group in
            let channels = try await connect(shape, group: group)
            defer { closeAll(channels) }
            var leases: [Int64] = []
            for index in 0..<shape.clients {
                var grant = Etcdserverpb_LeaseGrantRequest()
                grant.ttl = ttl
                let reply = try await channels[index % channels.count].unary("/etcdserverpb.Lease/LeaseGrant", message: grant,
                                                                             timeout: .seconds(10))
                leases.append(try Etcdserverpb_LeaseGrantResponse(grpcMessage: reply).id)
            }
            let issued = Counter()
            let progress = ProgressBar(label: workload, total: shape.total, duration: shape.duration, enabled: shape.progress)
            defer { progress.stop() }
            let started = DispatchTime.now().uptimeNanoseconds
            let deadline = shape.duration.map { started + UInt64($0 * 1e9) } ?? .max
            let clients = leases.enumerated().map { index, lease in
                Client(channel: channels[index % channels.count], lease: lease, issued: issued,
                       total: shape.total ?? .max, deadline: deadline, progress: progress)
            }
            for client in clients { client.channel.eventLoop.execute { client.start() } }
            for client in clients { try await client.done.futureResult.get() }
            var report = BenchReport(workload: workload)
            report.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            for client in clients {
                let (histogram, errors) = try await client.channel.eventLoop.submit { (client.histogram, client.errors) }.get()
                report.latency.merge(histogram)
                report.errors.merge(errors, uniquingKeysWith: +)
            }
            report.succeeded = Int(report.latency.count)
            report.parameters = shape.parameters
            report.parameters["ttl"] = "\(ttl)"
            for (index, lease) in leases.enumerated() {
                var revoke = Etcdserverpb_LeaseRevokeRequest()
                revoke.id = lease
                _ = try? await channels[index % channels.count].unary("/etcdserverpb.Lease/LeaseRevoke", message: revoke,
                                                                      timeout: .seconds(10))
            }
            return report
        }
    }
}
