import Foundation
import TestSupport

/// A `podium apiserver` process on a free port of 127.0.0.1 against given store endpoints, with a kubeconfig and
/// a kubectl of its own (its cache in a temporary home, so runs never share discovery caches); killed when it
/// goes away.
final class APIServerProcess {
    static let kubectlPath = "/usr/bin/kubectl"
    static var kubectlIsInstalled: Bool { FileManager.default.isExecutableFile(atPath: kubectlPath) }

    let process = Process()
    let port: Int
    let directory: TemporaryDirectory
    let logPath: String
    var kubeconfig: String { directory.child("kubeconfig") }
    var url: String { "https://127.0.0.1:\(port)" }
    let token = "test-admin-token"
    /// The cluster CA's directory (its own by default; another server's to share that server's CA).
    let caDirectory: String

    init(etcdServers: [String], in directory: TemporaryDirectory, port: Int? = nil, caDirectory: String? = nil,
         extraArguments: [String] = []) throws {
        self.directory = directory
        if let port { self.port = port } else { self.port = try LocalCluster.freePort() }
        self.caDirectory = caDirectory ?? directory.child("pki")
        logPath = directory.child("apiserver.log")
        process.executableURL = URL(fileURLWithPath: LocalCluster.podiumPath)
        process.arguments = ["apiserver", "--etcd-servers", etcdServers.map { "http://\($0)" }.joined(separator: ","),
                             "--secure-port", String(self.port), "--token", token, "--ca-dir", self.caDirectory,
                             "--cert-dir", directory.child("pki")] + extraArguments
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try FileManager.default.createDirectory(atPath: directory.child("home"), withIntermediateDirectories: true)
    }

    /// The kubeconfig kubectl uses: the server's URL, the cluster CA to verify it by, and the admin token.
    func writeKubeconfig() throws {
        let ca = try String(contentsOfFile: caDirectory + "/ca.crt", encoding: .utf8)
        let config = """
        apiVersion: v1
        kind: Config
        clusters:
        - cluster: {server: "\(url)", certificate-authority-data: "\(Data(ca.utf8).base64EncodedString())"}
          name: test
        contexts:
        - context: {cluster: test, user: test}
          name: test
        current-context: test
        users:
        - name: test
          user: {token: "\(token)"}
        """
        try config.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    var logTail: String { String(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(3000)) }

    struct Result {
        var status: Int32
        var output: String
        var error: String
        var all: String { output + error }
    }

    /// Runs kubectl with this server's kubeconfig, bounded by `timeout` seconds (scaled for slow machines).
    @discardableResult
    func kubectl(_ arguments: [String], input: String? = nil, timeout: Double = 60) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.kubectlPath)
        process.arguments = arguments
        process.environment = ["KUBECONFIG": kubeconfig, "HOME": directory.child("home"), "PATH": "/usr/bin:/bin"]
        let output = Pipe(), error = Pipe(), stdin = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let collected = PipeCollector(output, error, timeout: TestTime.seconds(timeout)) {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: collected.output, error: collected.error)
    }

    func kubectl(_ arguments: String..., input: String? = nil) throws -> Result {
        try kubectl(arguments, input: input)
    }

    /// Waits until the server answers /readyz (the store reachable), up to `timeout` seconds.
    func waitUntilReady(timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(TestTime.seconds(timeout))
        while !FileManager.default.fileExists(atPath: caDirectory + "/ca.crt"), Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        try writeKubeconfig()
        while Date() < deadline {
            if let result = try? kubectl(["get", "--raw", "/readyz"], timeout: 10), result.status == 0,
               (try? kubectl(["get", "namespace", "default"], timeout: 10))?.status == 0 {
                return
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw ClusterTestError("the API server did not become ready: \(logTail)")
    }
}

/// Reads two pipes to their ends (a full pipe would block the writer), giving up after `timeout` seconds.
final class PipeCollector: @unchecked Sendable {
    // @unchecked Sendable: the fields are written by the reading threads and read after `group.wait()`.
    private(set) var output = ""
    private(set) var error = ""
    private let lock = NSLock()

    init(_ outputPipe: Pipe, _ errorPipe: Pipe, timeout: Double, onTimeout: () -> Void) {
        let group = DispatchGroup()
        for (pipe, isError) in [(outputPipe, false), (errorPipe, true)] {
            group.enter()
            DispatchQueue.global().async {
                let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                self.lock.lock()
                if isError { self.error = text } else { self.output = text }
                self.lock.unlock()
                group.leave()
            }
        }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            onTimeout()
            group.wait()
        }
    }
}
