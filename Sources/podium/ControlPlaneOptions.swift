import ArgumentParser
import ClusterClient
import Controllers
import Foundation
import Logging
import NIOCore
import Scheduler

/// The flags of the components `podium master` runs beside its API server (the scheduler and the controller
/// manager), and their start: each is a client of the local API server, campaigning for its Lease in
/// kube-system (kube-scheduler, kube-controller-manager).
struct ControlPlaneOptions: ParsableArguments {
    @Flag(name: .customLong("disable-scheduler"), help: "Do not run the scheduler on this master.")
    var disableScheduler = false

    @Option(name: .customLong("controllers"), help: ArgumentHelp(
        "The controllers to run: names, * for all, -name to leave one out (known: \(ControllerManager.known.joined(separator: ", "))).",
        valueName: "list"))
    var controllers = "*"

    @Option(name: .customLong("concurrent-syncs"), help: "Objects each controller works on at once.")
    var concurrentSyncs = 5

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

    @Option(name: .customLong("node-monitor-grace-period"), help: ArgumentHelp(
        "How long a node may go without renewing its Lease before it is unreachable and tainted (Go duration; Kubernetes: 40s). Kubelets must renew well within it.",
        valueName: "duration"))
    var nodeMonitorGracePeriod = "8s"

    private func seconds(_ text: String, _ flag: String) throws -> Double {
        guard let amount = GoDuration.parse(text), amount.nanoseconds > 0 else {
            throw ValidationError("--\(flag) \(text) is not a positive duration (e.g. 4s, 500ms)")
        }
        return Double(amount.nanoseconds) / 1e9
    }

    /// Refuses bad durations when the command line is read, before the master starts its store.
    func validate() throws {
        _ = try timing()
        _ = try nodeLifecycle()
    }

    /// The node lifecycle controller's settings from the flags.
    func nodeLifecycle() throws -> NodeLifecycle.Configuration {
        var configuration = NodeLifecycle.Configuration()
        configuration.gracePeriod = try seconds(nodeMonitorGracePeriod, "node-monitor-grace-period")
        return configuration
    }

    func timing() throws -> LeaderElection.Timing {
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
        let enabled = try ControllerManager.select([controllers])
        guard !disableScheduler || !enabled.isEmpty else { return nil }
        guard concurrentSyncs > 0 else { throw ValidationError("--concurrent-syncs must be positive") }
        let caPEM: String
        do {
            caPEM = try String(contentsOfFile: caDirectory + "/ca.crt", encoding: .utf8)
        } catch {
            throw CommandFailure("cannot read the cluster CA in \(caDirectory): \(error.localizedDescription)")
        }
        let api = try APIClient(access: ClusterAccess(servers: [.init(host: "127.0.0.1", port: apiPort)], token: token, caPEM: caPEM))
        let identity = self.identity ?? memberName
        let timing = try timing()
        let scheduler = disableScheduler ? nil : try PodScheduler(api: api)
        let schedulerElector = try LeaderElector(api: api, name: "kube-scheduler", identity: identity, timing: timing,
                                                 logger: Logger(label: "podium.scheduler"))
        let nodeLifecycle = try nodeLifecycle()
        let manager = enabled.isEmpty ? nil : try ControllerManager(api: api, enabled: [controllers], workers: concurrentSyncs,
                                                                    nodeLifecycle: nodeLifecycle)
        let managerElector = try LeaderElector(api: api, name: "kube-controller-manager", identity: identity, timing: timing,
                                               logger: Logger(label: "podium.controllers"))
        return Task {
            await withDiscardingTaskGroup { group in
                if let scheduler {
                    group.addTask { await scheduler.runInformers() }
                    group.addTask {
                        await schedulerElector.run {
                            await scheduler.schedule(isLeading: { schedulerElector.isLeading })
                        }
                    }
                }
                if let manager {
                    group.addTask { await manager.runInformers() }
                    group.addTask { await managerElector.run { await manager.lead(isLeading: { managerElector.isLeading }) } }
                }
            }
            api.shutdown()
        }
    }
}
