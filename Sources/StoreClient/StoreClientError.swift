import GRPC

/// Why a store call failed: no endpoint could be reached, or a member answered with a status.
public enum StoreClientError: Error, Sendable, CustomStringConvertible, Equatable {
    case invalidConfiguration(String)
    /// No endpoint accepted a connection (the last one's error).
    case unreachable(String)
    case status(GRPCStatus)
    /// A watch asked for revisions the store has compacted away; the oldest it still has is `revision`.
    case compacted(revision: Int64)
    /// The store refused to start a watch (`cancelReason`, e.g. a key range it cannot serve).
    case watchRefused(String)
    /// A watch's consumer fell behind by more batches than the watch buffers; it was ended rather than let
    /// grow without bound.
    case watchTooSlow

    public var description: String {
        switch self {
        case .invalidConfiguration(let why): return why
        case .unreachable(let why): return "no store endpoint could be reached (\(why))"
        case .status(let status): return "\(status.code): \(status.message)"
        case .compacted(let revision): return "the requested revision has been compacted (oldest kept: \(revision))"
        case .watchRefused(let why): return "the store refused the watch: \(why)"
        case .watchTooSlow: return "the watch's consumer fell too far behind"
        }
    }

    /// The member could not serve the call: it is gone (the connection failed or closed) or has no leader.
    var isUnavailable: Bool {
        guard case .status(let status) = self else { return false }
        return status.code == .unavailable
    }

    /// Whether the call may be sent again (to another member) without any chance of taking effect twice. A read
    /// may always be. A write only when it certainly did not reach the log: no connection was made, or the
    /// member refused it up front ("no leader": etcd's members refuse proposals while they know none; "too
    /// many requests": refused before it was queued). A write that timed out, or whose connection broke while it
    /// was under way, may have been applied, so it is the caller's to decide, as with etcd's own clients.
    func isSafeToRetry(idempotent: Bool) -> Bool {
        switch self {
        case .invalidConfiguration, .compacted, .watchRefused, .watchTooSlow: return false
        case .unreachable: return true
        case .status(let status):
            if idempotent { return status.code == .unavailable }
            return status.message == "etcdserver: no leader" || status.message == "etcdserver: too many requests"
        }
    }
}
