import Foundation

/// A local cluster of `podium store` processes on 127.0.0.1 whose data, logs and pid files live under one
/// folder; `cluster.json` there records its shape so every subcommand finds it from `--data-dir`.
struct LocalCluster: Codable {
    struct Member: Codable {
        var name: String
        var clientPort: Int
        var peerPort: Int

        var clientURL: String { "http://127.0.0.1:\(clientPort)" }
        var peerURL: String { "http://127.0.0.1:\(peerPort)" }
        var endpoint: String { "127.0.0.1:\(clientPort)" }
    }

    var members: [Member]
    var token: String

    /// Member i listens for clients on basePort + 2i and for peers on basePort + 2i + 1 (2379/2380 first, as
    /// etcd does).
    init(masters: Int, basePort: Int, token: String) {
        members = (0..<masters).map { index in
            Member(name: "master\(index + 1)", clientPort: basePort + 2 * index, peerPort: basePort + 2 * index + 1)
        }
        self.token = token
    }

    var initialCluster: String { members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",") }
    var endpoints: String { members.map(\.endpoint).joined(separator: ",") }

    static func layoutPath(_ directory: String) -> String { directory + "/cluster.json" }

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

    // MARK: processes

    static func pidPath(_ directory: String, _ name: String) -> String { "\(directory)/\(name).pid" }

    /// The member's process ID if it runs.
    static func runningPID(_ directory: String, _ name: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: pidPath(directory, name), encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
              kill(pid, 0) == 0 else { return nil }
        // A recycled pid could belong to anything: only a podium process counts.
        let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        return command.contains("podium") && command.contains("store") ? pid : nil
    }

    /// Starts one member in its own session (it outlives this command and ignores the terminal's Ctrl-C),
    /// appending its output to `NAME.log`.
    func start(_ member: Member, in directory: String) throws -> pid_t {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let arguments = [
            executable, "store", "--name", member.name, "--data-dir", "\(directory)/\(member.name)",
            "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
            "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.peerURL,
            "--initial-cluster", initialCluster, "--initial-cluster-token", token,
        ]
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
        try "\(pid)\n".write(toFile: Self.pidPath(directory, member.name), atomically: true, encoding: .utf8)
        return pid
    }

    /// Sends `signal` and waits up to `timeout` seconds for the member to exit (then SIGKILL).
    static func stop(_ name: String, in directory: String, signal: Int32, timeout: Double = 10) {
        guard let pid = runningPID(directory, name) else { return }
        kill(pid, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while kill(pid, 0) == 0, Date() < deadline {
            // Reap it if it is our child; otherwise just wait for it to go.
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { break }
            usleep(20_000)
        }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: pidPath(directory, name))
    }
}
