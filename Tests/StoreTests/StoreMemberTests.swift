import Testing
import MVCC
import NIOPosix
import PeerTransport
import Raft
import TestSupport
@testable import Store

/// Three members in one process, talking over TCP on 127.0.0.1, with fast ticks.
final class LocalCluster {
    let directory = TemporaryDirectory()
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var members: [NodeID: StoreMember] = [:]
    /// Where members reach each other: their peer ports, or the proxy's ports in front of them.
    var addresses: [NodeID: PeerAddress] = [:]
    /// Each member's own peer port.
    var listenPorts: [NodeID: Int] = [:]
    /// Set before `start` to put a `PeerLinkProxy` on every peer link (to cut or slow links one way).
    var proxy: PeerLinkProxy?
    let ids: Set<NodeID> = [1, 2, 3]
    /// Log compaction settings (etcd's defaults unless a test wants snapshots early).
    var snapshotCount: UInt64 = 100_000
    var snapshotCatchUpEntries: UInt64 = 5_000
    var logSegmentSize = DurableRaftLog.defaultSegmentSize
    var maxPendingWrites = MemberConfiguration(id: 1, dataDirectory: "").maxPendingWrites

    func configuration(_ id: NodeID, port: Int = 0) -> MemberConfiguration {
        var configuration = MemberConfiguration(id: id, dataDirectory: directory.child("member\(id)"))
        configuration.peerPort = port
        configuration.snapshotCount = snapshotCount
        configuration.snapshotCatchUpEntries = snapshotCatchUpEntries
        configuration.logSegmentSize = logSegmentSize
        configuration.maxPendingWrites = maxPendingWrites
        // Fast ticks (elections in a few hundred ms), slower where TestTime says the machine is.
        configuration.tickInterval = TestTime.scaled(.milliseconds(20))
        configuration.requestTimeout = TestTime.scaled(.seconds(10))
        return configuration
    }

    func start() async throws {
        for id in ids.sorted() {
            let member = try StoreMember(configuration: configuration(id), voters: ids, group: group)
            let port = try await member.listen()
            listenPorts[id] = port
            let advertised = try await proxy?.forward(listenPort: 0, to: port, memberID: id) ?? port
            addresses[id] = PeerAddress(host: "127.0.0.1", port: advertised)
            member.advertise(addresses[id]!)
            members[id] = member
        }
        for member in members.values {
            member.setPeers(addresses)
            member.start()
        }
    }

    /// Stops a member (its data stays).
    func stop(_ id: NodeID) async {
        await members.removeValue(forKey: id)?.stop()
    }

    /// Stops a member other than the leader (its data stays); returns the leader and the stopped member.
    func stopAFollower() async throws -> (leader: NodeID, stopped: NodeID) {
        let leader = try #require(try await self.leader())
        let follower = ids.first { $0 != leader }!   // three members, one leader
        await stop(follower)
        return (leader, follower)
    }

    /// Restarts a stopped member from its data directory, on its old port.
    func restart(_ id: NodeID) async throws {
        // The member's port was recorded when it first listened.
        let member = try StoreMember(configuration: configuration(id, port: listenPorts[id]!), voters: ids, group: group)
        _ = try await member.listen()
        member.advertise(addresses[id]!)
        member.setPeers(addresses)
        member.start()
        members[id] = member
    }

    /// The leader, once it runs and every running member knows it.
    func leader() async throws -> NodeID? {
        try await eventually {
            let leaders = Set(members.values.map(\.status.leader))
            guard leaders.count == 1, let leader = leaders.first, members[leader]?.status.role == .leader else { return nil }
            return leader
        }
    }

    func shutdown() async throws {
        for member in members.values { await member.stop() }
        members = [:]
        await proxy?.shutdown()
        try await group.shutdownGracefully()
    }

