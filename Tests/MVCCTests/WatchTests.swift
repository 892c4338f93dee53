import Testing
import Synchronization
import MVCC
import MVCCModel

@Suite struct WatchTests {
    /// Drains everything a watcher has to report right now.
    func drain(_ watcher: Watcher) throws -> [WatchEvent] {
        var all: [WatchEvent] = []
        while case .events(let events) = try watcher.poll() { all += events }
        return all
    }

    @Test func liveEventsArriveInOrderExactlyOnce() throws {
        let f = try StoreFixture()
        let watcher = f.store.watch(WatchRequest(range: .prefix(bytes("w/")), prevKV: true))
        try f.put("w/a", "1")
        try f.put("other", "x")
        try f.put("w/b", "1")
        try f.put("w/a", "2")
        try f.apply(.deleteRange(DeleteRangeRequest(range: .prefix(bytes("w/")))))
        let events = try drain(watcher)
        #expect(events.map(\.revision) == [2, 4, 5, 6, 6])
        #expect(events.map(\.kind) == [.put, .put, .put, .delete, .delete])
        #expect(events[2].prevKV?.value == bytes("1"))
        #expect(events[3].kv.key == bytes("w/a") && events[3].prevKV?.value == bytes("2"))
        #expect(try watcher.poll() == .idle)
        watcher.cancel()
        #expect(try watcher.poll() == .canceled)
        try f.put("w/a", "3")
        #expect(try watcher.poll() == .canceled)
        #expect(f.store.watchHub.watcherCount == 0)
    }

    /// A bounded poll takes whole revisions up to about the bound (at least one), live and when catching up
    /// from storage, and leaves the rest for the next poll.
    @Test func boundedPollsTakeWholeRevisionsInOrder() throws {
        let f = try StoreFixture()
        let live = f.store.watch(WatchRequest(range: .prefix(bytes("b/"))))
        for i in 1...5 { try f.put("b/\(i)", "v") }
        try f.apply(.deleteRange(DeleteRangeRequest(range: .prefix(bytes("b/")))))  // One revision, five events.
        for i in 6...7 { try f.put("b/\(i)", "v") }
        let behind = f.store.watch(WatchRequest(range: .prefix(bytes("b/")), startRevision: 2))
        for watcher in [live, behind] {
            var batches: [[WatchEvent]] = []
            var polls: [[Int64]] = []
            while case .events = try watcher.poll(batches: &batches, maxEvents: 3) {
                polls.append(batches.flatMap { $0.map(\.revision) })
            }
            #expect(polls.flatMap { $0 } == [2, 3, 4, 5, 6, 7, 7, 7, 7, 7, 8, 9])
            // Within the bound but for the poll's last revision (storage reads finish the revision they reach).
            #expect(polls.allSatisfy { poll in poll.filter { $0 != poll.last }.count <= 3 }, "\(polls)")
            #expect(polls.filter { $0.contains(7) }.count == 1, "a revision is never split: \(polls)")
            #expect(polls.count >= 3, "\(polls)")
        }
    }

    @Test func filtersAndPrevKVAreHonoured() throws {
        let f = try StoreFixture()
        let noPuts = f.store.watch(WatchRequest(range: KeyRange(key: bytes("k")), filterPuts: true))
        let noDeletes = f.store.watch(WatchRequest(range: KeyRange(key: bytes("k")), filterDeletes: true))
        try f.put("k", "1")
        try f.apply(.deleteRange(DeleteRangeRequest(range: KeyRange(key: bytes("k")))))
        #expect(try drain(noPuts).map(\.kind) == [.delete])
        let puts = try drain(noDeletes)
        #expect(puts.map(\.kind) == [.put] && puts[0].prevKV == nil)
    }

