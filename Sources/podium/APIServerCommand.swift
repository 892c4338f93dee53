import APIServer
import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import StoreClient

/// `podium apiserver`: the Kubernetes API server alone, against any etcd v3 endpoints (Podium's store or etcd).
struct APIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apiserver",
        abstract: "Run the Kubernetes API server against an etcd v3 store (Podium's or etcd itself).")

    @Option(name: .customLong("etcd-servers"), help: "Client URLs of the store's members (comma-separated).")
    var etcdServers = "http://127.0.0.1:2379"

    @Option(name: .customLong("bind-address"), help: "Address to serve the API on.")
    var bindAddress = "127.0.0.1"

    @Option(name: .customLong("secure-port"), help: "Port to serve the API on.")
    var port = 6443

    @Option(name: .customLong("token"), help: "A bearer token clients must present (repeatable; none: no authentication).")
    var tokens: [String] = []

    @Flag(name: .customLong("reuse-port"), help: "Share the port with other API servers on this machine (SO_REUSEPORT).")
    var reusePort = false

    @Option(name: .customLong("max-requests-inflight"), help: "Requests (other than watches) served at once; more get 429.")
    var maxInFlight = 800

    func run() async throws {
        LoggingSystem.bootstrap { LogLineHandler(label: $0) }
        var logger = Logger(label: "podium.apiserver")
        logger.logLevel = .info
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let endpoints = try HostPort.list(etcdServers)
        let client: StoreClient
        do {
            client = try StoreClient(configuration: .init(endpoints: endpoints), group: group)
        } catch {
            throw CommandFailure("invalid --etcd-servers: \(error)")
        }
        var configuration = APIServer.Configuration()
        configuration.tokens = Set(tokens)
        configuration.maxInFlight = maxInFlight
        configuration.advertisedAddress = "\(bindAddress):\(port)"
        let server = APIServer(client: client, configuration: configuration, logger: logger)
        try await server.bootstrap()
        let http: HTTPServer
        do {
            http = try await HTTPServer.start(host: bindAddress, port: port, reusePort: reusePort, group: group,
                                              responder: server, logger: logger)
        } catch {
            throw CommandFailure("cannot listen on \(bindAddress):\(port): \(error)")
        }
        logger.info("API server ready", metadata: ["address": "\(bindAddress):\(http.port)", "etcd-servers": "\(etcdServers)"])
        _ = await StoreCommand.waitForTermination()
        logger.info("stopping")
        await http.close()
        await client.close()
        try? await group.shutdownGracefully()
    }
}
