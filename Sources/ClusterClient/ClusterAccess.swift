import Foundation
import Resources

/// How a component reaches the cluster: the API servers it may use (any of them, failing over between them), the
/// CA that signs their certificates, and the bearer token it authenticates with. Read from a kubeconfig, as
/// kubectl does, or given as flags (`--server URL,URL --token T --ca-file F`).
public struct ClusterAccess: Sendable, Equatable {
    public struct Server: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var description: String { "https://\(host):\(port)" }

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// Parses `https://host:port` (port 443 when absent); only HTTPS, as tokens never travel in clear.
        public init(url text: String) throws(ClusterAccessError) {
            guard let url = URL(string: text), url.scheme == "https", let host = url.host, !host.isEmpty else {
                throw ClusterAccessError("\(text) is not an https:// URL of an API server")
            }
            self.init(host: host, port: url.port ?? 443)
        }
    }

    public var servers: [Server]
    public var token: String
    public var caPEM: String

    public init(servers: [Server], token: String, caPEM: String) {
        self.servers = servers
        self.token = token
        self.caPEM = caPEM
    }

    /// Reads the current context's server, CA (inline data or file) and token (inline or file) from a kubeconfig.
    public init(kubeconfig path: String) throws(ClusterAccessError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ClusterAccessError("cannot read the kubeconfig \(path): \(error.localizedDescription)")
        }
        let config: JSONValue
        do {
            config = try YAMLParser.parse(text)
        } catch {
            throw ClusterAccessError("\(path) is not YAML: \(error.message) (line \(error.line))")
        }
        func named(_ list: String, _ name: String?, _ field: String) -> JSONValue? {
            let entries = config[list]?.arrayValue ?? []
            let entry = name.flatMap { name in entries.first { $0["name"]?.stringValue == name } } ?? entries.first
            return entry?[field]
        }
        let contextName = config["current-context"]?.stringValue
        let context = named("contexts", contextName, "context")
        guard let cluster = named("clusters", context?["cluster"]?.stringValue, "cluster"),
              let server = cluster["server"]?.stringValue else {
            throw ClusterAccessError("\(path) names no cluster with a server")
        }
        let user = named("users", context?["user"]?.stringValue, "user")
        let directory = (path as NSString).deletingLastPathComponent
        func file(_ name: String) throws(ClusterAccessError) -> String {
            let full = name.hasPrefix("/") ? name : directory + "/" + name
            do {
                return try String(contentsOfFile: full, encoding: .utf8)
            } catch {
                throw ClusterAccessError("cannot read \(full), named by \(path): \(error.localizedDescription)")
            }
        }
        let ca: String
        if let data = cluster["certificate-authority-data"]?.stringValue {
            guard let decoded = Data(base64Encoded: data) else {
                throw ClusterAccessError("\(path): certificate-authority-data is not base64")
            }
            ca = String(decoding: decoded, as: UTF8.self)
        } else if let caFile = cluster["certificate-authority"]?.stringValue {
            ca = try file(caFile)
        } else {
            throw ClusterAccessError("\(path) gives no certificate authority for \(server)")
        }
        let token: String
        if let inline = user?["token"]?.stringValue {
            token = inline
        } else if let tokenFile = user?["tokenFile"]?.stringValue {
            token = try file(tokenFile).trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            throw ClusterAccessError("\(path) gives no token for its user")
        }
        self.init(servers: [try Server(url: server)], token: token, caPEM: ca)
    }

    /// The kubeconfig to use when none is named: $KUBECONFIG (its first path), as kubectl.
    public static func defaultKubeconfig(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let value = environment["KUBECONFIG"], !value.isEmpty else { return nil }
        return value.split(separator: ":").first.map(String.init)
    }
}

public struct ClusterAccessError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
