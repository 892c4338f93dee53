import EtcdProto
import Foundation
import GRPC
import NIOPosix
@testable import StoreClient
import Testing
import TestSupport

extension ProcessClusterTests {
    /// `StoreClient` against real members: it finds one that answers among endpoints some of which are dead, and
    /// reads go on through another member when the one it uses is killed.
    @Suite struct StoreClientTests {
        static func put(_ key: String, _ value: String) -> Etcdserverpb_PutRequest {
            var request = Etcdserverpb_PutRequest()
            request.key = Data(key.utf8)
            request.value = Data(value.utf8)
            return request
        }

        static func get(_ key: String) -> Etcdserverpb_RangeRequest {
            var request = Etcdserverpb_RangeRequest()
            request.key = Data(key.utf8)
            return request
        }

        /// Grant a lease, attach a key, read its time to live, revoke it (the key goes with it), and revoke
        /// again (an error, not a crash).
        static func leaseRoundTrip(_ client: StoreClient) async throws {
            var grant = Etcdserverpb_LeaseGrantRequest()
            grant.ttl = 60
            let lease = try await client.leaseGrant(grant).id
            var attached = put("sc/leased", "x")
            attached.lease = lease
            _ = try await client.put(attached)
            var ask = Etcdserverpb_LeaseTimeToLiveRequest()
            ask.id = lease
            ask.keys = true
            let alive = try await client.leaseTimeToLive(ask)
            #expect(alive.ttl > 0 && alive.ttl <= 60 && alive.keys == [Data("sc/leased".utf8)])
            var revoke = Etcdserverpb_LeaseRevokeRequest()
            revoke.id = lease
            _ = try await client.leaseRevoke(revoke)
            #expect(try await client.range(get("sc/leased")).kvs.isEmpty, "a revoked lease's keys go with it")
            await #expect(throws: StoreClientError.self) { try await client.leaseRevoke(revoke) }
        }

        @Test func readsFailOverToAnotherMemberWhenTheirsIsKilled() async throws {
            let cluster = try LocalCluster(size: 3)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var configuration = StoreClient.Configuration(
                endpoints: ["127.0.0.1:\(try LocalCluster.freePort())"] + cluster.members.map { "http://\($0.endpoint)" })
            configuration.requestTimeout = .seconds(Int64(TestTime.seconds(30)))
            let client = try StoreClient(configuration: configuration, group: group)

            _ = try await client.put(Self.put("sc/a", "1"))
            let first = try await client.range(Self.get("sc/a"))
            #expect(first.kvs.map { String(decoding: $0.value, as: UTF8.self) } == ["1"])
            let used = try #require(client.connectedEndpoint)
            #expect(used != configuration.endpoints[0], "the dead endpoint is passed over")

            let victim = try #require(cluster.members.first { used.hasSuffix($0.endpoint) })
            cluster.kill9(victim.name)
            let after = try await client.range(Self.get("sc/a"))
            #expect(after.kvs.map { String(decoding: $0.value, as: UTF8.self) } == ["1"])
            #expect(client.connectedEndpoint != used, "served by another member")

            var txn = Etcdserverpb_TxnRequest()
            var read = Etcdserverpb_RequestOp()
            read.requestRange = Self.get("sc/a")
            txn.success = [read]
            let response = try await client.txn(txn)
            #expect(response.succeeded && response.responses.count == 1)
            try await Self.leaseRoundTrip(client)
            await client.close()
            try await group.shutdownGracefully()
        }

        /// The same calls against etcd itself (the API server must run on either).
        @Test func theSameCallsWorkAgainstEtcd() async throws {
            guard EtcdProcess.isInstalled else {
                Issue.record("etcd is not installed at \(EtcdProcess.path)")
                return
            }
            let directory = TemporaryDirectory()
            let etcd = try EtcdProcess(in: directory)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var configuration = StoreClient.Configuration(endpoints: [etcd.endpoint])
            // etcd takes a moment to start: a read is retried until it answers.
            configuration.requestTimeout = .seconds(Int64(TestTime.seconds(30)))
            let client = try StoreClient(configuration: configuration, group: group)
            _ = try await client.range(Self.get("warm-up"))
            let put = try await client.put(Self.put("sc/e", "v"))
            let read = try await client.range(Self.get("sc/e"))
            #expect(read.kvs.first?.modRevision == put.header.revision, "etcd: \(etcd.logTail)")
            var delete = Etcdserverpb_DeleteRangeRequest()
            delete.key = Data("sc/e".utf8)
            #expect(try await client.deleteRange(delete).deleted == 1)
            try await Self.leaseRoundTrip(client)
            await client.close()
            try await group.shutdownGracefully()
        }

        /// A read is sent again after any "unavailable"; a write only when it cannot have reached the log.
        @Test func writesAreTriedAgainOnlyWhenTheyCannotHaveTakenEffect() {
            let cases: [(StoreClientError, read: Bool, write: Bool)] = [
                (.unreachable("refused"), true, true),
                (.status(GRPCStatus(.unavailable, "etcdserver: no leader")), true, true),
                (.status(GRPCStatus(.resourceExhausted, "etcdserver: too many requests")), false, true),
                (.status(GRPCStatus(.unavailable, "etcdserver: request timed out")), true, false),
                (.status(GRPCStatus(.unavailable, "the connection closed")), true, false),
                (.status(GRPCStatus(.invalidArgument, "etcdserver: key is not provided")), false, false),
            ]
            for (error, read, write) in cases {
                #expect(error.isSafeToRetry(idempotent: true) == read, "\(error)")
                #expect(error.isSafeToRetry(idempotent: false) == write, "\(error)")
            }
        }

        @Test func aClientWithNoLiveEndpointSaysSo() async throws {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var configuration = StoreClient.Configuration(endpoints: ["127.0.0.1:\(try LocalCluster.freePort())"])
            configuration.requestTimeout = .seconds(2)
            let client = try StoreClient(configuration: configuration, group: group)
            await #expect(throws: StoreClientError.self) { try await client.range(Self.get("x")) }
            #expect(throws: StoreClientError.self) { try StoreClient(configuration: .init(endpoints: ["nohost"]), group: group) }
            try await group.shutdownGracefully()
        }
    }
}
