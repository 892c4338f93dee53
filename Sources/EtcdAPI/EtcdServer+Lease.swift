import EtcdProto
import Foundation
import GRPC
import MVCC
import NIOCore

extension EtcdServer {
    static let leaseService = "etcdserverpb.Lease"

    func registerLease(in router: inout GRPCRouter) {
        router.register(Self.leaseService, "LeaseGrant", unary(Etcdserverpb_LeaseGrantRequest.self) { [self] request, call in
            guard request.id >= 0 else { throw GRPCStatus(.invalidArgument, "etcdserver: lease ID must be positive") }
            replicate(.leaseGrant(id: request.id, ttl: request.ttl), call) { response in
                guard case .leaseGrant(let grant) = response else { throw Self.unexpected(response) }
                var wire = Etcdserverpb_LeaseGrantResponse()
                wire.header = self.header(revision: grant.revision)
                wire.id = grant.id
                wire.ttl = grant.ttl
                return wire
            }
        })
        router.register(Self.leaseService, "LeaseRevoke", unary(Etcdserverpb_LeaseRevokeRequest.self) { [self] request, call in
            replicate(.leaseRevoke(id: request.id), call) { response in
                guard case .leaseRevoke(let revoke) = response else { throw Self.unexpected(response) }
                var wire = Etcdserverpb_LeaseRevokeResponse()
                wire.header = self.header(revision: revoke.revision)
                return wire
            }
        })
        router.register(Self.leaseService, "LeaseTimeToLive", unary(Etcdserverpb_LeaseTimeToLiveRequest.self) { [self] request, call in
            reply(call) {
                var wire = Etcdserverpb_LeaseTimeToLiveResponse()
                wire.header = header()
                wire.id = request.id
                guard let lease = try member.mvcc.lease(request.id, withKeys: request.keys) else {
                    // etcd answers an unknown lease with TTL -1, not an error.
                    wire.ttl = -1
                    return wire
                }
                wire.ttl = member.leaseRemainingSeconds(request.id)
                wire.grantedTtl = lease.grantedTTL
                wire.keys = lease.keys.map { Data($0) }
                return wire
            }
        })
        router.register(Self.leaseService, "LeaseLeases", unary(Etcdserverpb_LeaseLeasesRequest.self) { [self] _, call in
            reply(call) {
                var wire = Etcdserverpb_LeaseLeasesResponse()
                wire.header = header()
                wire.leases = try member.mvcc.leases().map { lease in
                    var status = Etcdserverpb_LeaseStatus()
                    status.id = lease.id
                    return status
                }
                return wire
            }
        })
        router.register(Self.leaseService, "LeaseKeepAlive", .streaming { [self] call in
            LeaseKeepAliveStream(server: self, call: call)
        })
    }
}

/// One LeaseKeepAlive stream: each request renews a lease through the log and is answered with its TTL (0 when
/// the lease does not exist, as etcd answers). Renewals are pipelined up to `maxInFlight`; past that the stream
/// takes no more requests until answers come (they wait in the connection, then in the client). When the client
/// half-closes, the call ends with OK once every request is answered, as etcd's does.
final class LeaseKeepAliveStream: ServerCallReceiver, @unchecked Sendable {
    // @unchecked Sendable: the mutable state is touched only on `call.eventLoop`.
    static let maxInFlight = 64

    let server: EtcdServer
    let call: ServerCall
    private var ended = false
    private var requestsDone = false
    private var inFlight = 0

    init(server: EtcdServer, call: ServerCall) {
        self.server = server
        self.call = call
    }

    func received(_ message: ByteBuffer) {
        guard !ended else { return }
        let request: Etcdserverpb_LeaseKeepAliveRequest
        do {
            request = try Etcdserverpb_LeaseKeepAliveRequest(grpcMessage: message)
        } catch {
            end(GRPCStatus(.internal, "grpc: error unmarshalling request: \(error)"))
            return
        }
        inFlight += 1
        if inFlight == Self.maxInFlight { call.pauseRequests() }
        server.member.apply(.leaseKeepAlive(id: request.id)) { result in
            self.call.eventLoop.execute { self.answer(request.id, result) }
        }
    }

    private func answer(_ id: Int64, _ result: Result<MVCCResponse, any Error>) {
        inFlight -= 1
        guard !ended else { return }
        var wire = Etcdserverpb_LeaseKeepAliveResponse()
        wire.id = id
        switch result {
        case .success(.leaseKeepAlive(let renewal)):
            wire.header = server.header(revision: renewal.revision)
            wire.ttl = renewal.ttl
        case .failure(MVCCError.leaseNotFound):
            wire.header = server.header()
            wire.ttl = 0
        case .success(let other):
            end(EtcdServer.unexpected(other))
            return
        case .failure(let error):
            end(EtcdStatus.from(error))
            return
        }
        do {
            call.send(try wire.grpcMessage())
        } catch {
            end(GRPCStatus(.internal, "podium: encoding a keep-alive response failed: \(error)"))
            return
        }
        if requestsDone, inFlight == 0 {
            end(.ok)
        } else if inFlight == Self.maxInFlight - 1 {
            call.resumeRequests()
        }
    }

    func requestsEnded() {
        requestsDone = true
        if inFlight == 0 { end(.ok) }
    }

    func cancelled() {
        ended = true
    }

    private func end(_ status: GRPCStatus) {
        guard !ended else { return }
        ended = true
        call.finish(status)
    }
}
