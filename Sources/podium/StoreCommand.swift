import ArgumentParser
import Dispatch
import EtcdAPI
import Foundation
import GRPC
import Logging
import MVCC
import NIOCore
import NIOPosix
import Raft
import Store

/// `podium store`: one member of a replicated store, serving etcd's v3 API. The flags are etcd's, so an etcd
/// user feels at home.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Run one member of a replicated store that speaks etcd's v3 API.")

    @OptionGroup var options: StoreOptions

    func run() async throws {
        MallocArenas.limitToCores()
        LoggingSystem.bootstrap { LogLineHandler(label: $0) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let store = try await options.start(group: group)
        let reason = await Self.waitForTermination { store.member.status.isRemoved }
        await store.stop(removed: reason == .removed)
        try? await group.shutdownGracefully()
    }

    enum Termination { case signal, removed }
}

/// A store member running in this process: its Raft member, client servers and the task that publishes its
/// name and URLs.
struct RunningStore: Sendable {
    let member: StoreMember
    let servers: [GRPCServer]
    let publisher: Task<Void, Never>
    let logger: Logger
    /// The client URLs it serves on.
    let clientURLs: [String]

    func stop(removed: Bool) async {
        publisher.cancel()
        if removed {
            // As etcd: a removed member stops. A moment first, so the answer to the removal (and any request in
            // flight) reaches its client.
            logger.warning("the member has been permanently removed from the cluster; stopping")
            try? await Task.sleep(for: .seconds(1))
        }
        logger.info("stopping")
        for server in servers { await server.shutdown() }
        await member.stop()
    }
}

/// `podium store`'s flags (etcd's), shared with `podium master`, which runs a member too.
struct StoreOptions: ParsableArguments {
    @Option(help: "Human-readable name of this member.")
    var name = "default"

    @Option(name: .customLong("data-dir"), help: "Where the member keeps its data (default: NAME.podium).")
    var dataDirectory: String?

    @Option(name: .customLong("listen-client-urls"), help: "URLs to serve clients on (comma-separated).")
    var listenClientURLs = "http://localhost:2379"

    @Option(name: .customLong("advertise-client-urls"), help: "Client URLs to tell the rest of the cluster (default: the listen URLs).")
    var advertiseClientURLs: String?

    @Option(name: .customLong("listen-peer-urls"), help: "URL to serve the other members on.")
    var listenPeerURLs = "http://localhost:2380"

    @Option(name: .customLong("initial-advertise-peer-urls"), help: "This member's peer URLs, as in --initial-cluster (default: the listen peer URL).")
    var initialAdvertisePeerURLs: String?

    @Option(name: .customLong("initial-cluster"), help: "The initial members: NAME=PEER_URL,... (default: this member alone).")
    var initialCluster: String?

    @Option(name: .customLong("initial-cluster-state"), help: "new: start a new cluster; existing: join one.")
    var initialClusterState = "new"

    @Option(name: .customLong("initial-cluster-token"), help: "Distinguishes clusters started with the same peer URLs.")
    var initialClusterToken = "etcd-cluster"

    @Option(name: .customLong("heartbeat-interval"), help: "Milliseconds between leader heartbeats (one Raft tick).")
    var heartbeatInterval = 100

    @Option(name: .customLong("election-timeout"), help: "Milliseconds without a leader before an election.")
    var electionTimeout = 1000

    @Option(name: .customLong("snapshot-count"), help: "Applied entries between Raft log compactions (a member behind the cut catches up by snapshot).")
    var snapshotCount: UInt64 = 100_000

    @Option(name: .customLong("quota-backend-bytes"), help: "Size the store may grow to before a NOSPACE alarm (0: 2 GiB, negative: none).")
    var quotaBackendBytes: Int64 = 0

    @Option(name: .customLong("max-request-bytes"), help: "Largest request accepted.")
    var maxRequestBytes = 1_572_864

    @Option(name: .customLong("experimental-watch-progress-notify-interval"),
            help: "How often idle watchers that asked for it get a progress notification (e.g. 10m, 30s, 500ms).")
    var watchProgressNotifyInterval = "10m"

