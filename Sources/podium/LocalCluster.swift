import Foundation
import Store

/// A local cluster of `podium store` processes on 127.0.0.1 whose data and logs live under one
/// folder; `cluster.json` there records its shape so every subcommand finds it from `--data-dir`.
struct LocalCluster: Codable {
    struct Member: Codable {
        var name: String
        var clientPort: Int
        var peerPort: Int
        /// Where the others reach this member's peer port when it is not `peerPort` itself: a proxy between them
        /// (`podium chaos` cuts links there).
        var advertisedPeerPort: Int?

        var clientURL: String { "http://127.0.0.1:\(clientPort)" }
        var peerURL: String { "http://127.0.0.1:\(peerPort)" }
        var advertisedPeerURL: String { "http://127.0.0.1:\(advertisedPeerPort ?? peerPort)" }
        var endpoint: String { "127.0.0.1:\(clientPort)" }
    }

    var members: [Member]
    var token: String
    /// The port every master's API server listens on (shared through SO_REUSEPORT); nil for a cluster made
    /// before masters ran API servers.
    var apiServerPort: Int?
    /// Flags every master is started with besides those `start` gives (`podium up --master-arg`), kept so a
    /// master restarted later runs as the others do.
    var masterArguments: [String]?

    /// Member i listens for clients on basePort + 2i and for peers on basePort + 2i + 1 (2379/2380 first, as
    /// etcd does).
    init(masters: Int, basePort: Int, token: String) {
        members = (0..<masters).map { index in
            Member(name: "master\(index + 1)", clientPort: basePort + 2 * index, peerPort: basePort + 2 * index + 1)
        }
        self.token = token
    }

    var initialCluster: String { members.map { "\($0.name)=\($0.advertisedPeerURL)" }.joined(separator: ",") }
    var endpoints: String { members.map(\.endpoint).joined(separator: ",") }

    static func layoutPath(_ directory: String) -> String { directory + "/cluster.json" }
    static func tokenPath(_ directory: String) -> String { directory + "/admin.token" }
    static func pkiPath(_ directory: String) -> String { directory + "/pki" }
    static func kubeconfigPath(_ directory: String) -> String { directory + "/kubeconfig" }

    static func load(from directory: String) throws -> LocalCluster? {
        let path = layoutPath(directory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(LocalCluster.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw CommandFailure("cannot read \(path): \(error)")
        }
    }

    static func require(in directory: String) throws -> LocalCluster {
        guard let cluster = try load(from: directory) else {
            throw CommandFailure("no cluster in \(directory) (start one with `podium up --data-dir \(directory)`)")
        }
        return cluster
    }

    func save(in directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: Self.layoutPath(directory)))
    }

    func member(_ name: String) throws -> Member {
        guard let member = members.first(where: { $0.name == name }) else {
            throw CommandFailure("no member \(name); members: \(members.map(\.name).joined(separator: ", "))")
        }
        return member
    }

    // MARK: identity

    /// The ID the member derives for itself from its peer URL and the cluster token.
    func memberID(_ member: Member) -> UInt64 { ClusterIdentity.memberID(peerURLs: [member.advertisedPeerURL], token: token) }

    /// The cluster's ID: a process answering on a member's port that reports another cluster ID is not ours
    /// (another cluster may have taken the port while our member was down).
    var clusterID: UInt64 { ClusterIdentity.clusterID(memberIDs: members.map(memberID), token: token) }

    // MARK: processes

    /// The member's running process, found by its command line: `podium store` with the member's data
    /// directory. The process table is the only truth here; a pid file can outlive its process (or be recycled
    /// by another) and a port can be taken by someone else.
    static func runningPID(_ directory: String, _ name: String) -> pid_t? {
        let wanted = URL(fileURLWithPath: "\(directory)/\(name)").standardizedFileURL.path
        let ours = getpid()
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), pid != ours, let arguments = commandLine(of: pid),
                  arguments.count > 1, arguments[0].hasSuffix("podium"), arguments[1] == "store" || arguments[1] == "master",
                  let flag = arguments.firstIndex(of: "--data-dir"), flag + 1 < arguments.count else { continue }
            var path = arguments[flag + 1]
            if !path.hasPrefix("/") {
                guard let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd") else { continue }
                path = cwd + "/" + path
            }
            if URL(fileURLWithPath: path).standardizedFileURL.path == wanted { return pid }
        }
        return nil
    }

    /// A process's arguments; nil when it is gone or a zombie (whose command line is empty).
    private static func commandLine(of pid: pid_t) -> [String]? {
        let descriptor = open("/proc/\(pid)/cmdline", O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        guard !bytes.isEmpty else { return nil }
        return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether the process still runs: a zombie (dead, not yet reaped by whoever inherited it) does not.
    /// Whether any thread of `pid` is alive. The process's own state is not enough: a leader thread that has
    /// finished shows as a zombie while the other threads still run — and still hold the member's files (its
    /// RocksDB lock), so a member started again at once could not open its data.
    private static func isRunning(_ pid: pid_t) -> Bool {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.contains { task in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let state = stat[stat.index(after: close)...].drop(while: { $0 == " " }).first
            return state != nil && state != "Z" && state != "X"
        }
    }

    /// Whether nothing listens on (or holds) `port` on 127.0.0.1. Probed as the servers bind (SO_REUSEADDR), so
    /// connections of a cluster just stopped, still in TIME_WAIT, do not count as a holder.
    static func isFree(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Starts one member in its own session (it outlives this command and ignores the terminal's Ctrl-C),
    /// appending its output to `NAME.log`.
    func start(_ member: Member, in directory: String) throws -> pid_t {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var arguments = [
            executable, apiServerPort == nil ? "store" : "master", "--name", member.name, "--data-dir", "\(directory)/\(member.name)",
            "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
            "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.advertisedPeerURL,
            "--initial-cluster", initialCluster, "--initial-cluster-token", token,
        ]
        if let apiServerPort {
            // Its own member first, then the others: the API server fails over between them.
            let endpoints = [member.clientURL] + members.filter { $0.name != member.name }.map(\.clientURL)
            arguments += [
                "--apiserver-port", String(apiServerPort), "--reuse-port", "--etcd-servers", endpoints.joined(separator: ","),
                "--token-auth-file", Self.tokenPath(directory), "--ca-dir", Self.pkiPath(directory),
                "--cert-dir", "\(directory)/\(member.name)/pki",
            ] + (masterArguments ?? [])
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let log = "\(directory)/\(member.name).log"
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else we hold open (the pipes of whoever ran us, above all) may outlive us in the member:
        // `podium up | tee` must end when `podium up` does.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            if let fd = Int32(entry), fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID from glibc's spawn.h, which Swift does not import.
        let setSessionID: Int16 = 0x80
        posix_spawnattr_setflags(&attributes, setSessionID)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, &argv, environ)
        guard result == 0 else { throw CommandFailure("cannot start \(member.name): \(String(cString: strerror(result)))") }
        return pid
    }

    /// Sends `signal` and waits up to `timeout` seconds for the member to exit (then SIGKILL).
    static func stop(_ name: String, in directory: String, signal: Int32, timeout: Double = 10) {
        guard let pid = runningPID(directory, name) else { return }
        kill(pid, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning(pid), Date() < deadline {
            // Reap it if it is our child; otherwise just wait for it to go.
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(20_000)
        }
        if isRunning(pid) {
            kill(pid, SIGKILL)
            while isRunning(pid), Date() < deadline + 5 { usleep(20_000) }
        }
    }
}
