import EtcdProto
import Foundation
import GRPC
import NIOCore
import NIOPosix
@testable import StoreClient
import Testing
import TestSupport

extension ProcessClusterTests {
    /// `StoreClient.watch` against real members and etcd: every change once and in order across a killed member,
    /// compaction and a slow consumer reported as errors, progress notifications.
    @Suite struct StoreClientWatchTests {
        static func client(_ endpoints: [String], group: EventLoopGroup) throws -> StoreClient {
            var configuration = StoreClient.Configuration(endpoints: endpoints)
            configuration.requestTimeout = .seconds(Int64(TestTime.seconds(30)))
            return try StoreClient(configuration: configuration, group: group)
        }

        /// A started cluster with a leader.
        static func runningCluster(size: Int) throws -> LocalCluster {
            let cluster = try LocalCluster(size: size)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            return cluster
        }

        /// Collects the events of `watch` until `count` have come (or the deadline passes).
        static func collect(_ watch: StoreWatch, count: Int, into keys: inout [String]) async throws {
            let deadline = Date().addingTimeInterval(TestTime.seconds(60))
            for try await batch in watch {
                keys += batch.events.map { String(decoding: $0.kv.key, as: UTF8.self) }
                if keys.count >= count || Date() > deadline { return }
            }
        }

        @Test func aWatchSeesEveryChangeOnceAndInOrderAcrossAKilledMember() async throws {
            let cluster = try Self.runningCluster(size: 3)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let watcher = try Self.client(cluster.members.map(\.endpoint), group: group)
            let first = try await watcher.put(StoreClientTests.put("w/start", "0"))
            let watch = watcher.watch(key: Array("w/".utf8), rangeEnd: Array("w0".utf8), from: first.header.revision)
            var iterator = watch.makeAsyncIterator()
            let opening = try #require(try await iterator.next())
            #expect(opening.events.map { String(decoding: $0.kv.key, as: UTF8.self) } == ["w/start"])

            let used = try #require(watcher.connectedEndpoint)
            let victim = try #require(cluster.members.first { $0.endpoint == used })
            let writer = try Self.client(cluster.members.filter { $0.name != victim.name }.map(\.endpoint), group: group)
            for index in 0..<10 { _ = try await writer.put(StoreClientTests.put("w/\(index)", "a")) }
            cluster.kill9(victim.name)
            for index in 10..<20 { _ = try await writer.put(StoreClientTests.put("w/\(index)", "b")) }

            var keys: [String] = []
            let deadline = Date().addingTimeInterval(TestTime.seconds(60))
            while keys.count < 20, Date() < deadline, let batch = try await iterator.next() {
                keys += batch.events.map { String(decoding: $0.kv.key, as: UTF8.self) }
            }
            #expect(keys == (0..<20).map { "w/\($0)" }, "every change once, in order")
            #expect(watcher.connectedEndpoint != used, "the watch moved to a live member")
            await watcher.close()
            await writer.close()
            try await group.shutdownGracefully()
        }

        @Test func aWatchFromACompactedRevisionSaysSoAndAnEtcdWatchWorksTheSame() async throws {
            guard EtcdProcess.isInstalled else {
                Issue.record("etcd is not installed at \(EtcdProcess.path)")
                return
            }
            let directory = TemporaryDirectory()
            let etcd = try EtcdProcess(in: directory)
            let cluster = try Self.runningCluster(size: 1)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            for endpoints in [[etcd.endpoint], cluster.members.map(\.endpoint)] {
                let client = try Self.client(endpoints, group: group)
                _ = try await client.range(StoreClientTests.get("warm-up"))
                let old = try await client.put(StoreClientTests.put("c/a", "1")).header.revision
                let now = try await client.put(StoreClientTests.put("c/a", "2")).header.revision
                var compaction = Etcdserverpb_CompactionRequest()
                compaction.revision = now
                _ = try await client.compact(compaction)

                var outcome: Error?
                do {
                    for try await _ in client.watch(key: Array("c/a".utf8), from: old) {}
                } catch {
                    outcome = error
                }
                #expect(outcome as? StoreClientError == .compacted(revision: now), "\(endpoints): \(String(describing: outcome))")

                // Two watches share the stream; a progress request reaches an idle one.
                let live = client.watch(key: Array("c/".utf8), rangeEnd: Array("c0".utf8), from: now + 1)
                let idle = client.watch(key: Array("idle".utf8), from: now + 1)
                _ = try await client.put(StoreClientTests.put("c/b", "3"))
                var keys: [String] = []
                try await Self.collect(live, count: 1, into: &keys)
                #expect(keys == ["c/b"])
                client.requestWatchProgress()
                var idleIterator = idle.makeAsyncIterator()
                let progress = try #require(try await idleIterator.next())
                #expect(progress.events.isEmpty && progress.revision >= now + 1, "\(endpoints)")
                await client.close()
            }
            try await group.shutdownGracefully()
        }

