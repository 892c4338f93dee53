import APIServer
import ArgumentParser
import ClusterPKI
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import StoreClient

/// `podium apiserver`: the Kubernetes API server alone, against any etcd v3 endpoints (Podium's store or etcd).
struct APIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apiserver",
        abstract: "Run the Kubernetes API server against an etcd v3 store (Podium's or etcd itself).")

    @Option(name: .customLong("etcd-servers"), help: "Client URLs of the store's members (comma-separated).")
    var etcdServers = "http://127.0.0.1:2379"

    @OptionGroup var options: APIServerOptions

    func run() async throws {
        MallocArenas.limitToCores()
        LoggingSystem.bootstrap { LogLineHandler(label: $0) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let server = try await options.start(etcdServers: try HostPort.list(etcdServers), group: group)
        _ = await StoreCommand.waitForTermination()
        await server.stop()
        try? await group.shutdownGracefully()
    }
}

/// An API server running in this process, and the store client it uses.
struct RunningAPIServer: Sendable {
    let http: HTTPServer
    let client: StoreClient
    let logger: Logger

    func stop() async {
        logger.info("stopping the API server")
        await http.close()
        await client.close()
    }
}

/// The API server's flags, shared by `podium apiserver` and `podium master`.
struct APIServerOptions: ParsableArguments {
    @Option(name: .customLong("bind-address"), help: "Address to serve the API on.")
    var bindAddress = "127.0.0.1"

    @Option(name: [.customLong("apiserver-port"), .customLong("secure-port")], help: "Port to serve the API (HTTPS) on.")
    var port = 6443

    @Option(name: .customLong("token"), help: "A bearer token clients may present (repeatable).")
    var tokens: [String] = []

    @Option(name: .customLong("token-auth-file"), help: "A file of bearer tokens, one per line (token[,user,...], as kube-apiserver's).")
    var tokenFile: String?

    @Option(name: .customLong("ca-dir"), help: "The cluster CA's directory (ca.crt, ca.key; made if missing): it signs this server's certificate.")
    var caDirectory = "podium-pki"

    @Option(name: .customLong("cert-dir"), help: "Where this server keeps the serving certificate it is issued (default: the CA directory).")
    var certDirectory: String?

    @Option(name: .customLong("advertise-address"), help: "Addresses (IPs or names) clients reach this server by, for its certificate (comma-separated).")
    var advertiseAddresses = ""

    @Flag(name: .customLong("reuse-port"), help: "Share the port with other API servers on this machine (SO_REUSEPORT): the kernel spreads connections over the live ones.")
    var reusePort = false

    @Option(name: .customLong("max-requests-inflight"), help: "Requests (other than watches) served at once; more get 429.")
    var maxInFlight = 800

    @Option(name: .customLong("default-watch-cache-size"), help: "Recent changes kept per resource type for resuming watches.")
    var watchCacheSize = 10_000

    @Option(name: .customLong("etcd-compaction-interval"), help: "How often the store's history is compacted (Go duration, e.g. 5m; 0: never, when another server compacts).")
    var compactionInterval = "5m"

    @Option(name: .customLong("event-ttl"), help: "How long an Event is kept after its last write (Go duration, e.g. 1h; 0: until deleted).")
    var eventTTL = "1h"

    func validate() throws {
        _ = try Self.duration(compactionInterval, flag: "etcd-compaction-interval")
        _ = try Self.duration(eventTTL, flag: "event-ttl")
    }

    /// A flag's Go duration; nil for 0 (the feature is off).
    private static func duration(_ text: String, flag: String) throws -> Duration? {
        guard let parsed = GoDuration.parse(text), parsed.nanoseconds >= 0 else {
            throw ValidationError("--\(flag): '\(text)' is not a duration (e.g. 5m, 30s, 0)")
        }
        return parsed.nanoseconds > 0 ? .nanoseconds(parsed.nanoseconds) : nil
    }

    /// A token the master's own components authenticate with: the first of --token, else of --token-auth-file.
    func clientToken() throws -> String {
        if let token = tokens.first { return token }
        if let tokenFile, let token = try TokenFile.read(tokenFile).sorted().first { return token }
        throw CommandFailure("no bearer token for the master's components: give --token or --token-auth-file")
    }