    @Test func replayFromAnOldRevisionThenLive() throws {
        let f = try StoreFixture()
        for i in 1...20 { try f.put("k\(i % 3)", "\(i)") }
        let watcher = f.store.watch(WatchRequest(range: KeyRange(key: bytes("k1")), startRevision: 5, prevKV: true))
        try f.put("k1", "live")
        let events = try drain(watcher)
        let expected = Array(stride(from: 5 as Int64, through: 21, by: 1)).filter { ($0 - 1) % 3 == 1 } + [22]
        #expect(events.map(\.revision) == expected)
        #expect(events.last?.kv.value == bytes("live"))
        #expect(events.last?.prevKV?.value == bytes("19"))
    }

    @Test func compactedStartRevisionGetsTheCompactedError() throws {
        let f = try StoreFixture()
        for i in 1...10 { try f.put("k", "\(i)") }
        try f.apply(.compact(revision: 6))
        let watcher = f.store.watch(WatchRequest(range: KeyRange(key: bytes("k")), startRevision: 3))
        #expect(try watcher.poll() == .compacted(compactRevision: 6))
        #expect(try watcher.poll() == .canceled)
        let fromPoint = f.store.watch(WatchRequest(range: KeyRange(key: bytes("k")), startRevision: 6))
        #expect(try drain(fromPoint).map(\.revision) == [6, 7, 8, 9, 10, 11])
    }

