import ArgumentParser
import ClusterClient
import HollowNode
import Logging

/// `podium hollow-nodes`: simulated nodes against any cluster of a kubeconfig, for scheduler and controller
/// tests and benchmarks (kubemark's idea): they register, renew their Leases, and report bound pods Running.
struct HollowNodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hollow-nodes",
        abstract: "Run simulated nodes: register Nodes, renew their Leases, report pods bound to them Running (nothing runs).")

    @Option(help: "How many nodes.")
    var count = 10

    @Option(help: "The kubeconfig to reach the cluster with (default: $KUBECONFIG).")
    var kubeconfig: String?

    @Option(name: .customLong("name-prefix"), help: "Node names are this prefix and a number.")
    var namePrefix = "hollow-node-"

    @Option(help: "Each node's CPU capacity.")
    var cpu = "4"

    @Option(help: "Each node's memory capacity.")
    var memory = "32Gi"

    @Option(help: "Each node's pod capacity.")
    var pods = 110

    @Option(name: .customLong("lease-renew-interval"), help: "Seconds between renewals of each node's Lease.")
    var leaseRenewInterval = 2.0

    @Option(name: .customLong("run-seconds"), help: "Seconds a pod meant to exit (restartPolicy Never/OnFailure) runs before it Succeeds.")
    var runSeconds = 1.0

    @Option(name: .customLong("label"), help: "A label for every node, key=value (repeatable).")
    var labels: [String] = []

    func run() async throws {
        LoggingSystem.bootstrap { LogLineHandler(label: $0) }
        guard let path = kubeconfig ?? ClusterAccess.defaultKubeconfig() else {
            throw ValidationError("give --kubeconfig or set $KUBECONFIG")
        }
        let api = try APIClient(access: try ClusterAccess(kubeconfig: path))
        var options = HollowNodeFleet.Options()
        options.count = count
        options.namePrefix = namePrefix
        options.cpu = cpu
        options.memory = memory
        options.pods = pods
        options.leaseRenewInterval = leaseRenewInterval
        options.runSeconds = runSeconds
        for label in labels {
            let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--label \(label) is not key=value") }
            options.labels[parts[0]] = parts[1]
        }
        let fleet = try HollowNodeFleet(api: api, options: options)
        let running = Task { try await fleet.run() }
        _ = await StoreCommand.waitForTermination()
        running.cancel()
        _ = try? await running.value
        api.shutdown()
    }
}
