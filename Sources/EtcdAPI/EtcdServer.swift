import EtcdProto
import GRPC
import MVCC
import NIOCore
import Raft
import Store
import SwiftProtobuf

/// etcd's v3 API (KV, Watch, Lease, Cluster, Maintenance) over one store member. The handlers take decoded
/// requests and answer through the `ServerCall`; they never block the event loop on consensus: a write hands
/// its command to the member and replies from the completion (one hop back to the connection's event loop).
public final class EtcdServer: Sendable {
    public struct Configuration: Sendable {
        public var clusterID: UInt64
        /// Requests larger than this are refused with "etcdserver: request is too large" (etcd's
        /// --max-request-bytes).
        public var maxRequestBytes = 1_572_864
        /// The cluster token: a member added through the API gets the ID it will compute for itself from its peer
        /// URLs and this token when it starts with `--initial-cluster-state existing`.
        public var clusterToken = "etcd-cluster"
        /// How often idle watchers that asked for progress notifications get one (etcd's default: 10 minutes).
        public var watchProgressNotifyInterval = TimeAmount.minutes(10)
        /// Reported by Maintenance.Status.
        public var version = "3.4.0+podium.0.1"

        public init(clusterID: UInt64) {
            self.clusterID = clusterID
        }
    }

    public let member: StoreMember
    public let configuration: Configuration
    public let directory: MemberDirectory

    public init(member: StoreMember, configuration: Configuration, directory: MemberDirectory) {
        self.member = member
        self.configuration = configuration
        self.directory = directory
    }

    /// The gRPC server needs to accept messages a bit larger than the largest request, so that an oversized
    /// one gets etcd's error rather than the transport's (etcd adds the same margin).
    public var maxReceiveMessageBytes: Int { configuration.maxRequestBytes + 512 * 1024 }

    /// Every method this server answers, for `GRPCServer`.
    public func router() -> GRPCRouter {
        var router = GRPCRouter()
        registerKV(in: &router)
        registerWatch(in: &router)
        registerLease(in: &router)
        registerMaintenance(in: &router)
        registerCluster(in: &router)
        return router
    }

    func header(revision: Int64? = nil) -> Etcdserverpb_ResponseHeader {
        var header = Etcdserverpb_ResponseHeader()
        // A member that joined a running cluster learns the cluster's ID from the replicated member records.
        header.clusterID = configuration.clusterID != 0 ? configuration.clusterID : member.mvcc.clusterID ?? 0
        header.memberID = member.id
        header.revision = revision ?? member.mvcc.revision
        header.raftTerm = member.status.term
        return header
    }

    /// A unary method: decodes the request (refusing oversized or malformed ones in etcd's and gRPC's terms)
    /// and turns anything `body` throws into the matching status.
    func unary<Request: SwiftProtobuf.Message>(
        _ type: Request.Type, _ body: @escaping @Sendable (Request, ServerCall) throws -> Void
    ) -> GRPCMethod {
        let maxRequestBytes = configuration.maxRequestBytes
        return .unary { buffer, call in
            guard buffer.readableBytes <= maxRequestBytes else {
                call.finish(EtcdStatus.requestTooLarge)
                return
            }
            let request: Request
            do {
                request = try Request(grpcMessage: buffer)
            } catch {
                call.finish(GRPCStatus(.internal, "grpc: error unmarshalling request: \(error)"))
                return
            }
            do {
                try body(request, call)
            } catch {
                call.finish(EtcdStatus.from(error))
            }
        }
    }

    /// Sends a unary call's response, or the error that building it threw.
    func reply(_ call: ServerCall, _ build: () throws -> some SwiftProtobuf.Message) {
        do {
            call.respond(try build().grpcMessage())
        } catch {
            call.finish(EtcdStatus.from(error))
        }
    }

    /// Replicates `command` and replies with `build(response)` from the connection's event loop.
    func replicate(_ command: MVCCCommand, _ call: ServerCall,
                   _ build: @escaping @Sendable (MVCCResponse) throws -> some SwiftProtobuf.Message) {
        member.apply(command) { result in
            call.eventLoop.execute {
                switch result {
                case .success(let response): self.reply(call) { try build(response) }
                case .failure(let error): call.finish(EtcdStatus.from(error))
                }
            }
        }
    }
}
