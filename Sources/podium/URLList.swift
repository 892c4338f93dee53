import Foundation

/// `http://host:port` URLs as etcd's flags take them.
struct HostPort: Sendable, Hashable {
    var host: String
    var port: Int

    /// Parses `http://host:port`; `localhost` binds to 127.0.0.1 (not ::1), as users of a local cluster expect.
    init(url: String) throws {
        var rest = Substring(url)
        if rest.hasPrefix("http://") {
            rest = rest.dropFirst("http://".count)
        } else if rest.contains("://") {
            throw CommandFailure("unsupported URL \(url): only http:// is served (no TLS yet)")
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
              (0...65535).contains(port) else {
            throw CommandFailure("invalid URL \(url): expected http://HOST:PORT")
        }
        var host = String(rest[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host == "localhost" ? "127.0.0.1" : host
        self.port = port
    }

    static func list(_ flag: String) throws -> [String] {
        flag.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// `--initial-cluster name=url,name=url`: several URLs per name are allowed, as in etcd.
struct InitialCluster {
    var members: [(name: String, peerURLs: [String])] = []

    init(_ flag: String) throws {
        for item in try HostPort.list(flag) {
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                throw CommandFailure("invalid --initial-cluster entry \(item): expected NAME=URL")
            }
            let name = String(item[..<equals])
            let url = String(item[item.index(after: equals)...])
            _ = try HostPort(url: url)
            if let index = members.firstIndex(where: { $0.name == name }) {
                members[index].peerURLs.append(url)
            } else {
                members.append((name, [url]))
            }
        }
        guard !members.isEmpty else { throw CommandFailure("--initial-cluster is empty") }
    }

    /// Checks that `name` is in the cluster with exactly the peer URLs it advertises.
    func check(_ name: String, advertises advertised: [String]) throws {
        guard let me = members.first(where: { $0.name == name }) else {
            throw CommandFailure("--initial-cluster has no member named \(name)")
        }
        guard Set(me.peerURLs) == Set(advertised) else {
            throw CommandFailure("--initial-cluster has \(name)=\(me.peerURLs.joined(separator: ",")), but "
                                 + "--initial-advertise-peer-urls is \(advertised.joined(separator: ","))")
        }
    }
}
