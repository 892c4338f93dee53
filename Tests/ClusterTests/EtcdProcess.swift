import Foundation
import TestSupport

/// A one-member etcd (Debian's etcd-server, which the test command installs) on free ports of 127.0.0.1, to hold
/// Podium to etcd's behaviour; killed when it goes away.
final class EtcdProcess {
    static let path = "/usr/bin/etcd"
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: path) }

    let process = Process()
    let endpoint: String
    let logPath: String

    init(in directory: TemporaryDirectory) throws {
        let (clientPort, peerPort) = (try LocalCluster.freePort(), try LocalCluster.freePort())
        endpoint = "127.0.0.1:\(clientPort)"
        logPath = directory.child("etcd.log")
        process.executableURL = URL(fileURLWithPath: Self.path)
        process.arguments = [
            "--name", "e1", "--data-dir", directory.child("etcd"),
            "--listen-client-urls", "http://\(endpoint)", "--advertise-client-urls", "http://\(endpoint)",
            "--listen-peer-urls", "http://127.0.0.1:\(peerPort)", "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPort)",
            "--initial-cluster", "e1=http://127.0.0.1:\(peerPort)",
        ]
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// The end of etcd's log, for a failure's message.
    var logTail: String { String(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(2000)) }
}
