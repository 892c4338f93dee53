import ClusterClient
import ClusterPKI
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Resources
import Synchronization
import Testing
import TestSupport

/// A server that answers every request on a connection and then closes it (`Connection: close`), as an API
/// server going away or a proxy does: the client must not hand such a connection to the next request.
@Suite struct ConnectionCloseTests {
    final class Counter: Sendable {
        let value = Mutex(0)
    }

    final class ClosingHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            let body = Array(#"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"default"}}"#.utf8)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.count))
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                // The close comes a moment after the answer, as over a real network.
                context.eventLoop.scheduleTask(in: .milliseconds(20)) { context.close(promise: nil) }
            }
        }
    }

    @Test func aConnectionTheServerClosesIsNotReused() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("podium-close-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try CertificateAuthority.loadOrCreate(in: directory)
        let serving = try authority.issueServingCertificate(commonName: "127.0.0.1", hosts: ["127.0.0.1"])
        let tls = try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(serving.certificate.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serving.key.utf8), format: .pem))))
        let connections = Counter()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                connections.value.withLock { $0 += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ClosingHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        let api = try APIClient(access: ClusterAccess(servers: [.init(host: "127.0.0.1", port: port)], token: "t", caPEM: authority.certificatePEM))
        defer { api.shutdown() }
        let namespaces = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "namespaces")))
        // Creates are not retried once sent: each must go out on a fresh connection to succeed.
        for index in 0..<5 {
            let namespace: JSONValue = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string("n\(index)")]]
            let created = try await namespaces.create(namespace)
            #expect(created[path: ["metadata", "name"]] == "default")
        }
        #expect(connections.value.withLock { $0 } == 5)
        try? await server.close()
    }
}
