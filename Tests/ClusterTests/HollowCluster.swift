import ClusterClient
import Foundation
import Resources
import TestSupport

/// A `podium up` cluster (3 masters) with fleets of hollow nodes, for the control-plane tests: `init` starts it,
/// `stop` kills the fleets and takes the cluster down (call it in a `defer`).
final class HollowCluster {
    let tools: LocalCluster
    let dataDirectory: String
    let kubeconfig: String
    let api: APIClient
    private var fleets: [Process] = []

    /// `masterArguments` go to every master (`podium up --master-arg`).
    init(masterArguments: [String] = []) throws {
        tools = try LocalCluster(size: 0)
        dataDirectory = tools.directory.child("cluster")
        kubeconfig = dataDirectory + "/kubeconfig"
        let base = try ProcessClusterTests.UpCommandTests.freeBasePort()
        let up = try tools.podium(["up", "--data-dir", dataDirectory, "--base-port", "\(base)", "--apiserver-port", "\(base + 6)"]
                                 + masterArguments.map { "--master-arg=\($0)" })
        guard up.status == 0 else {
            _ = try? tools.podium(["down", "--data-dir", dataDirectory])
            throw ClusterTestError("podium up failed: \(up.error)")
        }
        api = try APIClient(access: ClusterAccess(kubeconfig: kubeconfig))
    }

    /// Starts `podium hollow-nodes` with `count` nodes (and `arguments`), logging to hollow-N.log.
    @discardableResult
    func startHollowNodes(_ count: Int, _ arguments: [String] = []) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: LocalCluster.podiumPath)
        process.arguments = ["hollow-nodes", "--count", "\(count)", "--kubeconfig", kubeconfig] + arguments
        let log = tools.directory.child("hollow-\(fleets.count).log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
        fleets.append(process)
        return process
    }

    /// kubectl against the cluster; `manifest` is passed as a file (`-f`).
    func kubectl(_ arguments: [String], manifest: String? = nil) throws -> LocalCluster.CommandResult {
        var arguments = arguments
        if let manifest {
            let file = tools.directory.child("manifest-\(UUID().uuidString).yaml")
            try manifest.write(toFile: file, atomically: true, encoding: .utf8)
            arguments += ["-f", file]
        }
        return try ProcessClusterTests.UpCommandTests.kubectl(arguments, kubeconfig: kubeconfig, home: tools.directory.child("home"))
    }

    func resource(_ group: String, _ plural: String) throws -> ResourceClient {
        guard let type = ResourceType.find(group: group, version: "v1", plural: plural) else {
            throw ClusterTestError("no \(group)/v1 \(plural) in the catalogue")
        }
        return ResourceClient(api, type)
    }

    func stop() {
        for process in fleets where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        api.shutdown()
        _ = try? tools.podium(["down", "--data-dir", dataDirectory])
    }
}
