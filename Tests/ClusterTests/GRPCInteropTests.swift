import Foundation
import Testing

extension ProcessClusterTests {
    /// Python's grpcio (gRPC's C core) against a member: unary and streaming calls, etcd's errors, deadlines,
    /// cancellation, large messages and flow control, many streams on one connection (Tests/Interop/grpc_interop.py).
    @Suite struct GRPCInteropTests {
        /// The folder of the Python checks (Tests/Interop).
        static var interopDirectory: URL {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Interop")
        }

        /// Runs one of the Python checks against an etcd v3 endpoint; returns its exit status and output.
        static func runScript(_ name: String, against endpoint: String) throws -> (status: Int32, output: String) {
            let script = interopDirectory.appendingPathComponent(name).path
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [script, endpoint]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }

        /// What a client that half-closes gets from LeaseKeepAlive, Watch and Snapshot: the same checks against a
        /// Podium member and against etcd itself (Debian's etcd-server, which the test command installs), so
        /// that Podium is held to etcd's behaviour rather than to our reading of it.
        @Test func streamsBehaveAsEtcdsOnHalfClose() throws {
            let cluster = try LocalCluster(size: 1)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            let podium = try Self.runScript("stream_semantics.py", against: cluster.members[0].endpoint)
            #expect(podium.status == 0 && podium.output.hasSuffix("ALL OK\n"), "podium: \(podium.output)")

            guard EtcdProcess.isInstalled else {
                Issue.record("etcd is not installed at \(EtcdProcess.path): the same checks could not run against it")
                return
            }
            let etcd = try EtcdProcess(in: cluster.directory)
            let reference = try Self.runScript("stream_semantics.py", against: etcd.endpoint)
            #expect(reference.status == 0 && reference.output.hasSuffix("ALL OK\n"),
                    "etcd: \(reference.output)\netcd's log ends: \(etcd.logTail)")
        }

        @Test func pythonGRPCClientAgainstAFollower() throws {
            let cluster = try LocalCluster(size: 3)
            for member in cluster.members {
                try cluster.start(member.name, extraArguments: ["--experimental-watch-progress-notify-interval", "300ms"])
            }
            let leader = try cluster.waitForLeader()
            let follower = cluster.members.first { $0.name != leader }!   // three members, one leader
            let (status, text) = try Self.runScript("grpc_interop.py", against: follower.endpoint)
            #expect(status == 0, "\(text)")
            #expect(text.hasSuffix("ALL OK\n"), "\(text)")
        }
    }
}