    func validate() throws {
        guard heartbeatInterval > 0, electionTimeout >= 5 * heartbeatInterval else {
            throw ValidationError("--election-timeout must be at least 5 × --heartbeat-interval, both positive")
        }
        guard ["new", "existing"].contains(initialClusterState) else {
            throw ValidationError("--initial-cluster-state must be new or existing")
        }
        guard maxRequestBytes > 0 else { throw ValidationError("--max-request-bytes must be positive") }
        guard snapshotCount > 0 else { throw ValidationError("--snapshot-count must be positive") }
        guard GoDuration.parse(watchProgressNotifyInterval).map({ $0 > .zero }) == true else {
            throw ValidationError("--experimental-watch-progress-notify-interval must be a positive duration such as 10m or 500ms")
        }
    }

    /// Opens the member's data, joins or starts the cluster, and serves clients; returns once it serves.
    func start(group: EventLoopGroup) async throws -> RunningStore {
        var logger = Logger(label: "podium.store")
        logger.logLevel = .info
        let dataDirectory = self.dataDirectory ?? "\(name).podium"
        let advertisedPeers = try HostPort.list(initialAdvertisePeerURLs ?? listenPeerURLs)
        let cluster = try InitialCluster(initialCluster ?? "\(name)=\(advertisedPeers.joined(separator: ","))")
        try cluster.check(name, advertises: advertisedPeers)
        let memberIDs = Dictionary(uniqueKeysWithValues: cluster.members.map {
            ($0.name, ClusterIdentity.memberID(peerURLs: $0.peerURLs, token: initialClusterToken))
        })
        let joining = initialClusterState == "existing"
        let identity: ClusterIdentity
        let isNewMember: Bool
        if let stored = try ClusterIdentity.load(from: dataDirectory) {
            identity = stored
            isNewMember = false
        } else {
            // A member joining a running cluster learns the cluster ID from the replicated member records.
            identity = ClusterIdentity(
                clusterID: joining ? 0 : ClusterIdentity.clusterID(memberIDs: Array(memberIDs.values), token: initialClusterToken),
                // Safe to force: `cluster.check` found `name` in the cluster above.
                memberID: memberIDs[name]!)
            try identity.save(in: dataDirectory)
            isNewMember = true
        }

        var configuration = MemberConfiguration(id: identity.memberID, dataDirectory: dataDirectory)
        let peerListen = try HostPort(url: try HostPort.list(listenPeerURLs).first ?? listenPeerURLs)
        configuration.peerHost = peerListen.host
        configuration.peerPort = peerListen.port
        configuration.advertisedPeer = advertisedPeers.first.flatMap { PeerAddress(url: $0) }
        configuration.clusterID = identity.clusterID
        configuration.tickInterval = .milliseconds(heartbeatInterval)
        configuration.electionTicks = electionTimeout / heartbeatInterval
        configuration.snapshotCount = snapshotCount
        configuration.snapshotCatchUpEntries = min(50_000, max(snapshotCount / 2, 1))
        configuration.mvcc.maxValueBytes = maxRequestBytes
        // etcd's shortest lease: 1.5 election timeouts, in whole seconds, so a lease cannot expire during the
        // election that follows a leader's failure.
        configuration.mvcc.minLeaseTTL = Int64((3 * electionTimeout / 2 + 999) / 1000)
        let member: StoreMember
        do {
            // A joining member starts with the members it was told of (`member add` prints them) but not itself:
            // the leader's log or snapshot adds it. Starting from nobody, it would apply its own addition as a
            // cluster of one, deaf to the others (the log holds changes, not the founding membership) and able
            // to elect itself.
            let voters = joining && isNewMember ? Set(memberIDs.filter { $0.key != name }.values) : Set(memberIDs.values)
            member = try StoreMember(configuration: configuration, voters: voters, group: group)
        } catch {
            throw CommandFailure("cannot open the member's data in \(dataDirectory): \(error)")
        }
        var peers: [NodeID: PeerAddress] = [:]
        for entry in cluster.members {
            // Safe to force: every member's URL was checked when --initial-cluster was parsed.
            let address = try HostPort(url: entry.peerURLs[0])
            peers[memberIDs[entry.name]!] = PeerAddress(host: address.host, port: address.port)
        }
        do {
            _ = try await member.listen()
        } catch {
            throw CommandFailure("cannot listen for peers on \(listenPeerURLs): \(error)")
        }
        member.setPeers(peers)
        member.start()

        let clientURLs = try HostPort.list(listenClientURLs)
        let advertisedClients = try HostPort.list(advertiseClientURLs ?? listenClientURLs)
        let directory = MemberDirectory(cluster.members.map { entry in
            // Safe to force: every name in `cluster` has an ID.
            MemberDirectory.Entry(id: memberIDs[entry.name]!, name: entry.name, peerURLs: entry.peerURLs,
                                  clientURLs: entry.name == name ? advertisedClients : [])
        })
        var apiConfiguration = EtcdServer.Configuration(clusterID: identity.clusterID)
        apiConfiguration.clusterToken = initialClusterToken
        apiConfiguration.quotaBackendBytes = quotaBackendBytes
        // Checked in validate().
        apiConfiguration.watchProgressNotifyInterval = GoDuration.parse(watchProgressNotifyInterval) ?? .minutes(10)
        apiConfiguration.maxRequestBytes = maxRequestBytes
        let api = EtcdServer(member: member, configuration: apiConfiguration, directory: directory)
        var servers: [GRPCServer] = []
        for url in clientURLs {
            let address = try HostPort(url: url)
            var serverConfiguration = GRPCServer.Configuration(host: address.host, port: address.port)
            serverConfiguration.maxReceiveMessageBytes = api.maxReceiveMessageBytes
            let server = GRPCServer(configuration: serverConfiguration, router: api.router(), group: group)
            do {
                try await server.start()
            } catch {
                throw CommandFailure("cannot listen for clients on \(url): \(error)")
            }
            servers.append(server)
        }
        logger.info("member ready", metadata: [
            "name": "\(name)", "member-id": "\(String(identity.memberID, radix: 16))",
            "cluster-id": "\(String(identity.clusterID, radix: 16))", "client-urls": "\(clientURLs.joined(separator: ","))",
            "data-dir": "\(dataDirectory)",
        ])

        // Publish this member's name and URLs through the log, so every member lists them (retrying until a
        // leader takes it).
        let record = MemberRecord.Update(id: identity.memberID, name: name, peerURLs: advertisedPeers,
                                         clientURLs: advertisedClients, clusterID: identity.clusterID)
        let publisher = Task {
            while !Task.isCancelled {
                if (try? await member.apply(.memberUpdate(record))) != nil { break }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }

        return RunningStore(member: member, servers: servers, publisher: publisher, logger: logger, clientURLs: clientURLs)
    }
}

extension StoreCommand {
    /// Returns on SIGINT or SIGTERM, or once `removed` says so (polled a few times a second).
    static func waitForTermination(removed: @escaping @Sendable () -> Bool = { false }) async -> Termination {
        await withCheckedContinuation { (continuation: CheckedContinuation<Termination, Never>) in
            let queue = DispatchQueue(label: "podium.signals")
            let once = OnceFlag()
            var sources: [DispatchSourceSignal] = []
            for signalNumber in [SIGINT, SIGTERM] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
                source.setEventHandler {
                    if once.claim() { continuation.resume(returning: .signal) }
                }
                source.resume()
                sources.append(source)
            }
            let poll = DispatchSource.makeTimerSource(queue: queue)
            poll.schedule(deadline: .now() + .milliseconds(200), repeating: .milliseconds(200))
            poll.setEventHandler {
                if removed(), once.claim() { continuation.resume(returning: .removed) }
            }
            poll.resume()
            // The sources must outlive this scope: they are kept until the process exits.
            SignalSources.keep(sources, poll)
        }
    }
}

/// Lets exactly one caller through.
private final class OnceFlag: @unchecked Sendable {
    // @unchecked Sendable: only used on one serial queue.
    private var claimed = false

    func claim() -> Bool {
        defer { claimed = true }
        return !claimed
    }
}

private enum SignalSources {
    nonisolated(unsafe) static var kept: [DispatchSourceSignal] = []
    nonisolated(unsafe) static var poll: DispatchSourceTimer?

    static func keep(_ sources: [DispatchSourceSignal], _ timer: DispatchSourceTimer) {
        kept = sources
        poll = timer
    }
}

/// A failure to report as one line, without the usage text that argument errors get.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
