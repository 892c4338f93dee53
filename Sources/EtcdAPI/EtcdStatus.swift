import GRPC
import MVCC
import Raft
import Store

/// etcd's gRPC status for each error the store reports, with etcd's exact messages, so clients (which match on
/// them) react as they do with etcd.
enum EtcdStatus {
    static func from(_ error: any Error) -> GRPCStatus {
        switch error {
        case let status as GRPCStatus:
            return status
        case let error as MVCCError:
            switch error {
            case .emptyKey, .keyNotFound, .valueProvided, .leaseProvided, .tooManyOperations, .duplicateKey,
                 .requestTooLarge:
                return GRPCStatus(.invalidArgument, error.description)
            case .compacted, .futureRevision, .leaseTTLTooLarge:
                return GRPCStatus(.outOfRange, error.description)
            case .leaseNotFound:
                return GRPCStatus(.notFound, error.description)
            case .leaseExists, .memberRemoved:
                return GRPCStatus(.failedPrecondition, error.description)
            case .noSpace:
                return GRPCStatus(.resourceExhausted, error.description)
            }
        case StoreError.tooManyRequests:
            return GRPCStatus(.resourceExhausted, StoreError.tooManyRequests.description)
        case let error as StoreError:
            return GRPCStatus(.unavailable, error.description)
        case RaftError.configurationChangeRefused:
            return GRPCStatus(.failedPrecondition,
                              "etcdserver: membership change refused: another change is not applied yet, or it does not apply to the current membership")
        case RaftError.proposalDropped:
            return GRPCStatus(.unavailable, StoreError.noLeader.description)
        case RaftError.notAVoter:
            return GRPCStatus(.failedPrecondition, "etcdserver: not a voting member")
        default:
            return GRPCStatus(.unknown, "\(error)")
        }
    }

    static let requestTooLarge = GRPCStatus(.invalidArgument, "etcdserver: request is too large")
}