    /// Moves leadership round `others`, `moves` times, each once the previous move took effect.
    func moveLeadership(among others: [NodeID], moves: Int) async throws {
        for move in 0..<moves {
            let target = others[move % others.count]
            guard let current = try await leader(), current != target else { continue }
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                members[current]!.transferLeadership(to: target) { done.resume(with: $0) }
            }
            _ = try await TestSupport.eventually { self.members[target]!.status.role == .leader ? true : nil }
        }
    }

    /// Polls until `value` returns non-nil or 30 s pass (generous: CI machines are slow and noisy).
    func eventually<T>(_ value: () async throws -> T?) async throws -> T? {
        try await TestSupport.eventually(within: 60, value)
    }

    /// Applies `command` through `member` as a client would: a write that timed out or lost its leader during
    /// an election (its outcome unknown) is sent again, for up to a minute (scaled). Only for commands that
    /// may be applied twice (puts of fixed values).
    func applyRetrying(_ command: MVCCCommand, through member: @autoclosure () -> StoreMember) async throws -> MVCCResponse {
        let deadline = ContinuousClock.now + .seconds(TestTime.seconds(60))
        while true {
            do {
                return try await member().apply(command)
            } catch let error as StoreError where [.timeout, .leaderChanged, .noLeader].contains(error)
                        && ContinuousClock.now < deadline {
                continue
            }
        }
    }
}

func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

