import EtcdProto
import GRPC
import Raft

extension EtcdServer {
    static let clusterService = "etcdserverpb.Cluster"

    func registerCluster(in router: inout GRPCRouter) {
        router.register(Self.clusterService, "MemberList", unary(Etcdserverpb_MemberListRequest.self) { [self] _, call in
            reply(call) {
                var response = Etcdserverpb_MemberListResponse()
                response.header = header()
                response.members = wireMembers()
                return response
            }
        })
    }

    /// The current Raft membership, with names and URLs from the directory.
    func wireMembers() -> [Etcdserverpb_Member] {
        let membership = member.status.membership
        let ids = membership.voters.union(membership.outgoing).union(membership.learners).sorted()
        return ids.map { id in
            var wire = Etcdserverpb_Member()
            wire.id = id
            if let entry = directory.entries[id] {
                wire.name = entry.name
                wire.peerUrls = entry.peerURLs
                wire.clientUrls = entry.clientURLs
            }
            wire.isLearner = membership.learners.contains(id)
            return wire
        }
    }
}
