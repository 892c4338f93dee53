import ArgumentParser
import ClusterClient
import Foundation
import Logging
import NIOCore
import Scheduler

/// The flags of the components `podium master` runs beside its API server (the scheduler now; the controllers
/// next), and their start: each is a client of the local API server, campaigning for its Lease in kube-system.
struct ControlPlaneOptions: ParsableArguments {
    @Flag(name: .customLong("disable-scheduler"), help: "Do not run the scheduler on this master.")
    var disableScheduler = false

    @Option(name: .customLong("leader-elect-lease-duration"), help: "How long a leader's Lease stands without renewal (Go duration).")
    var leaseDuration = "4s"

    @Option(name: .customLong("leader-elect-renew-deadline"), help: "How long a leader may fail to renew before it stops acting.")
    var renewDeadline = "3s"

    @Option(name: .customLong("leader-elect-renew-period"), help: "How often a leader renews its Lease.")
    var renewPeriod = "1s"

    @Option(name: .customLong("leader-elect-retry-period"), help: "How often standbys try to take the Lease.")
    var retryPeriod = "500ms"

    @Option(name: .customLong("identity"), help: "This master's name in Leases (default: its store member's name).")
    var identity: String?

    func timing() throws -> LeaderElection.Timing {
        func seconds(_ text: String, _ flag: String) throws -> Double {
            guard let amount = GoDuration.parse(text), amount.nanoseconds > 0 else {
                throw ValidationError("--\(flag) \(text) is not a positive duration (e.g. 4s, 500ms)")
            }
            return Double(amount.nanoseconds) / 1e9
        }
        let timing = LeaderElection.Timing(leaseDuration: try seconds(leaseDuration, "leader-elect-lease-duration"),
                                           renewDeadline: try seconds(renewDeadline, "leader-elect-renew-deadline"),
                                           renewPeriod: try seconds(renewPeriod, "leader-elect-renew-period"),
                                           retryPeriod: try seconds(retryPeriod, "leader-elect-retry-period"))
        if let problem = timing.problem { throw ValidationError("leader election: \(problem)") }
        return timing
    }

    /// Starts the enabled components against the API server at `port` on loopback; the task runs them until
    /// cancelled.
    func start(apiPort: Int, token: String, caDirectory: String, memberName: String) throws -> Task<Void, Never>? {
        guard !disableScheduler else { return nil }
        let caPEM: String
        do {
            caPEM = try String(contentsOfFile: caDirectory + "/ca.crt", encoding: .utf8)
        } catch {
            throw CommandFailure("cannot read the cluster CA in \(caDirectory): \(error.localizedDescription)")
        }
        let api = try APIClient(access: ClusterAccess(servers: [.init(host: "127.0.0.1", port: apiPort)], token: token, caPEM: caPEM))
        let identity = self.identity ?? memberName
        let timing = try timing()
        let scheduler = try PodScheduler(api: api)
        let elector = try LeaderElector(api: api, name: "kube-scheduler", identity: identity, timing: timing,
                                        logger: Logger(label: "podium.scheduler"))
        return Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await scheduler.runInformers() }
                group.addTask {
                    await elector.run {
                        await scheduler.schedule(isLeading: { elector.isLeading })
                    }
                }
            }
            api.shutdown()
        }
    }
}
