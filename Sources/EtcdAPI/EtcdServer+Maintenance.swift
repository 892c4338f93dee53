import BinaryCoding
import EtcdProto
import GRPC
import MVCC
import NIOCore
import Raft
import Store

extension EtcdServer {
    static let maintenanceService = "etcdserverpb.Maintenance"

    func registerMaintenance(in router: inout GRPCRouter) {
        router.register(Self.maintenanceService, "Status", unary(Etcdserverpb_StatusRequest.self) { [self] _, call in
            reply(call) {
                let status = member.status
                var response = Etcdserverpb_StatusResponse()
                response.header = header()
                response.version = configuration.version
                response.dbSize = member.mvcc.sizeBytes
                response.dbSizeInUse = response.dbSize
                response.leader = status.leader
                response.raftIndex = status.committedIndex
                response.raftTerm = status.term
                response.raftAppliedIndex = status.appliedIndex
                response.isLearner = status.membership.learners.contains(member.id)
                response.errors = try member.mvcc.alarms().map { "memberID:\($0.memberID) alarm:\($0.kind.wireName) " }
                return response
            }
        })
        router.register(Self.maintenanceService, "HashKV", unary(Etcdserverpb_HashKVRequest.self) { [self] request, call in
            reply(call) { try hashKV(at: request.revision) }
        })
        router.register(Self.maintenanceService, "Hash", unary(Etcdserverpb_HashRequest.self) { [self] _, call in
            reply(call) {
                let hashed = try hashKV(at: 0)
                var response = Etcdserverpb_HashResponse()
                response.header = hashed.header
                response.hash = hashed.hash
                return response
            }
        })
        router.register(Self.maintenanceService, "Defragment", unary(Etcdserverpb_DefragmentRequest.self) { [self] _, call in
            // Rewriting the files takes a while: not on the event loop.
            let mvcc = member.mvcc
            DispatchQueueHolder.maintenance.async {
                mvcc.defragment()
                self.forgetSize()
                call.eventLoop.execute {
                    self.reply(call) {
                        var response = Etcdserverpb_DefragmentResponse()
                        response.header = self.header()
                        return response
                    }
                }
            }
        })
        router.register(Self.maintenanceService, "Alarm", unary(Etcdserverpb_AlarmRequest.self) { [self] request, call in
            @Sendable func wire(_ alarms: [Alarm]) -> Etcdserverpb_AlarmResponse {
                var response = Etcdserverpb_AlarmResponse()
                response.header = header()
                response.alarms = alarms.map { alarm in
                    var member = Etcdserverpb_AlarmMember()
                    member.memberID = alarm.memberID
                    member.alarm = alarm.kind == .noSpace ? .nospace : .corrupt
                    return member
                }
                return response
            }
            switch request.action {
            case .get:
                reply(call) { wire(try member.mvcc.alarms()) }
            case .activate, .deactivate:
                let kind: Alarm.Kind
                switch request.alarm {
                case .nospace: kind = .noSpace
                case .corrupt: kind = .corrupt
                case .none, .UNRECOGNIZED: throw GRPCStatus(.invalidArgument, "etcdserver: alarm type must be NOSPACE or CORRUPT")
                }
                let alarm = Alarm(memberID: request.memberID, kind: kind)
                let raise = request.action == .activate
                // etcd answers with the alarms the request changed: the one raised, or the one cleared (if it was).
                let wasRaised = try member.mvcc.alarms().contains(alarm)
                forgetSize()
                replicate(.alarm(alarm, raise: raise), call) { response in
                    guard case .alarms = response else { throw Self.unexpected(response) }
                    return wire(raise || wasRaised ? [alarm] : [])
                }
            case .UNRECOGNIZED:
                throw GRPCStatus(.invalidArgument, "etcdserver: unknown alarm action")
            }
        })
        router.register(Self.maintenanceService, "Snapshot", .streaming { [self] call in
            SnapshotStream(server: self, call: call)
        })
        router.register(Self.maintenanceService, "MoveLeader", unary(Etcdserverpb_MoveLeaderRequest.self) { [self] request, call in
            let status = member.status
            guard status.role == .leader else { throw GRPCStatus(.failedPrecondition, "etcdserver: not leader") }
            guard status.membership.isVoter(request.targetID), request.targetID != member.id else {
                throw GRPCStatus(.failedPrecondition, "etcdserver: bad leader transferee")
            }
            member.transferLeadership(to: request.targetID) { result in
                call.eventLoop.execute {
                    switch result {
                    case .success: self.awaitLeader(request.targetID, call: call, deadline: .now() + .seconds(5))
                    case .failure: call.finish(GRPCStatus(.failedPrecondition, "etcdserver: bad leader transferee"))
                    }
                }
            }
        })
    }

    /// Answers MoveLeader once `target` leads, or fails as etcd does when the handover does not happen in time.
    private func awaitLeader(_ target: NodeID, call: ServerCall, deadline: NIODeadline) {
        if member.status.leader == target {
            reply(call) {
                var response = Etcdserverpb_MoveLeaderResponse()
                response.header = header()
                return response
            }
        } else if NIODeadline.now() >= deadline {
            call.finish(GRPCStatus(.unavailable, "etcdserver: request timed out, leader transfer took too long"))
        } else {
            call.eventLoop.scheduleTask(in: .milliseconds(10)) { self.awaitLeader(target, call: call, deadline: deadline) }
        }
    }

    /// A checksum of every key's latest version at `revision` (0: now) with its revisions, equal on every
    /// member that has applied the same entries.
    private func hashKV(at revision: Int64) throws -> Etcdserverpb_HashKVResponse {
        let at = revision == 0 ? member.mvcc.revision : revision
        var request = RangeRequest(range: KeyRange(key: [0], end: [0]), revision: at)
        request.limit = 0
        let range = try member.mvcc.range(request)
        var crc = CRC32C()
        for kv in range.kvs {
            crc.update(kv.key)
            crc.update(kv.value)
            crc.update(kv.createRevision)
            crc.update(kv.modRevision)
            crc.update(kv.version)
            crc.update(kv.lease)
        }
        var response = Etcdserverpb_HashKVResponse()
        response.header = header(revision: at)
        response.hash = crc.value
        response.compactRevision = member.mvcc.compactedRevision
        return response
    }
}
