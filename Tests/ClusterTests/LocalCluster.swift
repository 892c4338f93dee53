import Foundation
import Synchronization
import Testing
import TestSupport

/// Real `podium store` processes on 127.0.0.1 with free ports, driven by the real `etcdctl`. Everything it
/// starts is killed when it goes away.
final class LocalCluster {
    struct Member {
        var name: String
        var clientPort: Int
        var peerPort: Int
        var dataDirectory: String
        var logPath: String
        var process: Process?
        var endpoint: String { "127.0.0.1:\(clientPort)" }
    }

    struct CommandResult {
        var status: Int32
        var output: String
        var error: String
    }

    let directory = TemporaryDirectory()
    private(set) var members: [Member] = []
    let token: String

    init(size: Int, token: String = "test-cluster") throws {
        self.token = token
        for index in 0..<size {
            let name = "m\(index + 1)"
            members.append(Member(name: name, clientPort: try Self.freePort(), peerPort: try Self.freePort(),
                                  dataDirectory: directory.child(name), logPath: directory.child("\(name).log")))
        }
    }

    deinit {
        for member in members where member.process?.isRunning == true {
            kill(member.process!.processIdentifier, SIGKILL)
            member.process!.waitUntilExit()
        }
    }

    var initialCluster: String {
        members.map { "\($0.name)=http://127.0.0.1:\($0.peerPort)" }.joined(separator: ",")
    }

    var endpoints: String { members.map(\.endpoint).joined(separator: ",") }

    func member(_ name: String) -> Member {
        // Safe to force: tests only name members they created.
        members.first { $0.name == name }!
    }

    /// Adds a member to this harness (not to the cluster: that is `etcdctl member add`), with free ports.
    @discardableResult
    func addMember(_ name: String) throws -> Member {
        let member = Member(name: name, clientPort: try Self.freePort(), peerPort: try Self.freePort(),
                            dataDirectory: directory.child(name), logPath: directory.child("\(name).log"))
        members.append(member)
        return member
    }

    // MARK: processes

    static var podiumPath: String {
        // The test bundle and the podium executable are built into the same products directory.
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while !directory.path.hasSuffix("debug") && !directory.path.hasSuffix("release") && directory.path != "/" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("podium").path
    }

    func startAll() throws {
        for member in members { try start(member.name) }
    }

    func start(_ name: String, extraArguments: [String] = []) throws {
        guard let index = members.firstIndex(where: { $0.name == name }) else { return }
        let member = members[index]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.podiumPath)
        process.arguments = [
            "store", "--name", member.name, "--data-dir", member.dataDirectory,
            "--listen-client-urls", "http://\(member.endpoint)",
            "--listen-peer-urls", "http://127.0.0.1:\(member.peerPort)",
            "--initial-cluster", initialCluster, "--initial-cluster-token", token,
        ] + extraArguments
        if !FileManager.default.fileExists(atPath: member.logPath) {
            _ = FileManager.default.createFile(atPath: member.logPath, contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: member.logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        members[index].process = process
    }

    /// Runs `podium ARGUMENTS` to completion (bounded by `timeout` seconds).
    func podium(_ arguments: [String], timeout: Double = 120) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.podiumPath)
        process.arguments = arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let deadline = Date().addingTimeInterval(TestTime.seconds(timeout))
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus,
                             output: String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                             error: String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    /// Makes every member's data directory from a snapshot file, as `podium snapshot restore` does for a new
    /// cluster (each member restores the same file).
    func restoreAll(from file: String) throws {
        for member in members {
            let result = try podium(["snapshot", "restore", file, "--name", member.name, "--data-dir", member.dataDirectory,
                                     "--initial-cluster", initialCluster, "--initial-cluster-token", token,
                                     "--initial-advertise-peer-urls", "http://127.0.0.1:\(member.peerPort)"])
            guard result.status == 0 else { throw ClusterTestError("restore for \(member.name) failed: \(result.error)") }
        }
    }

    /// Waits (up to `timeout` seconds, scaled) for a member's process to exit by itself; returns whether it did.
    func waitForExit(_ name: String, timeout: Double = 30) -> Bool {
        guard let index = members.firstIndex(where: { $0.name == name }), let process = members[index].process else {
            return true
        }
        let deadline = Date().addingTimeInterval(TestTime.seconds(timeout))
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        guard !process.isRunning else { return false }
        members[index].process = nil
        return true
    }

    /// SIGKILL: the member gets no chance to clean up.
    func kill9(_ name: String) {
        guard let index = members.firstIndex(where: { $0.name == name }), let process = members[index].process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        members[index].process = nil
    }

    func log(_ name: String) -> String {
        (try? String(contentsOfFile: member(name).logPath, encoding: .utf8)) ?? ""
    }

    // MARK: etcdctl

