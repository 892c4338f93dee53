import Foundation
import Testing

extension ProcessClusterTests {
    /// Python's grpcio (gRPC's C core) against a member: unary and streaming calls, etcd's errors, deadlines,
    /// cancellation, large messages and flow control, many streams on one connection (Tests/Interop/grpc_interop.py).
    @Suite struct GRPCInteropTests {
        static var scriptPath: String {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Interop/grpc_interop.py").path
        }

        @Test func pythonGRPCClientAgainstAFollower() throws {
            let cluster = try LocalCluster(size: 3)
            for member in cluster.members {
                try cluster.start(member.name, extraArguments: ["--experimental-watch-progress-notify-interval", "300ms"])
            }
            let leader = try cluster.waitForLeader()
            let follower = cluster.members.first { $0.name != leader }!   // three members, one leader
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [Self.scriptPath, follower.endpoint]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self)
            #expect(process.terminationStatus == 0, "\(text)")
            #expect(text.hasSuffix("ALL OK\n"), "\(text)")
        }
    }
}
