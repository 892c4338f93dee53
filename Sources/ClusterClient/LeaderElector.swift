import Foundation
import Logging
import NIOCore
import Resources
import Synchronization

/// Runs `LeaderElection` against a Lease through the API server: reads the Lease, writes what the core decides
/// (compare-and-swap on its resourceVersion), and runs `lead` while this instance leads. `lead` is cancelled the
/// moment leadership lapses (the renew deadline passes without a successful renewal), before any other instance
/// may take the Lease; writers also check `isLeading` before each write, as a cancelled task may still be
/// finishing one.
public final class LeaderElector: Sendable {
    public let identity: String
    public let namespace: String
    public let name: String
    private let leases: ResourceClient
    private let logger: Logger
    private let start = ContinuousClock.now
    private let election: Mutex<LeaderElection>
    private let transitions = Mutex<Int>(0)

    public init(api: APIClient, namespace: String = "kube-system", name: String, identity: String,
                timing: LeaderElection.Timing = .default, logger: Logger = Logger(label: "podium.leader-election")) throws {
        if let problem = timing.problem { throw ClusterAccessError("leader election for \(name): \(problem)") }
        guard let type = ResourceType.find(group: "coordination.k8s.io", version: "v1", plural: "leases") else {
            throw ClusterAccessError("the catalogue lacks coordination.k8s.io/v1 leases")
        }
        leases = ResourceClient(api, type, timeout: .milliseconds(Int64(timing.renewDeadline * 1000 / 2)))
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.logger = logger
        election = Mutex(LeaderElection(identity: identity, timing: timing))
    }

    private var now: Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    private static var wallClock: String { RFC3339.formatMicro(Date().timeIntervalSince1970) }

    /// Whether this instance may act as leader now.
    public var isLeading: Bool {
        let now = self.now
        return election.withLock { $0.isLeading(at: now) }
    }

    /// How many times this instance became leader.
    public var timesLed: Int { transitions.withLock { $0 } }

    /// Campaigns until cancelled; each time it wins, runs `lead` until leadership lapses (then campaigns again).
    /// On cancellation it gives the Lease up, so that a standby takes over without waiting out the lease.
    public func run(lead: @escaping @Sendable () async -> Void) async {
        var leading: Task<Void, Never>?
        while !Task.isCancelled {
            await step()
            let now = self.now
            let (isLeading, deadline) = election.withLock { ($0.isLeading(at: now), $0.leadershipDeadline) }
            if isLeading, let task = leading, task.isCancelled {
                // Cancelled at a deadline a late renewal then met: the Lease is still ours, so lead again.
                await task.value
                leading = nil
            }
            if isLeading, leading == nil {
                transitions.withLock { $0 += 1 }
                logger.info("\(identity) now leads \(namespace)/\(name)")
                let task = Task { await lead() }
                leading = task
                cancelAtDeadline(task)
            } else if !isLeading, let task = leading {
                logger.warning("\(identity) lost \(namespace)/\(name): no renewal in time")
                task.cancel()
                await task.value
                leading = nil
            }
            // Read again after the retry period (the core decides whether a write is due), or at the leadership
            // deadline if that comes first.
            let retry = election.withLock { $0.timing.retryPeriod }
            let until = min(self.now + retry, leading != nil ? (deadline ?? .infinity) : .infinity)
            let delay = max(0.001, until - self.now)
            try? await Task.sleep(for: .milliseconds(Int((delay * 1000).rounded(.up))))
        }
        if let task = leading {
            task.cancel()
            await task.value
        }
        await release()
    }

    /// Cancels `task` once the leadership deadline passes without a renewal, even while a Lease request hangs.
    private func cancelAtDeadline(_ task: Task<Void, Never>) {
        Task {
            while !task.isCancelled {
                guard let deadline = election.withLock({ $0.leadershipDeadline }) else { break }
                let delay = deadline - now
                if delay <= 0 { break }
                try? await Task.sleep(for: .milliseconds(Int((delay * 1000).rounded(.up))))
            }
            task.cancel()
        }
    }

    /// Reads the Lease and makes the write the core asks for, if any.
    private func step() async {
        let lease: LeaseRecord?
        do {
            lease = LeaseRecord(lease: try await leases.get(namespace: namespace, name: name))
        } catch where error.isNotFound {
            lease = nil
        } catch {
            logger.debug("reading lease \(namespace)/\(name): \(error)")
            return
        }
        let readAt = now
        let decision = election.withLock { state in
            state.observe(lease, at: readAt)
            return state.decide(now: readAt, wallClock: Self.wallClock)
        }
        guard case .write(let record) = decision else { return }
        let sentAt = now
        do {
            let object = record.lease(namespace: namespace, name: name)
            let stored = record.resourceVersion.isEmpty
                ? try await leases.create(object, namespace: namespace) : try await leases.update(object)
            let writtenAt = now
            election.withLock { $0.written(LeaseRecord(lease: stored), sentAt: sentAt, now: writtenAt) }
        } catch {
            logger.debug("writing lease \(namespace)/\(name): \(error)")
        }
    }

    private func release() async {
        let record = election.withLock { state -> LeaseRecord? in
            defer { state.stepDown() }
            return state.release(wallClock: Self.wallClock)
        }
        guard let record else { return }
        _ = try? await leases.update(record.lease(namespace: namespace, name: name))
    }
}