    /// Runs etcdctl (API v3) against `endpoints` (default: every member), bounded by `timeout` seconds.
    @discardableResult
    func etcdctl(_ arguments: [String], endpoints: String? = nil, input: String? = nil, timeout: Double = 60) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/etcdctl")
        process.arguments = ["--endpoints", endpoints ?? self.endpoints,
                             "--command-timeout", "\(Int(TestTime.seconds(10)))s"] + arguments
        process.environment = ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"]
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        // Read both pipes fully (a full pipe would block etcdctl), then wait within the deadline.
        let collected = Collected()
        let group = DispatchGroup()
        for (pipe, isError) in [(output, false), (error, true)] {
            group.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                collected.set(data, isError: isError)
                group.leave()
            }
        }
        if group.wait(timeout: .now() + TestTime.seconds(timeout)) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            group.wait()
        }
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, output: collected.output, error: collected.error)
    }

    /// etcdctl that must succeed; returns its standard output.
    @discardableResult
    func ctl(_ arguments: String..., endpoints: String? = nil, input: String? = nil,
             sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try etcdctl(arguments, endpoints: endpoints, input: input)
        #expect(result.status == 0, "etcdctl \(arguments.joined(separator: " ")) failed: \(result.error)",
                sourceLocation: sourceLocation)
        return result.output
    }

    /// Waits until every running member reports the same leader; returns the leader's name.
    func waitForLeader(timeout: Double = 60) throws -> String {
        let deadline = Date().addingTimeInterval(TestTime.seconds(timeout))
        while Date() < deadline {
            let running = members.filter { $0.process != nil }
            var leaders: Set<String> = []
            var answered = 0
            for member in running {
                let result = try etcdctl(["endpoint", "status", "-w", "json"], endpoints: member.endpoint, timeout: 10)
                guard result.status == 0, let status = Self.statusFields(result.output) else { continue }
                answered += 1
                if status.leader != 0, let name = idToName(status.leader, asSeenBy: member) { leaders.insert(name) }
            }
            if answered == running.count, leaders.count == 1, let leader = leaders.first { return leader }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw ClusterTestError("no leader within \(timeout) s; logs:\n" + members.map { "\($0.name): \(log($0.name).suffix(2000))" }.joined(separator: "\n"))
    }

    /// A member's ID as the cluster knows it.
    func memberID(_ name: String) throws -> UInt64 {
        let result = try etcdctl(["endpoint", "status", "-w", "json"], endpoints: member(name).endpoint, timeout: 10)
        guard let status = Self.statusFields(result.output) else { throw ClusterTestError("no status from \(name)") }
        return status.memberID
    }

    private var idCache: [UInt64: String] = [:]

    private func idToName(_ id: UInt64, asSeenBy member: Member) -> String? {
        if let name = idCache[id] { return name }
        for candidate in members where candidate.process != nil {
            if let status = try? etcdctl(["endpoint", "status", "-w", "json"], endpoints: candidate.endpoint, timeout: 10),
               let fields = Self.statusFields(status.output) {
                idCache[fields.memberID] = candidate.name
            }
        }
        return idCache[id]
    }

    static func statusFields(_ json: String) -> (memberID: UInt64, leader: UInt64, raftIndex: UInt64, revision: Int64)? {
        guard let data = json.data(using: .utf8),
              let array = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]],
              let status = array.first?["Status"] as? [String: Any],
              let header = status["header"] as? [String: Any] else { return nil }
        func number(_ value: Any?) -> UInt64 { (value as? NSNumber)?.uint64Value ?? 0 }
        return (number(header["member_id"]), number(status["leader"]), number(status["raftIndex"]),
                Int64(number(header["revision"])))
    }

    private static let portsHandedOut = Mutex<Set<Int>>([])

    /// Whether 127.0.0.1:`port` can be bound now.
    static func isFree(_ port: Int) -> Bool {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { return false }
        defer { close(socketFD) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A free port below the kernel's ephemeral range (32768 and up here): a port picked there and released
    /// can be taken as the local port of any outgoing connection before our member binds it, and the suites
    /// that kill and restart members make many. Never the same port twice in a test process: a member's ID
    /// comes from its peer URL, and a new member at a removed one's port would have its (refused) ID.
    static func freePort() throws -> Int {
        for _ in 0..<1000 {
            let port = Int.random(in: 10_000..<32_000)
            guard isFree(port) else { continue }
            let fresh = portsHandedOut.withLock { $0.insert(port).inserted }
            if fresh { return port }
        }
        throw ClusterTestError("no free port found below 32000")
    }
}

private final class Collected: @unchecked Sendable {
    // @unchecked Sendable: guarded by `lock`.
    private let lock = NSLock()
    private var outputData = Data()
    private var errorData = Data()

    func set(_ data: Data, isError: Bool) {
        lock.lock()
        defer { lock.unlock() }
        if isError { errorData = data } else { outputData = data }
    }

    var output: String { lock.lock(); defer { lock.unlock() }; return String(decoding: outputData, as: UTF8.self) }
    var error: String { lock.lock(); defer { lock.unlock() }; return String(decoding: errorData, as: UTF8.self) }
}

struct ClusterTestError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
