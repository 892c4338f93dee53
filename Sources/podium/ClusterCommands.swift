import ArgumentParser
import EtcdProto
import Foundation
import GRPC
import NIOCore
import NIOPosix
import SwiftProtobuf

/// Options shared by the commands that manage a local cluster.
struct ClusterLocation: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The folder holding the local cluster's data and logs.")
    var dataDirectory = ".podium"

    /// The folder as an absolute path: members are started with it and found again by it, whatever the
    /// working directory of the command that looks for them.
    var path: String { URL(fileURLWithPath: dataDirectory).standardizedFileURL.path }
}

/// What one member says about itself (Maintenance.Status), or nil when it does not answer, or when what
/// answers on its port is not this member of this cluster.
func probeStatus(_ member: LocalCluster.Member, of cluster: LocalCluster, group: EventLoopGroup,
                 linearizableRead: Bool = false) async -> Etcdserverpb_StatusResponse? {
    guard let channel = try? await GRPCChannel.connect(host: "127.0.0.1", port: member.clientPort, group: group,
                                                       timeout: .milliseconds(500)) else { return nil }
    let status = await probeStatus(member, of: cluster, on: channel, linearizableRead: linearizableRead)
    await channel.close()
    return status
}

private func probeStatus(_ member: LocalCluster.Member, of cluster: LocalCluster, on channel: GRPCChannel,
                         linearizableRead: Bool) async -> Etcdserverpb_StatusResponse? {
    let reply = try? await channel.unary("/etcdserverpb.Maintenance/Status",
                                         request: Etcdserverpb_StatusRequest().grpcMessage(), timeout: .seconds(2))
    guard let status = reply.flatMap({ try? Etcdserverpb_StatusResponse(grpcMessage: $0) }),
          status.header.clusterID == cluster.clusterID, status.header.memberID == cluster.memberID(member) else { return nil }
    if linearizableRead {
        // What `etcdctl endpoint health` asks: a linearizable read through this member (a read index from the
        // leader, then its own apply point): a member that knows the leader but cannot serve reads is not healthy.
        var read = Etcdserverpb_RangeRequest()
        read.key = Data("health".utf8)
        guard (try? await channel.unary("/etcdserverpb.KV/Range", request: read.grpcMessage(), timeout: .seconds(2))) != nil
        else { return nil }
    }
    return status
}

