/// When each lease expires, by the caller's monotonic clock (nanoseconds). Pure bookkeeping: the leader feeds it
/// grants, keep-alives and the current time, and turns what `expired(at:)` returns into revoke commands, so the
/// replicated state machine itself never reads a clock.
public struct LeaseDeadlines: Sendable {
    private var deadlines: [Int64: UInt64] = [:]

    public init() {}

    /// Starts or renews a lease: it now expires `ttlSeconds` after `now`.
    public mutating func renew(_ id: Int64, ttlSeconds: Int64, now: UInt64) {
        deadlines[id] = now &+ UInt64(max(ttlSeconds, 0)) &* 1_000_000_000
    }

    public mutating func remove(_ id: Int64) {
        deadlines[id] = nil
    }

    /// Whole seconds left, rounded up as etcd reports them; -1 when the lease is unknown here.
    public func remainingSeconds(_ id: Int64, now: UInt64) -> Int64 {
        guard let deadline = deadlines[id] else { return -1 }
        guard deadline > now else { return 0 }
        return Int64((deadline - now + 999_999_999) / 1_000_000_000)
    }

    var deadlinesByID: [Int64: UInt64] { deadlines }

    mutating func renewUntil(_ id: Int64, _ deadline: UInt64) {
        deadlines[id] = deadline
    }

    /// The leases whose deadline has passed, in ID order.
    public func expired(at now: UInt64) -> [Int64] {
        deadlines.filter { $0.value <= now }.keys.sorted()
    }
}

extension LeaseDeadlines {
    /// Gives every lease `nanoseconds` more from `now` or its deadline, whichever is later: what a new leader
    /// does, so that keep-alives lost during the election do not expire leases.
    public mutating func extendAll(by nanoseconds: UInt64, now: UInt64) {
        for (id, deadline) in deadlinesByID {
            renewUntil(id, max(deadline, now) &+ nanoseconds)
        }
    }
}
