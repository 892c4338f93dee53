import ArgumentParser
import Logging
import NIOCore
import NIOPosix

/// `podium master`: what runs on each master — a store member, the API server that uses it (and, through
/// failover, the other members), the scheduler and the controller manager (each active on one master at a time),
/// in one process.
struct MasterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "master",
        abstract: "Run a master: a store member (all of `podium store`'s flags) and the Kubernetes API server.")

    @OptionGroup var store: StoreOptions

    @OptionGroup var apiServer: APIServerOptions

    @OptionGroup var controlPlane: ControlPlaneOptions

    @Option(name: .customLong("etcd-servers"), help: "Client URLs of the store members the API server uses (default: this member's).")
    var etcdServers: String?

    func run() async throws {
        MallocArenas.limitToCores()
        LoggingSystem.bootstrap { LogLineHandler(label: $0) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let member = try await store.start(group: group)
        let endpoints = try etcdServers.map(HostPort.list) ?? member.clientURLs
        let server: RunningAPIServer
        do {
            server = try await apiServer.start(etcdServers: endpoints, group: group)
        } catch {
            await member.stop(removed: false)
            throw error
        }
        let components: Task<Void, Never>?
        do {
            components = try controlPlane.start(apiPort: server.http.port, token: try apiServer.clientToken(),
                                                caDirectory: apiServer.caDirectory, memberName: store.name)
        } catch {
            await server.stop()
            await member.stop(removed: false)
            throw error
        }
        let reason = await StoreCommand.waitForTermination { member.member.status.isRemoved }
        if let components {
            components.cancel()
            await components.value
        }
        await server.stop()
        await member.stop(removed: reason == .removed)
        try? await group.shutdownGracefully()
    }
}