    @Test func aWatcherFallingBehindDuringCompactionIsToldSo() throws {
        var options = MVCCOptions()
        options.watchBufferLimit = 2
        let f = try StoreFixture(options: options)
        let slow = f.store.watch(WatchRequest(range: KeyRange(key: bytes("k"))))
        for i in 1...10 { try f.put("k", "\(i)") }
        try f.apply(.compact(revision: 8))
        // The two buffered events are still delivered; the rest were compacted before they were read.
        #expect(try slow.poll() == .events([
            WatchEvent(kind: .put, kv: KeyValue(key: bytes("k"), value: bytes("1"), createRevision: 2, modRevision: 2, version: 1, lease: 0)),
            WatchEvent(kind: .put, kv: KeyValue(key: bytes("k"), value: bytes("2"), createRevision: 2, modRevision: 3, version: 2, lease: 0)),
        ]))
        #expect(try slow.poll() == .compacted(compactRevision: 8))
    }

    /// A consumer that never reads must not slow the writer down or make it buffer without bound; when it
    /// finally reads, it gets every event exactly once, in order.
    @Test func slowConsumerDoesNotBlockWritersAndCatchesUp() throws {
        var options = MVCCOptions()
        options.watchBufferLimit = 8
        options.watchCatchUpBatch = 5
        let f = try StoreFixture(options: options)
        let signals = Atomic<Int>(0)
        let slow = f.store.watch(WatchRequest(range: .prefix(bytes("k")))) { signals.add(1, ordering: .relaxed) }
        let fast = f.store.watch(WatchRequest(range: .prefix(bytes("k"))))
        var fastSeen: [Int64] = []
        for i in 1...500 {
            try f.apply(.put(PutRequest(key: bytes("k\(i % 7)"), value: bytes("\(i)"))))
            fastSeen += try drain(fast).map(\.revision)
        }
        #expect(signals.load(ordering: .relaxed) == 1, "a consumer that has not polled is signalled once")
        #expect(fastSeen == Array(2...501))
        let slowSeen = try drain(slow).map(\.revision)
        #expect(slowSeen == Array(2...501))
        try f.put("k1", "after")
        #expect(try drain(slow).map(\.revision) == [502], "back in sync after catching up")
    }

    @Test func manyWatchersOnOneKeyEachGetEveryEvent() throws {
        let f = try StoreFixture()
        let watchers = (0..<1000).map { _ in f.store.watch(WatchRequest(range: KeyRange(key: bytes("hot")))) }
        for i in 1...5 { try f.put("hot", "\(i)") }
        for watcher in watchers {
            #expect(try drain(watcher).map(\.revision) == [2, 3, 4, 5, 6])
            watcher.cancel()
        }
        #expect(f.store.watchHub.watcherCount == 0)
    }

    @Test func futureStartRevisionWaitsForIt() throws {
        let f = try StoreFixture()
        let watcher = f.store.watch(WatchRequest(range: KeyRange(key: bytes("k")), startRevision: 4))
        try f.put("k", "2")
        try f.put("k", "3")
        try f.put("k", "4")
        #expect(try drain(watcher).map(\.revision) == [4])
    }

    @Test func asyncNextDeliversAcrossTasks() async throws {
        let f = try StoreFixture()
        let watcher = f.store.watch(WatchRequest(range: .prefix(bytes("t/"))))
        let reader = Task { () -> [Int64] in
            var seen: [Int64] = []
            while seen.count < 50, let events = try await watcher.next() { seen += events.map(\.revision) }
            return seen
        }
        for i in 1...50 { try f.put("t/\(i % 5)", "\(i)") }
        #expect(try await reader.value == Array(2...51))
        let waiting = Task { try await watcher.next() }
        watcher.cancel()
        #expect(try await waiting.value == nil)
    }

    /// Random writes with random watchers starting at random revisions, checked against the model's history.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func randomWatchersSeeExactlyTheModelsHistory(seed: UInt64) throws {
        let directory = TemporaryDirectory()
        var workload = Workload(seed: seed)
        var model = ReferenceModel(options: workload.options)
        let store = try MVCCStore(directory: directory.child("store"), options: workload.options)
        struct Observed {
            let watcher: Watcher
            let start: Int64
            var seen: [WatchEvent] = []
            var compacted = false

            mutating func read() throws {
                while !compacted {
                    switch try watcher.poll() {
                    case .events(let events): seen += events
                    case .compacted: compacted = true
                    case .idle, .canceled: return
                    }
                }
            }
        }
        var observed: [Observed] = []
        for index in UInt64(1)...600 {
            let command = workload.command(for: model)
            _ = model.apply(command, index: index)
            _ = try store.apply(command, index: index)
            if workload.random.chance(0.05) {
                let start = workload.random.chance(0.3) ? 0 : workload.random.int64(max(model.compactedRevision, 1)...model.revision + 2)
                let request = WatchRequest(range: workload.keyRange(), startRevision: start,
                                           filterPuts: workload.random.chance(0.1), filterDeletes: workload.random.chance(0.1),
                                           prevKV: workload.random.chance(0.5))
                observed.append(Observed(watcher: store.watch(request), start: start == 0 ? model.revision + 1 : start))
            }
            for i in observed.indices where workload.random.chance(0.3) { try observed[i].read() }
        }
        var checked = 0
        for var watch in observed {
            try watch.read()
            watch.watcher.cancel()
            if watch.compacted { continue }
            checked += 1
            let want = model.events(for: watch.watcher.request, from: watch.start)
            let compacted = model.compactedRevision
            #expect(watch.seen.map(\.kv) == want.map(\.kv), "seed \(seed) watcher \(watch.watcher.request) from \(watch.start)")
            // prevKVs of versions purged by compaction may be missing, as in etcd.
            #expect(zip(watch.seen, want).allSatisfy { $0.prevKV == $1.prevKV || $0.revision <= compacted })
        }
        #expect(checked > 5)
    }
}

@Suite struct WatcherLifetimeTests {
    /// Closing a store with watchers still open must release it (and its RocksDB lock), and wake consumers.
    @Test func closingTheStoreReleasesItAndCancelsItsWatchers() async throws {
        let f = try StoreFixture()
        let watcher = f.store.watch(WatchRequest(range: KeyRange(key: bytes("k"))))
        let waiting = Task { try await watcher.next() }
        try f.reopen()
        #expect(try await waiting.value == nil)
        #expect(try watcher.poll() == .canceled)
        try f.put("k", "after reopen")
    }
}