extension InProcessClusterTests {
    @Suite struct StoreMemberTests {
        @Test func writesThroughAnyMemberAreReadLinearizablyEverywhere() async throws {
            let cluster = LocalCluster()
            try await cluster.start()
            let leader = try #require(try await cluster.leader())
            let follower = cluster.ids.first { $0 != leader }!   // three members, one leader
            // A follower forwards the proposal to the leader and answers once the entry is applied locally.
            let response = try await cluster.members[follower]!.apply(.put(PutRequest(key: bytes("k"), value: bytes("v"))))
            guard case .put(let put) = response else { Issue.record("wrong response \(response)"); return }
            #expect(put.revision == 2)
            for id in cluster.ids {
                let read = try await cluster.members[id]!.range(RangeRequest(range: KeyRange(key: bytes("k"))))
                #expect(read.kvs.first?.value == bytes("v"), "member \(id)")
            }
            // Refusals come back as etcd's errors, without reaching the log.
            await #expect(throws: MVCCError.emptyKey) {
                try await cluster.members[leader]!.apply(.put(PutRequest(key: [], value: [])))
            }
            await #expect(throws: MVCCError.leaseNotFound) {
                try await cluster.members[follower]!.apply(.put(PutRequest(key: bytes("x"), value: [], lease: 99)))
            }
            try await cluster.shutdown()
        }

        /// The log is cut every few entries; a member stopped meanwhile is behind the cut when it comes back, and
        /// catches up by snapshot, with its watchers and later writes going on from there. Segments of a few records
        /// make the logs roll to new segment files and remove old ones all along.
        @Test func aMemberBehindTheLogCatchesUpBySnapshot() async throws {
            let cluster = LocalCluster()
            cluster.snapshotCount = 20
            cluster.snapshotCatchUpEntries = 5
            cluster.logSegmentSize = 2048
            try await cluster.start()
            let (leader, lagging) = try await cluster.stopAFollower()
            for i in 0..<150 {
                _ = try await cluster.members[leader]!.apply(.put(PutRequest(key: bytes("key\(i % 40)"), value: bytes("\(i)"))))
            }
            _ = try await cluster.members[leader]!.apply(.compact(revision: 100))
            let cut = cluster.members[leader]!.loop.log.snapshot.metadata.index
            #expect(cut > 100, "the leader's log was cut at \(cut)")
            let segments = try LogSegment.fileNames(in: cluster.directory.child("member\(leader)/raft-log")).sorted()
            #expect(segments.count > 1 && segments.first != LogSegment.fileName(1), "compacted segments are removed: \(segments)")

            try await cluster.restart(lagging)
            let want = try await cluster.members[leader]!.range(RangeRequest(range: .prefix(bytes("key"))))
            let caughtUp = try await cluster.eventually { () -> Bool? in
                let have = try cluster.members[lagging]!.mvcc.range(RangeRequest(range: .prefix(bytes("key"))))
                return have == want ? true : nil
            }
            #expect(caughtUp == true, "the restarted member did not catch up")
            #expect(cluster.members[lagging]!.mvcc.compactedRevision == 100)
            // It takes part normally afterwards: a write through it is applied everywhere.
            _ = try await cluster.members[lagging]!.apply(.put(PutRequest(key: bytes("after"), value: bytes("x"))))
            for id in cluster.ids {
                let read = try await cluster.members[id]!.range(RangeRequest(range: KeyRange(key: bytes("after"))))
                #expect(read.kvs.first?.value == bytes("x"), "member \(id)")
            }
            // And a restart from its own data (snapshot point + log) keeps everything.
            await cluster.stop(lagging)
            try await cluster.restart(lagging)
            let again = try cluster.members[lagging]!.mvcc.range(RangeRequest(range: .prefix(bytes("key"))))
            #expect(again.kvs == want.kvs)
            try await cluster.shutdown()
        }

        @Test func concurrentWritesAreAllAppliedInOneOrderEverywhere() async throws {
            let cluster = LocalCluster()
            try await cluster.start()
            _ = try #require(try await cluster.leader())
            let members = cluster.members
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<200 {
                    group.addTask {
                        let member = members[NodeID(i % 3 + 1)]!
                        _ = try await member.apply(.put(PutRequest(key: bytes("key\(i % 20)"), value: bytes("\(i)"))))
                    }
                }
                try await group.waitForAll()
            }
            var states: [RangeResponse] = []
            for id in cluster.ids.sorted() {
                states.append(try await cluster.members[id]!.range(RangeRequest(range: .prefix(bytes("key")))))
            }
            #expect(states[0].revision == 201)
            #expect(states.allSatisfy { $0.kvs == states[0].kvs && $0.revision == states[0].revision })
            try await cluster.shutdown()
        }

        /// Writes beyond the member's bound on unanswered ones are refused at once ("too many requests", as
        /// etcd refuses when applying falls behind) rather than queued without limit; the bound frees as writes
        /// are answered.
        @Test func writesBeyondThePendingBoundAreRefusedAtOnce() async throws {
            let cluster = LocalCluster()
            cluster.maxPendingWrites = 4
            try await cluster.start()
            let leader = try #require(try await cluster.leader())
            let member = try #require(cluster.members[leader])
            let results = try await withThrowingTaskGroup(of: Result<MVCCResponse, any Error>.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        await withCheckedContinuation { done in
                            member.apply(.put(PutRequest(key: bytes("flood\(i)"), value: bytes("x")))) { done.resume(returning: $0) }
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let refused = results.filter { if case .failure(StoreError.tooManyRequests) = $0 { true } else { false } }.count
            let applied = results.filter { if case .success = $0 { true } else { false } }.count
            #expect(refused > 0, "100 writes at once against a bound of 4")
            #expect(applied >= 4)
            #expect(refused + applied == 100, "nothing else went wrong")
            _ = try await member.apply(.put(PutRequest(key: bytes("after"), value: bytes("x"))))
            let stored = try await member.range(RangeRequest(range: .prefix(bytes("flood"))))
            #expect(stored.kvs.count == applied, "every write not refused was applied")
            try await cluster.shutdown()
        }

        @Test func compactionThroughTheLogAppliesOnEveryMember() async throws {
            let cluster = LocalCluster()
            try await cluster.start()
            let leader = try #require(try await cluster.leader())
            for i in 0..<10 {
                _ = try await cluster.members[leader]!.apply(.put(PutRequest(key: bytes("k"), value: bytes("\(i)"))))
            }
            _ = try await cluster.members[leader]!.apply(.compact(revision: 8))
            for id in cluster.ids {
                let member = cluster.members[id]!
                _ = try await member.range(RangeRequest(range: KeyRange(key: bytes("k"))))   // caught up
                #expect(member.mvcc.compactedRevision == 8, "member \(id)")
                await #expect(throws: MVCCError.compacted(compactRevision: 8)) {
                    try await member.range(RangeRequest(range: KeyRange(key: bytes("k")), revision: 5))
                }
                #expect(try await member.range(RangeRequest(range: KeyRange(key: bytes("k")), revision: 8)).kvs.first?.value == bytes("6"))
            }
            try await cluster.shutdown()
        }

        /// A write sent while the cluster has no leader waits for the election instead of failing.
        @Test func aWriteDuringAnElectionWaitsForTheNewLeader() async throws {
            let cluster = LocalCluster()
            try await cluster.start()
            let first = try #require(try await cluster.leader())
            await cluster.stop(first)
            let survivor = cluster.members.values.first!   // two members remain
            // Once the survivor gives up on the old leader (a proposal forwarded to a dead leader is lost, as in
            // etcd), a write waits for the election rather than failing with "no leader".
            let gaveUp = try await cluster.eventually { survivor.status.leader != first ? true : nil }
            #expect(gaveUp == true)
            let response = try await survivor.apply(.put(PutRequest(key: bytes("during"), value: [1])))
            guard case .put(let put) = response else { Issue.record("wrong response \(response)"); return }
            #expect(put.revision == 2)
            try await cluster.shutdown()
        }

        /// The leader stops; the others elect a new one and go on; the old leader restarts from disk, catches up,
        /// and nothing acknowledged is lost.
        @Test func failoverLosesNoAcknowledgedWrite() async throws {
            let cluster = LocalCluster()
            try await cluster.start()
            let first = try #require(try await cluster.leader())
            var acknowledged: [String] = []
            for i in 0..<20 {
                _ = try await cluster.members[first]!.apply(.put(PutRequest(key: bytes("before\(i)"), value: [1])))
                acknowledged.append("before\(i)")
            }
            await cluster.stop(first)
            let second = try #require(try await cluster.leader())
            #expect(second != first)
            for i in 0..<20 {
                // Two members remain; on a loaded machine they may hold another election meanwhile, and a write
                // caught in one is retried (etcd's client does not retry a timed-out put either: we, as its user, do).
                _ = try await cluster.applyRetrying(.put(PutRequest(key: bytes("after\(i)"), value: [2])),
                                                    through: cluster.members.values.first!)
                acknowledged.append("after\(i)")
            }
            try await cluster.restart(first)
            let caughtUp = try await cluster.eventually { () -> Bool? in
                let read = try? await cluster.members[first]!.range(RangeRequest(range: KeyRange(key: [0], end: [0])))
                return read?.count == 40 ? true : nil
            }
            #expect(caughtUp == true)
            let all = try await cluster.members[first]!.range(RangeRequest(range: KeyRange(key: [0], end: [0])))
            #expect(Set(all.kvs.map { String(decoding: $0.key, as: UTF8.self) }) == Set(acknowledged))
            try await cluster.shutdown()
        }

        /// A member of another cluster reaching our peer ports (a reused address, a wrong --initial-cluster) with
        /// a far higher term must neither depose the leader nor get its entries in.
        @Test func messagesFromOutsideTheClusterAreIgnored() async throws {
            let cluster = LocalCluster()
            try await cluster.start()
            let leader = try #require(try await cluster.leader())
            let term = cluster.members[leader]!.status.term
            let stranger = PeerTransport(id: 99, group: cluster.group, receive: { _ in }, reportUnreachable: { _ in })
            for (id, address) in cluster.addresses { stranger.setPeer(id, host: address.host, port: address.port) }
            for id in cluster.ids {
                var append = Message(kind: .append, from: 99, to: id, term: term + 100)
                append.entries = [Entry(term: term + 100, index: 1, data: [1, 2, 3])]
                append.commit = 1
                var vote = Message(kind: .vote, from: 99, to: id, term: term + 200)
                vote.index = 1_000_000
                vote.logTerm = term + 150
                // Right sender, wrong recipient: not for this member either.
                let misaddressed = Message(kind: .heartbeat, from: leader == 1 ? 2 : 1, to: 42, term: term + 300)
                stranger.send([append, vote, misaddressed])
            }
            let ignored = try await cluster.eventually { () -> Bool? in
                cluster.members.values.allSatisfy { $0.status.ignoredMessages >= 2 } ? true : nil
            }
            #expect(ignored == true)
            _ = try await cluster.members[leader]!.apply(.put(PutRequest(key: bytes("after-strangers"), value: [1])))
            #expect(cluster.members.values.allSatisfy { $0.status.term == term && $0.status.leader == leader })
            await stranger.shutdown()
            try await cluster.shutdown()
        }
    }
}
