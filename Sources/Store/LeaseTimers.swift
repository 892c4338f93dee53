import Dispatch
import MVCC
import Synchronization

/// How long each lease has left, kept by every member from the grants, keep-alives and revokes it applies
/// (by its own monotonic clock), so that a new leader already knows each lease's remaining TTL. Only the
/// leader acts on it: it proposes a revoke for each lease that expires.
final class LeaseTimers: Sendable {
    private let deadlines = Mutex(LeaseDeadlines())

    /// Starts every stored lease afresh with its granted TTL (a restarted member cannot know better; erring
    /// long is safe, erring short would drop a live lease).
    init(leases: [LeaseInfo]) {
        let now = Self.now()
        deadlines.withLock { deadlines in
            for lease in leases { deadlines.renew(lease.id, ttlSeconds: lease.grantedTTL, now: now) }
        }
    }

    /// Monotonic nanoseconds.
    /// Starts over from the stored leases (after the store was replaced by a snapshot).
    func reset(leases: [LeaseInfo]) {
        let now = Self.now()
        deadlines.withLock { deadlines in
            deadlines = LeaseDeadlines()
            for lease in leases { deadlines.renew(lease.id, ttlSeconds: lease.grantedTTL, now: now) }
        }
    }

    static func now() -> UInt64 {
        DispatchTime.now().uptimeNanoseconds
    }

    /// Follows an applied command's effect on leases.
    func applied(_ command: MVCCCommand, result: Result<MVCCResponse, MVCCError>) {
        guard case .success(let response) = result else {
            // A lease the store does not have needs no timer (e.g. a second revoke of an expired lease).
            if case .failure(.leaseNotFound) = result,
               case .leaseRevoke(let id) = command { deadlines.withLock { $0.remove(id) } }
            return
        }
        let now = Self.now()
        deadlines.withLock { deadlines in
            switch response {
            case .leaseGrant(let grant): deadlines.renew(grant.id, ttlSeconds: grant.ttl, now: now)
            case .leaseKeepAlive(let renewal): deadlines.renew(renewal.id, ttlSeconds: renewal.ttl, now: now)
            case .leaseRevoke:
                if case .leaseRevoke(let id) = command { deadlines.remove(id) }
            case .put, .deleteRange, .txn, .compact, .member, .alarms: break
            }
        }
    }

    /// A new leader gives every lease an election timeout more.
    func promote(extension nanoseconds: UInt64) {
        let now = Self.now()
        deadlines.withLock { $0.extendAll(by: nanoseconds, now: now) }
    }

    func expired() -> [Int64] {
        let now = Self.now()
        return deadlines.withLock { $0.expired(at: now) }
    }

    /// Whole seconds left (rounded up), or -1 for a lease this member does not know.
    func remainingSeconds(_ id: Int64) -> Int64 {
        let now = Self.now()
        return deadlines.withLock { $0.remainingSeconds(id, now: now) }
    }
}