    /// Connects to the store, creates the bootstrap namespaces, and serves HTTPS; returns once it serves.
    func start(etcdServers: [String], group: EventLoopGroup) async throws -> RunningAPIServer {
        var logger = Logger(label: "podium.apiserver")
        logger.logLevel = .info
        let client: StoreClient
        do {
            client = try StoreClient(configuration: .init(endpoints: etcdServers), group: group)
        } catch {
            throw CommandFailure("invalid store endpoints: \(error)")
        }
        var configuration = APIServer.Configuration()
        configuration.tokens = Set(tokens)
        if let tokenFile {
            do {
                configuration.tokens.formUnion(try TokenFile.read(tokenFile))
            } catch {
                throw CommandFailure("cannot read --token-auth-file \(tokenFile): \(error)")
            }
        }
        guard !configuration.tokens.isEmpty else {
            throw CommandFailure("no bearer tokens: give --token or --token-auth-file (anonymous requests are refused)")
        }
        let tls = try ServingCertificate.context(caDirectory: caDirectory, certDirectory: certDirectory ?? caDirectory,
                                                 hosts: [bindAddress] + (try HostPort.list(advertiseAddresses)))
        configuration.maxInFlight = maxInFlight
        configuration.watchCacheSize = watchCacheSize
        configuration.compactionInterval = try Self.duration(compactionInterval, flag: "etcd-compaction-interval")
        configuration.eventTTL = try Self.duration(eventTTL, flag: "event-ttl")
        configuration.advertisedAddress = "\(bindAddress):\(port)"
        let server = APIServer(client: client, configuration: configuration, logger: logger)
        try await server.bootstrap()
        let http: HTTPServer
        do {
            http = try await HTTPServer.start(host: bindAddress, port: port, reusePort: reusePort, tls: tls, group: group,
                                              responder: server, logger: logger)
        } catch {
            throw CommandFailure("cannot listen on \(bindAddress):\(port): \(error)")
        }
        logger.info("API server ready", metadata: ["address": "https://\(bindAddress):\(http.port)", "etcd-servers": "\(etcdServers.joined(separator: ","))"])
        return RunningAPIServer(http: http, client: client, logger: logger)
    }
}

/// kube-apiserver's static token file: one token per line, optionally followed by user name, uid and groups
/// (comma-separated); blank lines and lines starting with # are skipped.
enum TokenFile {
    static func read(_ path: String) throws -> Set<String> {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var tokens = Set<String>()
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            let token = trimmed.split(separator: ",").first.map(String.init) ?? trimmed
            if !token.isEmpty { tokens.insert(token) }
        }
        return tokens
    }
}

/// The API server's serving certificate: issued by the cluster CA for 127.0.0.1, localhost, the in-cluster
/// names of the `kubernetes` Service and every address the server is reached at, and renewed when those change.
enum ServingCertificate {
    static let clusterNames = ["127.0.0.1", "::1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                               "kubernetes.default.svc.cluster.local"]

    static func context(caDirectory: String, certDirectory: String, hosts: [String]) throws -> NIOSSLContext {
        let authority: CertificateAuthority
        do {
            authority = try CertificateAuthority.loadOrCreate(in: caDirectory)
        } catch {
            throw CommandFailure("\(error)")
        }
        let names = Set(clusterNames + hosts.filter { !$0.isEmpty && $0 != "0.0.0.0" })
        let (certificate, key) = try authority.issueServingCertificate(commonName: "kube-apiserver", hosts: Array(names))
        try FileManager.default.createDirectory(atPath: certDirectory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: certDirectory + "/apiserver.crt", contents: Data(certificate.utf8))
        _ = FileManager.default.createFile(atPath: certDirectory + "/apiserver.key", contents: Data(key.utf8),
                                           attributes: [.posixPermissions: 0o600])
        return try HTTPServer.tlsContext(certificatePEM: certificate, keyPEM: key)
    }
}