        /// A progress notification says everything up to its revision has been sent: asked for again and again
        /// while writes pour in, none may come ahead of an event it covers (a client resumes from it, and an
        /// API server's watch cache serves reads at it).
        @Test func progressNotificationsNeverRunAheadOfTheirEvents() async throws {
            let cluster = try Self.runningCluster(size: 1)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            let client = try Self.client(cluster.members.map(\.endpoint), group: group)
            let writer = try Self.client(cluster.members.map(\.endpoint), group: group)
            let start = try await client.put(StoreClientTests.put("g/start", "0")).header.revision + 1
            let watch = client.watch(key: Array("g/".utf8), rangeEnd: Array("g0".utf8), from: start, bufferedBatches: 100_000)
            let total = 1_500
            let writes = Task {
                try await withThrowingTaskGroup(of: [Int64].self) { tasks in
                    for lane in 0..<8 {
                        tasks.addTask {
                            var revisions: [Int64] = []
                            for index in stride(from: lane, to: total, by: 8) {
                                revisions.append(try await writer.put(StoreClientTests.put("g/\(index)", String(repeating: "v", count: 200))).header.revision)
                            }
                            return revisions
                        }
                    }
                    var all: [Int64] = []
                    for try await revisions in tasks { all += revisions }
                    return all
                }
            }
            let asking = Task {
                while !Task.isCancelled {
                    client.requestWatchProgress()
                    try? await Task.sleep(for: .milliseconds(1))
                }
            }
            // What the consumer saw, in order: an event's revision, or a notification's (negated).
            var seen: [Int64] = []
            var events = 0
            let deadline = Date().addingTimeInterval(TestTime.seconds(120))
            for try await batch in watch {
                if batch.events.isEmpty { seen.append(-batch.revision) }
                for event in batch.events { seen.append(event.kv.modRevision) }
                events += batch.events.count
                if events >= total || Date() > deadline { break }
            }
            asking.cancel()
            let written = Set(try await writes.value)
            #expect(events == total, "every write was seen")
            var received = Set<Int64>()
            var violations: [String] = []
            for item in seen {
                if item > 0 {
                    received.insert(item)
                } else {
                    let missing = written.filter { $0 <= -item && !received.contains($0) }
                    if !missing.isEmpty { violations.append("progress \(-item) before \(missing.sorted().prefix(3))") }
                }
            }
            #expect(seen.contains { $0 < 0 }, "notifications came while writes went on")
            #expect(violations.isEmpty, "\(violations.prefix(5))")
            await client.close()
            await writer.close()
            try await group.shutdownGracefully()
        }

        /// A consumer that stops reading is cut off once its buffer is full, rather than the client holding
        /// every event for it; the others on the stream are not held up.
        @Test func aConsumerThatFallsBehindItsBufferIsToldSo() async throws {
            let cluster = try Self.runningCluster(size: 1)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let client = try Self.client(cluster.members.map(\.endpoint), group: group)
            let start = try await client.put(StoreClientTests.put("s/start", "0")).header.revision + 1
            let slow = client.watch(key: Array("s/".utf8), rangeEnd: Array("s0".utf8), from: start, bufferedBatches: 2)
            let brisk = client.watch(key: Array("s/".utf8), rangeEnd: Array("s0".utf8), from: start)
            for index in 0..<20 { _ = try await client.put(StoreClientTests.put("s/\(index)", "x")) }
            var keys: [String] = []
            try await Self.collect(brisk, count: 20, into: &keys)
            #expect(keys.count == 20)

            var received = 0
            var outcome: Error?
            do {
                for try await batch in slow { received += batch.events.count }
            } catch {
                outcome = error
            }
            #expect(outcome as? StoreClientError == .watchTooSlow)
            #expect(received <= 2, "only what fitted in the buffer")
            await client.close()
            try await group.shutdownGracefully()
        }
    }
}
