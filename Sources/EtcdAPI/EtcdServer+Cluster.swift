import EtcdProto
import GRPC
import MVCC
import Raft
import Store
import SwiftProtobuf

extension EtcdServer {
    static let clusterService = "etcdserverpb.Cluster"

    static let memberNotFound = GRPCStatus(.notFound, "etcdserver: member not found")
    static let badURLs = GRPCStatus(.invalidArgument, "etcdserver: given member URLs are invalid")
    static let peerURLExists = GRPCStatus(.failedPrecondition, "etcdserver: Peer URLs already exists")
    static let notLearner = GRPCStatus(.failedPrecondition, "etcdserver: can only promote a learner member")

    func registerCluster(in router: inout GRPCRouter) {
        router.register(Self.clusterService, "MemberList", unary(Etcdserverpb_MemberListRequest.self) { [self] _, call in
            reply(call) {
                var response = Etcdserverpb_MemberListResponse()
                response.header = header()
                response.members = try wireMembers()
                return response
            }
        })
        router.register(Self.clusterService, "MemberAdd", unary(Etcdserverpb_MemberAddRequest.self) { [self] request, call in
            let urls = request.peerUrls
            guard !urls.isEmpty, urls.allSatisfy({ PeerAddress(url: $0) != nil }) else { throw Self.badURLs }
            let known = Set(try wireMembers().flatMap(\.peerUrls))
            guard known.isDisjoint(with: urls) else { throw Self.peerURLExists }
            let newID = ClusterIdentity.memberID(peerURLs: urls, token: configuration.clusterToken)
            guard !member.status.membership.members.contains(newID) else {
                throw GRPCStatus(.failedPrecondition, "etcdserver: member ID already exist")
            }
            respondAfter(call) {
                // The ID comes from the peer URLs (and the cluster token): a member removed and added back at the
                // same URLs would have its old ID, which the store refuses when applying the record.
                _ = try await self.member.apply(.memberUpdate(MemberRecord.Update(id: newID, peerURLs: urls)))
                try await self.changeMembership(request.isLearner ? .addLearner(newID) : .addVoter(newID)) {
                    $0.members.contains(newID)
                }
                var response = Etcdserverpb_MemberAddResponse()
                response.header = self.header()
                response.members = try self.wireMembers()
                response.member = response.members.first { $0.id == newID } ?? Etcdserverpb_Member()
                return response
            }
        })
        router.register(Self.clusterService, "MemberRemove", unary(Etcdserverpb_MemberRemoveRequest.self) { [self] request, call in
            guard member.status.membership.members.contains(request.id) else { throw Self.memberNotFound }
            respondAfter(call) {
                // The record first: once the member is out of the membership, a leader removing itself has
                // stepped down and could not write it any more (the list comes from the membership, so a
                // removal that fails half-way still lists the member, and may be asked again).
                _ = try await self.member.apply(.memberRemove(id: request.id))
                try await self.changeMembership(.remove(request.id)) { !$0.members.contains(request.id) }
                var response = Etcdserverpb_MemberRemoveResponse()
                response.header = self.header()
                response.members = try self.wireMembers()
                return response
            }
        })
        router.register(Self.clusterService, "MemberUpdate", unary(Etcdserverpb_MemberUpdateRequest.self) { [self] request, call in
            guard member.status.membership.members.contains(request.id) else { throw Self.memberNotFound }
            guard !request.peerUrls.isEmpty, request.peerUrls.allSatisfy({ PeerAddress(url: $0) != nil }) else {
                throw Self.badURLs
            }
            respondAfter(call) {
                _ = try await self.member.apply(.memberUpdate(MemberRecord.Update(id: request.id, peerURLs: request.peerUrls)))
                var response = Etcdserverpb_MemberUpdateResponse()
                response.header = self.header()
                response.members = try self.wireMembers()
                return response
            }
        })
        router.register(Self.clusterService, "MemberPromote", unary(Etcdserverpb_MemberPromoteRequest.self) { [self] request, call in
            let membership = member.status.membership
            guard membership.members.contains(request.id) else { throw Self.memberNotFound }
            guard membership.learners.contains(request.id) else { throw Self.notLearner }
            respondAfter(call) {
                try await self.changeMembership(.addVoter(request.id)) { $0.voters.contains(request.id) }
                var response = Etcdserverpb_MemberPromoteResponse()
                response.header = self.header()
                response.members = try self.wireMembers()
                return response
            }
        })
    }

    /// Runs a rare administrative request as a task (these wait on several log entries) and replies with its
    /// result or error.
    private func respondAfter(_ call: ServerCall,
                              _ body: @escaping @Sendable () async throws -> some SwiftProtobuf.Message) {
        Task {
            do {
                let response = try await body()
                call.respond(try response.grpcMessage())
            } catch {
                call.finish(EtcdStatus.from(error))
            }
        }
    }

    /// Proposes a membership change and waits until it is in force here (`done`), within the request timeout.
    private func changeMembership(_ operation: ConfigurationChange.Operation,
                                  until done: @escaping @Sendable (Membership) -> Bool) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            member.proposeConfigurationChange(ConfigurationChange([operation])) { continuation.resume(with: $0) }
        }
        let deadline = ContinuousClock.now + member.configuration.requestTimeout
        while !done(member.status.membership) {
            guard ContinuousClock.now < deadline else { throw StoreError.timeout }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// The current Raft membership, with names and URLs from the replicated member records (or, for members
    /// that have not published theirs yet, from this member's configuration).
    func wireMembers() throws -> [Etcdserverpb_Member] {
        let membership = member.status.membership
        let records = Dictionary(try member.mvcc.members().map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return membership.members.sorted().map { id in
            var wire = Etcdserverpb_Member()
            wire.id = id
            if let entry = directory.entries[id] {
                wire.name = entry.name
                wire.peerUrls = entry.peerURLs
                wire.clientUrls = entry.clientURLs
            }
            if let record = records[id] {
                if !record.name.isEmpty { wire.name = record.name }
                if !record.peerURLs.isEmpty { wire.peerUrls = record.peerURLs }
                if !record.clientURLs.isEmpty { wire.clientUrls = record.clientURLs }
            }
            wire.isLearner = membership.learners.contains(id)
            return wire
        }
    }
}
