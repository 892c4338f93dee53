import EtcdProto
import GRPC
import MVCC
import NIOCore
import Raft
import Store
import SwiftProtobuf
import Synchronization

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
        /// The store's size limit (etcd's --quota-backend-bytes: 0 means etcd's default of 2 GiB, negative means
        /// none). Past it a NOSPACE alarm is raised and writes that add data are refused until it is disarmed.
        public var quotaBackendBytes: Int64 = 0
        /// How often idle watchers that asked for progress notifications get one (etcd's default: 10 minutes).
        public var watchProgressNotifyInterval = TimeAmount.minutes(10)
        /// Reported by Maintenance.Status.
        public var version = "3.4.0+podium.0.1"
        /// Snapshot calls served at once; more are refused (RESOURCE_EXHAUSTED). Each holds a database snapshot
        /// and a cursor for as long as its client takes to read.
        public var maxSnapshotStreams = 8

        public init(clusterID: UInt64) {
            self.clusterID = clusterID
        }
    }

    public let member: StoreMember
    public let configuration: Configuration
    public let directory: MemberDirectory
    /// The store's size as last measured (measuring reads RocksDB properties, so at most once a second).
    private let sizeCheck = Mutex<(measuredAt: ContinuousClock.Instant, bytes: Int64)?>(nil)
    /// Snapshot calls being served.
    let snapshotStreams = Mutex(0)

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

    var quotaBytes: Int64? {
        let quota = configuration.quotaBackendBytes
        return quota < 0 ? nil : quota == 0 ? 2 << 30 : quota
    }

    /// Forgets the last size measurement (after a defragmentation or a disarmed alarm, the next write measures).
    func forgetSize() {
        sizeCheck.withLock { $0 = nil }
    }

    /// Whether the store has outgrown its quota.
    func overQuota() -> Bool {
        guard let quota = quotaBytes else { return false }
        let now = ContinuousClock.now
        let bytes = sizeCheck.withLock { check -> Int64? in
            guard let check, now - check.measuredAt < .seconds(1) else { return nil }
            return check.bytes
        } ?? {
            let measured = member.mvcc.sizeBytes
            sizeCheck.withLock { $0 = (now, measured) }
            return measured
        }()
        return bytes > quota
    }

    /// Replicates `command` and replies with `build(response)` from the connection's event loop. A write that
    /// adds data to a store past its quota raises the NOSPACE alarm and is refused, as etcd does.
    func replicate(_ command: MVCCCommand, _ call: ServerCall,
                   _ build: @escaping @Sendable (MVCCResponse) throws -> some SwiftProtobuf.Message) {
        if command.addsData, overQuota() {
            let alarm = Alarm(memberID: member.id, kind: .noSpace)
            if !((try? member.mvcc.alarms()) ?? []).contains(alarm) {
                member.apply(.alarm(alarm, raise: true)) { _ in }
            }
            call.finish(EtcdStatus.from(MVCCError.noSpace))
            return
        }
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
