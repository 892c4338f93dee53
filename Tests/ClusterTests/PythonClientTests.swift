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

        @Test func thePythonClientCreatesListsWatchesPatchesAndDeletes() throws {
            let python = Self.packageRoot.appendingPathComponent(".build/python-kubernetes/bin/python").path
            guard FileManager.default.isExecutableFile(atPath: python) else {
                Issue.record("the Python kubernetes client is not installed at \(python) (tools/test installs it)")
                return
            }
            let cluster = try LocalCluster(size: 1)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            let server = try APIServerProcess(etcdServers: cluster.members.map(\.endpoint), in: cluster.directory)
            try server.waitUntilReady()

            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [Self.packageRoot.appendingPathComponent("Tests/Interop/kubernetes_client.py").path, server.kubeconfig]
            let output = Pipe(), error = Pipe()
            process.standardOutput = output
            process.standardError = error
            try process.run()
            let collected = PipeCollector(output, error, timeout: TestTime.seconds(120)) { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(collected.output)\(collected.error)\n\(server.logTail)")
            #expect(collected.output.contains("ok watch saw added, modified, deleted"), "\(collected.output)")
            #expect(!collected.output.contains("FAIL"), "\(collected.output)")
        }
    }
}