/// Waits until every member answers a status request and a linearizable read, and they agree on a leader;
/// returns the statuses by member name.
func awaitHealthy(_ cluster: LocalCluster, directory: String, timeout: Double) async throws -> [String: Etcdserverpb_StatusResponse] {
    let group = MultiThreadedEventLoopGroup.singleton
    let deadline = Date().addingTimeInterval(timeout)
    var statuses: [String: Etcdserverpb_StatusResponse] = [:]
    while Date() < deadline {
        statuses = [:]
        for member in cluster.members {
            if let status = await probeStatus(member, of: cluster, group: group, linearizableRead: true) {
                statuses[member.name] = status
            }
        }
        let leaders = Set(statuses.values.map(\.leader))
        if statuses.count == cluster.members.count, leaders.count == 1, leaders.first != 0 { return statuses }
        try await Task.sleep(for: .milliseconds(200))
    }
    let missing = cluster.members.map(\.name).filter { statuses[$0] == nil }
    throw CommandFailure("the cluster did not become healthy within \(Int(timeout)) s"
                         + (missing.isEmpty ? " (no agreed leader)" : "; not answering: \(missing.joined(separator: ", "))")
                         + "; see the logs in \(directory)/*.log")
}

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a local cluster of masters on 127.0.0.1 (data, logs and pid files under --data-dir).")

    @OptionGroup var location: ClusterLocation

    @Option(help: "How many masters: 3 or 5.")
    var masters = 3

    @Option(name: .customLong("base-port"), help: "The first master's client port; each master uses two ports from here.")
    var basePort = 2379

    @Option(help: "Seconds to wait for the cluster to become healthy.")
    var timeout = 60.0

    @Option(name: .customLong("apiserver-port"), help: "The port the masters' API servers share on 127.0.0.1 (HTTPS).")
    var apiServerPort = 6443

    @Option(name: .customLong("master-arg"), parsing: .unconditionalSingleValue,
            help: "A flag for every master (repeatable; e.g. --master-arg=--event-ttl=10m): kept with the cluster, for masters started later too.")
    var masterArguments: [String] = []

    func validate() throws {
        guard masters == 3 || masters == 5 else { throw ValidationError("--masters must be 3 or 5") }
        guard (1024...65000).contains(basePort) else { throw ValidationError("--base-port must be within 1024...65000") }
    }

    func run() async throws {
        let directory = location.path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var cluster: LocalCluster
        if let existing = try LocalCluster.load(from: directory) {
            guard existing.members.count == masters, existing.members.first?.clientPort == basePort else {
                throw CommandFailure("\(directory) holds a cluster of \(existing.members.count) masters from port "
                                     + "\(existing.members.first?.clientPort ?? 0); run `podium down --purge --data-dir \(directory)` "
                                     + "to replace it, or choose another --data-dir")
            }
            cluster = existing
            print("reusing the existing cluster data in \(directory)")
        } else {
            cluster = LocalCluster(masters: masters, basePort: basePort, token: "podium-\(UInt32.random(in: 0...UInt32.max))")
            print("creating a new cluster in \(directory)")
        }
        cluster.apiServerPort = cluster.apiServerPort ?? apiServerPort
        if !masterArguments.isEmpty { cluster.masterArguments = masterArguments }
        try cluster.save(in: directory)
        let credentials = try ClusterCredentials.loadOrCreate(in: directory)
        let running = Dictionary(uniqueKeysWithValues: cluster.members.compactMap { member in
            LocalCluster.runningPID(directory, member.name).map { (member.name, $0) }
        })
        // Checked for every member before starting any, so a refusal leaves nothing half-started.
        if running.isEmpty, let port = cluster.apiServerPort, !LocalCluster.isFree(port) {
            throw CommandFailure("port \(port) for the API servers is taken by another process; stop it, or use --apiserver-port")
        }
        for member in cluster.members where running[member.name] == nil {
            for port in [member.clientPort, member.peerPort] where !LocalCluster.isFree(port) {
                throw CommandFailure("port \(port) of \(member.name) is taken by another process; stop it, or "
                                     + "use another --base-port (after `podium down --purge --data-dir \(directory)`)")
            }
        }
        for member in cluster.members {
            if let pid = running[member.name] {
                print("\(member.name) already running (pid \(pid))")
            } else {
                let pid = try cluster.start(member, in: directory)
                print("started \(member.name) (pid \(pid)) client \(member.clientURL) peer \(member.peerURL)")
            }
        }
        let statuses = try await awaitHealthy(cluster, directory: directory, timeout: timeout)
        let leaderID = statuses.values.first?.leader ?? 0
        let leader = statuses.first { $0.value.header.memberID == leaderID }?.key ?? "?"
        let port = cluster.apiServerPort ?? apiServerPort
        try await credentials.awaitAPIServer(port: port, timeout: timeout, directory: directory)
        let kubeconfig = try credentials.writeKubeconfig(in: directory, port: port)
        print("""

            cluster healthy: \(cluster.members.count) masters, leader \(leader)
            store endpoints: \(cluster.endpoints)
            API server: https://127.0.0.1:\(port) (every master; the kernel spreads connections over the live ones)

            use it with kubectl:
              export KUBECONFIG=\(kubeconfig)
              kubectl get ns

            connect with etcdctl:
              ETCDCTL_API=3 etcdctl --endpoints=\(cluster.endpoints) endpoint status -w table
            manage it:
              podium status --data-dir \(directory)      podium kill|stop|start NAME --data-dir \(directory)
              podium down --data-dir \(directory)
            """)
    }
}

struct Down: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop every member of the local cluster.")

    @OptionGroup var location: ClusterLocation

    @Flag(help: "Also delete the cluster's data.")
    var purge = false

    func run() throws {
        let directory = location.path
        let cluster = try LocalCluster.require(in: directory)
        for member in cluster.members {
            if LocalCluster.runningPID(directory, member.name) != nil {
                LocalCluster.stop(member.name, in: directory, signal: SIGTERM)
                print("stopped \(member.name)")
            }
        }
        if purge {
            try FileManager.default.removeItem(atPath: directory)
            print("deleted \(directory)")
        } else {
            print("data kept in \(directory) (`podium up` reuses it; `podium down --purge` deletes it)")
        }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "SIGKILL one member (no chance to clean up).")

    @OptionGroup var location: ClusterLocation

    @Argument(help: "The member's name, e.g. master1.")
    var name: String

    func run() throws {
        let cluster = try LocalCluster.require(in: location.path)
        _ = try cluster.member(name)
        guard LocalCluster.runningPID(location.path, name) != nil else { throw CommandFailure("\(name) is not running") }
        LocalCluster.stop(name, in: location.path, signal: SIGKILL)
        print("killed \(name)")
    }
}

struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop one member gracefully (SIGTERM); a leader first hands leadership to another member.")

    @OptionGroup var location: ClusterLocation

    @Argument(help: "The member's name, e.g. master1.")
    var name: String

    func run() async throws {
        let directory = location.path
        let cluster = try LocalCluster.require(in: directory)
        let member = try cluster.member(name)
        guard LocalCluster.runningPID(directory, name) != nil else { throw CommandFailure("\(name) is not running") }
        let group = MultiThreadedEventLoopGroup.singleton
        if let status = await probeStatus(member, of: cluster, group: group), status.leader != 0, status.leader == status.header.memberID {
            try await handOverLeadership(from: member, cluster: cluster, group: group)
        }
        LocalCluster.stop(name, in: directory, signal: SIGTERM)
        print("stopped \(name)")
    }

    /// Moves leadership to the first other voting member that answers, so the cluster does not wait an election
    /// timeout for a new leader.
    private func handOverLeadership(from leader: LocalCluster.Member, cluster: LocalCluster,
                                    group: EventLoopGroup) async throws {
        for other in cluster.members where other.name != leader.name {
            guard let status = await probeStatus(other, of: cluster, group: group), !status.isLearner else { continue }
            var request = Etcdserverpb_MoveLeaderRequest()
            request.targetID = status.header.memberID
            let channel = try await GRPCChannel.connect(host: "127.0.0.1", port: leader.clientPort, group: group)
            defer { channel.closeSoon() }
            do {
                _ = try await channel.unary("/etcdserverpb.Maintenance/MoveLeader", request: try request.grpcMessage(),
                                            timeout: .seconds(10))
                print("moved leadership from \(leader.name) to \(other.name)")
                return
            } catch {
                print("could not move leadership to \(other.name): \(error)")
            }
        }
        print("no other member took leadership; stopping the leader without a handover")
    }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start one stopped member again; it catches up by log or snapshot.")

    @OptionGroup var location: ClusterLocation

    @Argument(help: "The member's name, e.g. master1.")
    var name: String

    func run() throws {
        let cluster = try LocalCluster.require(in: location.path)
        let member = try cluster.member(name)
        if let pid = LocalCluster.runningPID(location.path, name) {
            throw CommandFailure("\(name) is already running (pid \(pid))")
        }
        let pid = try cluster.start(member, in: location.path)
        print("started \(name) (pid \(pid))")
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show each member of the local cluster: leader, term, indexes, size.")

    @OptionGroup var location: ClusterLocation

    @Flag(help: "Print JSON (for scripts).")
    var json = false

    func run() async throws {
        let directory = location.path
        let cluster = try LocalCluster.require(in: directory)
        let group = MultiThreadedEventLoopGroup.singleton
        var rows: [[String: Any]] = []
        for member in cluster.members {
            var row: [String: Any] = ["name": member.name, "endpoint": member.endpoint,
                                      "pid": LocalCluster.runningPID(directory, member.name).map { Int($0) } ?? 0]
            if let status = await probeStatus(member, of: cluster, group: group) {
                row["id"] = String(status.header.memberID, radix: 16)
                row["leader"] = status.leader == status.header.memberID
                row["term"] = status.raftTerm
                row["raftIndex"] = status.raftIndex
                row["appliedIndex"] = status.raftAppliedIndex
                row["revision"] = status.header.revision
                row["dbSize"] = status.dbSize
                row["healthy"] = status.leader != 0
            } else {
                row["healthy"] = false
            }
            rows.append(row)
        }
        let maxApplied = rows.compactMap { $0["appliedIndex"] as? UInt64 }.max() ?? 0
        for index in rows.indices { rows[index]["lag"] = (rows[index]["appliedIndex"] as? UInt64).map { maxApplied - $0 } ?? -1 }
        if json {
            let data = try JSONSerialization.data(withJSONObject: ["members": rows], options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("NAME      ENDPOINT         PID      ID                LEADER  TERM  APPLIED  LAG   REVISION  DB SIZE")
        for row in rows {
            func text(_ key: String) -> String { row[key].map { "\($0)" } ?? "-" }
            let pid = (row["pid"] as? Int).map { $0 == 0 ? "down" : String($0) } ?? "down"
            let line = [text("name").padding(9), text("endpoint").padding(16), pid.padding(8), text("id").padding(17),
                        ((row["leader"] as? Bool) == true ? "*" : "").padding(7), text("term").padding(5),
                        text("appliedIndex").padding(8), text("lag").padding(5), text("revision").padding(9), text("dbSize")]
            print(line.joined(separator: " "))
        }
    }
}

private extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
