import MVCC
import Testing

/// Applying a run of entries at once (as the server does) must leave exactly what applying them one by one does.
@Suite struct ApplyBatchTests {
    static func commands() -> [MVCCCommand] {
        [
            .leaseGrant(id: 7, ttl: 60),
            .put(PutRequest(key: bytes("a"), value: bytes("1"))),
            .put(PutRequest(key: bytes("a"), value: bytes("2"), prevKV: true)),
            .put(PutRequest(key: bytes("b"), value: bytes("x"), lease: 7)),
            .put(PutRequest(key: bytes("c"), value: bytes("y"), lease: 99)),  // refused: no such lease
            .put(PutRequest(key: bytes("a"), value: [], ignoreValue: true)),   // keeps "2"
            .put(PutRequest(key: bytes("zz"), value: [], ignoreValue: true)),  // refused: key not found
            .deleteRange(DeleteRangeRequest(range: KeyRange(key: bytes("b")))),
            .put(PutRequest(key: bytes("b"), value: bytes("again"))),
            .put(PutRequest(key: bytes("d"), value: bytes("last"))),
        ]
    }

    @Test func aRunEqualsOneByOne() throws {
        let single = try StoreFixture()
        let batched = try StoreFixture()
        let watcher = batched.store.watch(WatchRequest(range: KeyRange(key: bytes("a"), end: bytes("zzz")), prevKV: true))
        var singleOutcomes: [ApplyOutcome] = []
        for (offset, command) in Self.commands().enumerated() {
            singleOutcomes.append(try single.store.apply(command, index: UInt64(offset + 1)))
        }
        let entries = Self.commands().enumerated().map { ($1, UInt64($0 + 1)) }
        let batchedOutcomes = try batched.store.apply(entries)
        #expect(batchedOutcomes == singleOutcomes)
        #expect(batched.store.revision == single.store.revision && batched.store.appliedIndex == 10)
        for revision in 1...single.store.revision {
            let request = RangeRequest(range: KeyRange(key: bytes("a"), end: bytes("zzz")), revision: revision)
            #expect(try batched.store.range(request) == single.store.range(request), "at revision \(revision)")
        }
        // Replaying the run is a no-op, as replaying the log after a crash is.
        #expect(try batched.store.apply(entries).allSatisfy { $0 == .alreadyApplied })
        guard case .events(let events) = try watcher.poll() else {
            Issue.record("no events")
            return
        }
        #expect(events.map(\.kv.modRevision) == Array(2...single.store.revision))
        #expect(events[1].prevKV?.value == bytes("1"))
        watcher.cancel()
    }

    @Test func aRunSurvivesReopening() throws {
        let fixture = try StoreFixture()
        let entries = (1...50).map { (MVCCCommand.put(PutRequest(key: bytes("k\($0 % 7)"), value: bytes("\($0)"))), UInt64($0)) }
        _ = try fixture.store.apply(entries)
        try fixture.store.sync()
        try fixture.reopen()
        #expect(fixture.store.appliedIndex == 50 && fixture.store.revision == 51)
        #expect(try fixture.get("k1")?.value == bytes("50") && fixture.get("k1")?.version == 8)
    }
}
