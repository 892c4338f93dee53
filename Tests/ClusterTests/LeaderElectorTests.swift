import ClusterClient
import Foundation
import Resources
import Synchronization
import Testing
import TestSupport

extension ProcessClusterTests {
    /// Leader election through a real Lease: one leader of two; a clean stop hands over at once; a leader that loses
    /// its API server stops leading before the standby takes over, and the standby does within lease + 1 s.
    @Suite struct LeaderElectorTests {
        /// When each instance started and stopped leading, on one clock.
        final class Log: Sendable {
            let entries = Mutex<[(who: String, started: Bool, at: ContinuousClock.Instant)]>([])
            func record(_ who: String, started: Bool) { entries.withLock { $0.append((who, started, .now)) } }
            func last(_ who: String, started: Bool) -> ContinuousClock.Instant? {
                entries.withLock { $0.last { $0.who == who && $0.started == started }?.at }
            }
        }

        static func lead(_ who: String, _ log: Log) -> @Sendable () async -> Void {
            {
                log.record(who, started: true)
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
                log.record(who, started: false)
            }
        }

        @Test func aLeaderThatCannotRenewStopsBeforeTheStandbyTakesOver() async throws {
            let cluster = try LocalCluster(size: 1)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            let firstDirectory = TemporaryDirectory()
            var first: APIServerProcess? = try APIServerProcess(etcdServers: cluster.members.map(\.endpoint), in: firstDirectory)
            try first!.waitUntilReady()
            let second = try APIServerProcess(etcdServers: cluster.members.map(\.endpoint), in: TemporaryDirectory(),
                                              caDirectory: firstDirectory.child("pki"))
            try second.waitUntilReady()
            let caPEM = try String(contentsOfFile: firstDirectory.child("pki/ca.crt"), encoding: .utf8)
            func client(_ port: Int) throws -> APIClient {
                try APIClient(access: ClusterAccess(servers: [.init(host: "127.0.0.1", port: port)], token: second.token, caPEM: caPEM))
            }
            let log = Log()
            let a = try LeaderElector(api: try client(first!.port), name: "test-scheduler", identity: "a")
            let runA = Task { await a.run(lead: Self.lead("a", log)) }
            defer { runA.cancel() }
            let aLeads = try await eventually { a.isLeading ? true : nil }
            #expect(aLeads == true)

            let b = try LeaderElector(api: try client(second.port), name: "test-scheduler", identity: "b")
            let runB = Task { await b.run(lead: Self.lead("b", log)) }
            defer { runB.cancel() }
            // b stays a standby while a renews.
            try await Task.sleep(for: .seconds(5))
            #expect(a.isLeading && !b.isLeading && b.timesLed == 0)

            // a's only API server dies: a stops leading at its renew deadline, b takes over after the lease.
            let killedAt = ContinuousClock.now
            first = nil
            let bLeads = try await eventually(within: 30) { b.isLeading ? true : nil }
            #expect(bLeads == true)
            let aStopped = try #require(log.last("a", started: false), "a never stopped leading")
            let bStarted = try #require(log.last("b", started: true))
            #expect(aStopped < bStarted, "a stopped at \(aStopped - killedAt), b started at \(bStarted - killedAt)")
            #expect(bStarted - killedAt < .seconds(TestTime.seconds(4 + 1 + 1)), "takeover took \(bStarted - killedAt)")
            #expect(!a.isLeading)

            let leases = ResourceClient(try client(second.port), try #require(ResourceType.find(group: "coordination.k8s.io", version: "v1", plural: "leases")))
            let lease = LeaseRecord(lease: try await leases.get(namespace: "kube-system", name: "test-scheduler"))
            #expect(lease.holderIdentity == "b" && lease.leaseTransitions == 1 && lease.leaseDurationSeconds == 4)

            // A clean stop gives the Lease up: a third instance takes it without waiting out the lease.
            let c = try LeaderElector(api: try client(second.port), name: "test-scheduler", identity: "c")
            let runC = Task { await c.run(lead: Self.lead("c", log)) }
            defer { runC.cancel() }
            try await Task.sleep(for: .seconds(1))
            let stoppedAt = ContinuousClock.now
            runB.cancel()
            await runB.value
            let cLeads = try await eventually(within: 30) { c.isLeading ? true : nil }
            #expect(cLeads == true)
            #expect(ContinuousClock.now - stoppedAt < .seconds(TestTime.seconds(3)), "handover took \(ContinuousClock.now - stoppedAt)")
        }
    }
}
