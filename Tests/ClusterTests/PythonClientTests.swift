import Foundation
import Testing
import TestSupport

extension ProcessClusterTests {
    /// An independent client: the official Python `kubernetes` client (PyPI, in .build/python-kubernetes, which
    /// tools/test installs) runs Tests/Interop/kubernetes_client.py against `podium apiserver`.
    @Suite struct PythonClientTests {
        static var packageRoot: URL {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        }

        /// Runs an Interop script with the Python client against a fresh one-member store and API server.
        static func runScript(_ script: String, _ arguments: [String] = [], serverArguments: [String] = []) throws -> (status: Int32, output: String, log: String)? {
            let python = packageRoot.appendingPathComponent(".build/python-kubernetes/bin/python").path
            guard FileManager.default.isExecutableFile(atPath: python) else {
                Issue.record("the Python kubernetes client is not installed at \(python) (tools/test installs it)")
                return nil
            }
            let cluster = try LocalCluster(size: 1)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            let server = try APIServerProcess(etcdServers: cluster.members.map(\.endpoint), in: cluster.directory,
                                              extraArguments: serverArguments)
            try server.waitUntilReady()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [packageRoot.appendingPathComponent("Tests/Interop/\(script)").path, server.kubeconfig] + arguments
            let output = Pipe(), error = Pipe()
            process.standardOutput = output
            process.standardError = error
            try process.run()
            let collected = PipeCollector(output, error, timeout: TestTime.seconds(180)) { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return (process.terminationStatus, collected.output + collected.error, server.logTail)
        }

        /// Fifty watchers through the watch cache, resumes, 410 past the cache's 50 changes, selector transitions.
        @Test func watchersShareTheCacheAndSeeEveryChangeInOrder() throws {
            guard let (status, output, log) = try Self.runScript("watch_fanout.py", ["50"],
                                                                 serverArguments: ["--default-watch-cache-size", "50"]) else { return }
            #expect(status == 0 && !output.contains("FAIL"), "\(output)\n\(log)")
            #expect(output.contains("ok 50 watchers each saw every change once, in order"), "\(output)")
        }

        @Test func thePythonClientCreatesListsWatchesPatchesAndDeletes() throws {
            guard let (status, output, log) = try Self.runScript("kubernetes_client.py") else { return }
            #expect(status == 0, "\(output)\n\(log)")
            #expect(output.contains("ok watch saw added, modified, deleted"), "\(output)")
            #expect(!output.contains("FAIL"), "\(output)")
        }
    }
}
