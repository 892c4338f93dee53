import EtcdProto
import GRPC
import NIOCore
import SwiftProtobuf

/// A client URL of an etcd v3 server: `HOST:PORT` or `http://HOST:PORT`.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(parsing text: Substring) throws {
        let trimmed = text.hasPrefix("http://") ? text.dropFirst(7) : text
        guard let colon = trimmed.lastIndex(of: ":"), let port = Int(trimmed[trimmed.index(after: colon)...]),
              (1...65_535).contains(port), colon > trimmed.startIndex else {
            throw BenchError("invalid endpoint \"\(text)\": expected HOST:PORT or http://HOST:PORT")
        }
        host = String(trimmed[..<colon])
        self.port = port
    }

    /// Parses a comma-separated list.
    public static func list(_ text: String) throws -> [Endpoint] {
        let endpoints = try text.split(separator: ",").map { try Endpoint(parsing: $0) }
        guard !endpoints.isEmpty else { throw BenchError("no endpoints given") }
        return endpoints
    }

    public var description: String { "\(host):\(port)" }

    /// Asks each endpoint for its status and returns the one that is the Raft leader.
    public static func leader(among endpoints: [Endpoint], group: EventLoopGroup) async throws -> Endpoint {
        for endpoint in endpoints {
            guard let channel = try? await GRPCChannel.connect(host: endpoint.host, port: endpoint.port, group: group,
                                                               timeout: .seconds(2)) else { continue }
            let reply = try? await channel.unary("/etcdserverpb.Maintenance/Status",
                                                 message: Etcdserverpb_StatusRequest(), timeout: .seconds(2))
            await channel.close()
            guard let reply, let status = try? Etcdserverpb_StatusResponse(grpcMessage: reply) else { continue }
            if status.leader != 0, status.leader == status.header.memberID { return endpoint }
        }
        throw BenchError("no endpoint among \(endpoints.map(\.description).joined(separator: ",")) is the leader")
    }
}

/// A bench failure with a message for the user.
public struct BenchError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

extension GRPCChannel {
    /// One unary call with a protobuf request, awaited: for set-up and discovery, not the measured path.
    func unary(_ path: String, message: some SwiftProtobuf.Message, timeout: TimeAmount) async throws -> ByteBuffer {
        try await unary(path, request: try ByteBuffer.framable(message), timeout: timeout)
    }
}

extension ByteBuffer {
    /// Serializes `message` after 5 bytes of headroom, so the gRPC layer frames it in place.
    static func framable(_ message: some SwiftProtobuf.Message) throws -> ByteBuffer {
        try message.grpcMessage()
    }
}

extension Endpoint {
    /// The leader among `endpoints`, asked over connections of its own.
    public static func leader(among endpoints: [Endpoint]) async throws -> Endpoint {
        try await withEventLoopGroup(threads: 1) { group in try await leader(among: endpoints, group: group) }
    }
}
