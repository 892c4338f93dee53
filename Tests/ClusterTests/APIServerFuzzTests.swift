import Bench
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
import TestSupport

extension ProcessClusterTests {
    /// Bad input at a running API server: malformed, truncated and mistyped JSON, random and truncated protobuf,
    /// wrong content types, huge labels, deep nesting, oversized bodies, sent by every write verb. Each must be
    /// answered with a metav1.Status in the 4xx range, and the server must stay up and go on serving. A seeded
    /// loop, bounded in count and time.
    @Suite struct APIServerFuzzTests {
        static let bodies: [String] = [
            #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fuzz","labels":{"a":"b"}},"data":{"k":"v"}}"#,
            #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"fuzz"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"f"}},"template":{"metadata":{"labels":{"app":"f"}},"spec":{"containers":[{"name":"c","image":"x","ports":[{"containerPort":80}]}]}}}}"#,
            #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"fuzz"},"spec":{"containers":[{"name":"c","image":"x","resources":{"requests":{"cpu":"100m"}}}]}}"#,
        ]
        static let paths = ["/api/v1/namespaces/default/configmaps", "/apis/apps/v1/namespaces/default/deployments",
                            "/api/v1/namespaces/default/pods"]

        static func mutate(_ text: String, _ random: inout SeededRandom) -> (body: [UInt8], contentType: String) {
            var bytes = Array(text.utf8)
            switch Int.random(in: 0..<10, using: &random) {
            case 0: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random)))
            case 1:
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            case 2:
                let values = [#"[]"#, #"{}"#, "1e999", "-1", "\"x\"", "null", "true", "99999999999999999999", #"{"a":[{"b":1}]}"#]
                let text = String(decoding: bytes, as: UTF8.self)
                let pieces = text.components(separatedBy: ":")
                let index = Int.random(in: 1..<pieces.count, using: &random)
                var changed = pieces
                let rest = changed[index].firstIndex(where: { $0 == "," || $0 == "}" }).map { String(changed[index][$0...]) } ?? ""
                changed[index] = values.randomElement(using: &random)! + rest
                bytes = Array(changed.joined(separator: ":").utf8)
            case 3:
                let label = String(repeating: "v", count: Int.random(in: 64...300_000, using: &random))
                bytes = Array(text.replacingOccurrences(of: #""name":"fuzz""#, with: #""name":"fuzz","annotations":{"a":"\#(label)"},"labels":{"big":"\#(label)"}"#).utf8)
            case 4:
                let depth = Int.random(in: 100...5000, using: &random)
                bytes = Array((String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)).utf8)
            case 5:
                return ([0x6B, 0x38, 0x73, 0x00] + (0..<Int.random(in: 0...200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) },
                        "application/vnd.kubernetes.protobuf")
            case 6: return (bytes, ["text/plain", "application/xml", "", "application/json; charset=utf-16"].randomElement(using: &random)!)
            case 7: return ((0..<Int.random(in: 0...500, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }, "application/json")
            case 8: bytes = Array(text.replacingOccurrences(of: "\"fuzz\"", with: "\"Bad_Name!\"").utf8)
            default: bytes = Array(text.replacingOccurrences(of: "\"kind\":\"", with: "\"kind\":\"X").utf8)
            }
            return (bytes, "application/json")
        }

        @Test func malformedRequestsGetStatusAnswersAndTheServerStaysUp() async throws {
            let cluster = try LocalCluster(size: 1)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            let server = try APIServerProcess(etcdServers: cluster.members.map(\.endpoint), in: cluster.directory)
            try server.waitUntilReady()
            let ca = try String(contentsOfFile: server.caDirectory + "/ca.crt", encoding: .utf8)
            let target = APIClientConnection.Target(host: "127.0.0.1", port: server.port, token: server.token, caPEM: ca)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var connection = try await APIClientConnection.connect(target, group: group)
            var random = SeededRandom(seed: 15)
            let deadline = Date().addingTimeInterval(TestTime.seconds(40))
            var sent = 0
            var statuses: [Int: Int] = [:]
            while sent < 800, Date() < deadline {
                let which = Int.random(in: 0..<Self.bodies.count, using: &random)
                var (body, contentType) = Self.mutate(Self.bodies[which], &random)
                var method = HTTPMethod.POST
                var path = Self.paths[which]
                switch Int.random(in: 0..<6, using: &random) {
                case 0: method = .PUT; path += "/fuzz"
                case 1: method = .PATCH; path += "/fuzz"; contentType = "application/merge-patch+json"
                case 2: method = .PATCH; path += "/fuzz"; contentType = "application/strategic-merge-patch+json"
                case 3: method = .PATCH; path += "/fuzz"; contentType = "application/json-patch+json"
                case 4: method = .DELETE; path += "/fuzz"
                default: break
                }
                if sent % 97 == 0 { body = [UInt8](repeating: UInt8(ascii: " "), count: 4 << 20) }
                sent += 1
                let response: APIClientConnection.Response
                do {
                    response = try await connection.request(method, path, body: body, contentType: contentType, timeout: .seconds(10))
                } catch let error as APIClientError where error.description.hasPrefix("no answer") {
                    Issue.record("\(method) \(path) [\(contentType)] \(body.count) bytes: no answer: \(String(decoding: body.prefix(200), as: UTF8.self))")
                    connection = try await APIClientConnection.connect(target, group: group)
                    continue
                } catch {
                    // A refused body may end the connection (413 closes it); open another and go on.
                    connection = try await APIClientConnection.connect(target, group: group)
                    continue
                }
                statuses[response.status, default: 0] += 1
                let text = response.body.getString(at: response.body.readerIndex, length: response.body.readableBytes) ?? ""
                #expect(response.status < 500, "\(method) \(path) [\(contentType)] → \(response.status): \(text.prefix(300))")
                if response.status >= 400 {
                    let status = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                    #expect(status?["kind"] as? String == "Status" && status?["code"] as? Int == response.status,
                            "\(method) \(path) → \(response.status) without a Status: \(text.prefix(300))")
                }
            }
            #expect(sent >= 100, "the loop ran (\(sent) requests)")
            #expect(server.process.isRunning, "the API server is up after \(sent) bad requests: \(server.logTail)")
            let health = try server.kubectl(["get", "--raw", "/readyz"])
            #expect(health.status == 0 && health.output == "ok", "\(health.all)")
            let create = try server.kubectl(["create", "configmap", "after-fuzz", "--from-literal=a=b"])
            #expect(create.status == 0, "\(create.all)")
            await connection.close()
            try await group.shutdownGracefully()
        }
    }
}
