import EtcdProto
import StoreClient
import Synchronization

/// The store leases objects of an expiring kind (Events, kube-apiserver's --event-ttl) are written with, so the
/// store deletes them after their TTL rather than keep every Event a cluster ever made. Writes share a lease as
/// `LeaseReuse` decides; writes that find none wait together for one grant.
final class ExpiringLeases: Sendable {
    private struct State {
        var reuse: LeaseReuse
        var granting: Task<Int64, any Error>?
    }

    let client: StoreClient
    private let state: Mutex<State>
    private let origin = ContinuousClock.now

    init(client: StoreClient, ttl: Duration) {
        self.client = client
        state = Mutex(State(reuse: LeaseReuse(ttl: ttl)))
    }

    /// The lease for a write now: the current one, or one granted for this write and those waiting with it.
    func lease() async throws -> Int64 {
        let now = ContinuousClock.now - origin
        if let id = state.withLock({ $0.reuse.take(at: now) }) { return id }
        let grant = state.withLock { state -> (task: Task<Int64, any Error>, ours: Bool) in
            if let task = state.granting { return (task, false) }
            let seconds = state.reuse.grantSeconds
            let task = Task { [client] in
                var request = Etcdserverpb_LeaseGrantRequest()
                request.ttl = seconds
                return try await client.leaseGrant(request).id
            }
            state.granting = task
            return (task, true)
        }
        do {
            let id = try await grant.task.value
            state.withLock { state in
                if grant.ours {
                    state.granting = nil
                    state.reuse.granted(id, askedAt: now)
                } else {
                    state.reuse.attach(to: id)
                }
            }
            return id
        } catch {
            if grant.ours { state.withLock { $0.granting = nil } }
            throw error
        }
    }

    /// The store said `id` is gone: the next write is given another.
    func forget(_ id: Int64) {
        state.withLock { $0.reuse.forget(id) }
    }
}
