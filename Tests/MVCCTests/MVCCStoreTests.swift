import Testing
import MVCC

@Suite struct MVCCStoreTests {
    @Test func revisionsVersionsAndCreateRevisionsFollowEtcd() throws {
        let f = try StoreFixture()
        #expect(f.store.revision == 1)
        #expect(try f.put("a", "1").revision == 2)
        #expect(try f.put("a", "2").revision == 3)
        let a = try #require(try f.get("a"))
        #expect(a.createRevision == 2 && a.modRevision == 3 && a.version == 2 && a.value == bytes("2"))
        #expect(try f.get("a", revision: 2)?.value == bytes("1"))

        try f.apply(.deleteRange(DeleteRangeRequest(range: KeyRange(key: bytes("a")))))
        #expect(f.store.revision == 4)
        #expect(try f.get("a") == nil)
        #expect(try f.get("a", revision: 3)?.value == bytes("2"))
        let reborn = try f.put("a", "3")
        #expect(reborn.revision == 5)
        let again = try #require(try f.get("a"))
        #expect(again.createRevision == 5 && again.version == 1)
    }

    @Test func putReturnsPreviousValueAndHonoursIgnoreFlags() throws {
        let f = try StoreFixture()
        try f.apply(.leaseGrant(id: 7, ttl: 60))
        try f.put("k", "v1", lease: 7)
        guard case .put(let response) = try f.apply(.put(PutRequest(key: bytes("k"), value: bytes("v2"), prevKV: true))) else {
            Issue.record("wrong response"); return
        }
        #expect(response.prevKV?.value == bytes("v1"))
        #expect(try f.get("k")?.lease == 0)

        try f.apply(.put(PutRequest(key: bytes("k"), value: bytes("v3"), lease: 7)))
        try f.apply(.put(PutRequest(key: bytes("k"), value: [], ignoreValue: true)))
        #expect(try f.get("k")?.value == bytes("v3"))
        #expect(try f.get("k")?.lease == 0)
        try f.apply(.put(PutRequest(key: bytes("k"), value: bytes("v4"), lease: 7)))
        try f.apply(.put(PutRequest(key: bytes("k"), value: bytes("v5"), ignoreLease: true)))
        #expect(try f.get("k")?.lease == 7)
        #expect(try f.get("k")?.value == bytes("v5"))
    }

    @Test func badInputGetsEtcdsErrors() throws {
        var options = MVCCOptions()
        options.maxValueBytes = 1_572_864
        let f = try StoreFixture(options: options)
        #expect(throws: MVCCError.emptyKey) { try f.put("", "x") }
        #expect(throws: MVCCError.emptyKey) { try f.store.range(RangeRequest(range: KeyRange(key: []))) }
        #expect(throws: MVCCError.requestTooLarge) {
            try f.apply(.put(PutRequest(key: bytes("big"), value: [UInt8](repeating: 1, count: 1_572_865))))
        }
        try f.apply(.put(PutRequest(key: bytes("exactly"), value: [UInt8](repeating: 1, count: 1_572_864))))
        #expect(throws: MVCCError.leaseNotFound) { try f.put("k", "v", lease: 42) }
        #expect(throws: MVCCError.leaseNotFound) { try f.apply(.leaseRevoke(id: 42)) }
        #expect(throws: MVCCError.keyNotFound) {
            try f.apply(.put(PutRequest(key: bytes("absent"), value: [], ignoreValue: true)))
        }
        #expect(throws: MVCCError.valueProvided) {
            try f.apply(.put(PutRequest(key: bytes("k"), value: bytes("v"), ignoreValue: true)))
        }
        #expect(throws: MVCCError.leaseProvided) {
            try f.apply(.put(PutRequest(key: bytes("k"), value: bytes("v"), lease: 1, ignoreLease: true)))
        }
        #expect(throws: MVCCError.leaseTTLTooLarge) { try f.apply(.leaseGrant(id: 1, ttl: 9_000_000_001)) }
        #expect(throws: MVCCError.futureRevision) { try f.store.range(RangeRequest(range: KeyRange(key: bytes("k")), revision: 99)) }
        #expect(MVCCError.compacted(compactRevision: 3).description == "etcdserver: mvcc: required revision has been compacted")
        // Refusals still consume their log index, and change nothing.
        #expect(f.store.appliedIndex == f.nextIndex - 1)
        #expect(f.store.revision == 2)
    }

    /// etcd answers a range whose end sorts before its key with nothing (no error), and so do we.
    @Test func rangeEndBeforeKeyAddressesNothing() throws {
        let f = try StoreFixture()
        try f.put("a", "1")
        try f.put("b", "2")
        let backwards = KeyRange(key: bytes("b"), end: bytes("a"))
        let response = try f.store.range(RangeRequest(range: backwards))
        #expect(response.kvs.isEmpty && response.count == 0)
        guard case .deleteRange(let deleted) = try f.apply(.deleteRange(DeleteRangeRequest(range: backwards))) else {
            Issue.record("wrong response"); return
        }
        #expect(deleted.deleted == 0)
        #expect(f.store.revision == 3, "deleting nothing makes no revision")
        #expect(deleted.revision == 3, "and answers with the current one (a chaos run caught it naming the next)")
    }

    @Test func rangesHonourPrefixLimitSortAndFilters() throws {
        let f = try StoreFixture()
        for (key, value) in [("a/3", "x"), ("a/1", "z"), ("a/2", "y"), ("b", "w"), ("a", "v")] { try f.put(key, value) }
        try f.put("a/1", "z2")
        var request = RangeRequest(range: .prefix(bytes("a/")))
        var response = try f.store.range(request)
        #expect(response.kvs.map(\.key) == [bytes("a/1"), bytes("a/2"), bytes("a/3")])
        #expect(response.count == 3 && !response.more && response.revision == 7)

        request.limit = 2
        response = try f.store.range(request)
        #expect(response.kvs.map(\.key) == [bytes("a/1"), bytes("a/2")])
        #expect(response.more && response.count == 3)

        request.limit = 0
        request.sortTarget = .value
        request.sortOrder = .descend
        response = try f.store.range(request)
        #expect(response.kvs.map(\.value) == [bytes("z2"), bytes("y"), bytes("x")])

        request.sortOrder = .none
        request.sortTarget = .mod
        response = try f.store.range(request)
        #expect(response.kvs.map(\.key) == [bytes("a/3"), bytes("a/2"), bytes("a/1")])

        request = RangeRequest(range: KeyRange(key: bytes("a"), end: [0]))
        request.keysOnly = true
        request.minModRevision = 4
        response = try f.store.range(request)
        #expect(response.kvs.map(\.key) == [bytes("a"), bytes("a/1"), bytes("a/2"), bytes("b")])
        #expect(response.kvs.allSatisfy { $0.value.isEmpty })
        #expect(response.count == 5)

        request = RangeRequest(range: KeyRange(key: [0], end: [0]))
        request.countOnly = true
        response = try f.store.range(request)
        #expect(response.kvs.isEmpty && response.count == 5)
    }

    @Test func keysWithZeroAndFFBytesKeepTheirOrder() throws {
        let f = try StoreFixture()
        let keys: [[UInt8]] = [[0x61], [0x61, 0x00], [0x61, 0x00, 0x00], [0x61, 0x00, 0x01], [0x61, 0x01], [0x61, 0xFF], [0xFF, 0xFF]]
        for key in keys.shuffled() { try f.apply(.put(PutRequest(key: key, value: key))) }
        let all = try f.store.range(RangeRequest(range: KeyRange(key: [0], end: [0])))
        #expect(all.kvs.map(\.key) == keys)
        let prefixed = try f.store.range(RangeRequest(range: .prefix([0x61, 0x00])))
        #expect(prefixed.kvs.map(\.key) == [[0x61, 0x00], [0x61, 0x00, 0x00], [0x61, 0x00, 0x01]])
        let single = try f.store.range(RangeRequest(range: KeyRange(key: [0x61, 0x00])))
        #expect(single.kvs.map(\.key) == [[0x61, 0x00]])
    }

    @Test func transactionsCompareAndApplyAtOneRevision() throws {
        let f = try StoreFixture()
        try f.put("counter", "1")
        let cas = TxnRequest(
            compare: [Compare(range: KeyRange(key: bytes("counter")), result: .equal, target: .value(bytes("1")))],
            success: [.put(PutRequest(key: bytes("counter"), value: bytes("2"))),
                      .put(PutRequest(key: bytes("log/1"), value: bytes("1->2"))),
                      .range(RangeRequest(range: .prefix(bytes("log/"))))],
            failure: [.range(RangeRequest(range: KeyRange(key: bytes("counter"))))])
        guard case .txn(let first) = try f.apply(.txn(cas)) else { Issue.record("wrong response"); return }
        #expect(first.succeeded && first.revision == 3)
        guard case .range(let seen) = first.responses[2] else { Issue.record("wrong op response"); return }
        #expect(seen.kvs.map(\.value) == [bytes("1->2")], "reads in a txn see its own writes")
        #expect(try f.get("counter")?.modRevision == 3 && f.get("log/1")?.modRevision == 3)

        guard case .txn(let second) = try f.apply(.txn(cas)) else { Issue.record("wrong response"); return }
        #expect(!second.succeeded && second.revision == 3)
        guard case .range(let current) = second.responses[0] else { Issue.record("wrong op response"); return }
        #expect(current.kvs.first?.value == bytes("2"))

        let missing = TxnRequest(compare: [Compare(range: KeyRange(key: bytes("nope")), result: .equal, target: .version(0))],
                                 success: [.put(PutRequest(key: bytes("nope"), value: bytes("created")))])
        guard case .txn(let created) = try f.apply(.txn(missing)) else { Issue.record("wrong response"); return }
        #expect(created.succeeded)
        let valueOfMissing = TxnRequest(compare: [Compare(range: KeyRange(key: bytes("ghost")), result: .equal, target: .value([]))])
        guard case .txn(let ghost) = try f.apply(.txn(valueOfMissing)) else { Issue.record("wrong response"); return }
        #expect(!ghost.succeeded, "a value comparison on a missing key fails, as in etcd")
    }

    @Test func transactionsRefuseDuplicateKeysAndTooManyOps() throws {
        let f = try StoreFixture()
        let duplicate = TxnRequest(success: [.put(PutRequest(key: bytes("k"), value: [])), .put(PutRequest(key: bytes("k"), value: []))])
        #expect(throws: MVCCError.duplicateKey) { try f.apply(.txn(duplicate)) }
        let putInDeleted = TxnRequest(success: [.deleteRange(DeleteRangeRequest(range: .prefix(bytes("k")))),
                                                .put(PutRequest(key: bytes("k1"), value: []))])
        #expect(throws: MVCCError.duplicateKey) { try f.apply(.txn(putInDeleted)) }
        let nestedBranches = TxnRequest(success: [.txn(TxnRequest(success: [.put(PutRequest(key: bytes("k"), value: []))],
                                                                  failure: [.put(PutRequest(key: bytes("k"), value: []))]))])
        try f.apply(.txn(nestedBranches))
        let tooMany = TxnRequest(success: (0..<129).map { .put(PutRequest(key: bytes("k\($0)"), value: [])) })
        #expect(throws: MVCCError.tooManyOperations) { try f.apply(.txn(tooMany)) }
        let badLease = TxnRequest(success: [.put(PutRequest(key: bytes("a"), value: [])), .put(PutRequest(key: bytes("b"), value: [], lease: 9))])
        #expect(throws: MVCCError.leaseNotFound) { try f.apply(.txn(badLease)) }
        #expect(try f.get("a") == nil, "a refused transaction has no effect")
    }

    @Test func compactionDropsHistoryButKeepsLatest() throws {
        let f = try StoreFixture()
        try f.put("a", "1")       // 2
        try f.put("a", "2")       // 3
        try f.put("b", "1")       // 4
        try f.apply(.deleteRange(DeleteRangeRequest(range: KeyRange(key: bytes("b")))))  // 5
        try f.put("a", "3")       // 6
        try f.apply(.compact(revision: 5))
        try f.store.purgeCompacted()
        #expect(throws: MVCCError.compacted(compactRevision: 5)) { try f.get("a", revision: 4) }
        #expect(try f.get("a", revision: 5)?.value == bytes("2"))
        #expect(try f.get("b", revision: 5) == nil)
        #expect(try f.get("a")?.value == bytes("3"))
        #expect(throws: MVCCError.compacted(compactRevision: 5)) { try f.apply(.compact(revision: 5)) }
        #expect(throws: MVCCError.futureRevision) { try f.apply(.compact(revision: 7)) }
        try f.reopen()
        #expect(f.store.compactedRevision == 5)
        #expect(throws: MVCCError.compacted(compactRevision: 5)) { try f.get("a", revision: 3) }
    }

    @Test func revokingALeaseDeletesItsKeysAtOneRevision() throws {
        let f = try StoreFixture()
        guard case .leaseGrant(let grant) = try f.apply(.leaseGrant(id: 0, ttl: 30)) else { Issue.record("wrong response"); return }
        #expect(grant.id > 0 && grant.ttl == 30)
        #expect(throws: MVCCError.leaseExists) { try f.apply(.leaseGrant(id: grant.id, ttl: 5)) }
        try f.put("x", "1", lease: grant.id)
        try f.put("y", "1", lease: grant.id)
        try f.put("z", "1")
        #expect(try f.store.lease(grant.id, withKeys: true)?.keys == [bytes("x"), bytes("y")])
        #expect(try f.store.leases().map(\.id) == [grant.id])
        let revisionBefore = f.store.revision
        #expect(try f.apply(.leaseKeepAlive(id: grant.id))
                == .leaseKeepAlive(LeaseKeepAliveResponse(revision: revisionBefore, id: grant.id, ttl: 30)))
        #expect(f.store.revision == revisionBefore, "a keep-alive writes no revision")
        try f.apply(.leaseRevoke(id: grant.id))
        #expect(f.store.revision == 5)
        #expect(try f.get("x") == nil && f.get("y") == nil && f.get("z") != nil)
        #expect(try f.get("x", revision: 5) == nil && f.get("x", revision: 4) != nil)
        #expect(try f.store.lease(grant.id) == nil)
        #expect(throws: MVCCError.leaseNotFound) { try f.apply(.leaseRevoke(id: grant.id)) }
        #expect(throws: MVCCError.leaseNotFound) { try f.apply(.leaseKeepAlive(id: grant.id)) }
    }

    @Test func minimumLeaseTTLIsEnforced() throws {
        var options = MVCCOptions()
        options.minLeaseTTL = 3
        let f = try StoreFixture(options: options)
        guard case .leaseGrant(let grant) = try f.apply(.leaseGrant(id: 5, ttl: 1)) else { Issue.record("wrong response"); return }
        #expect(grant.ttl == 3)
    }

    @Test func reapplyingAnIndexIsANoOpAndReopenRestoresEverything() throws {
        let f = try StoreFixture()
        #expect(try f.store.apply(.put(PutRequest(key: bytes("k"), value: bytes("v"))), index: 10) != .alreadyApplied)
        #expect(try f.store.apply(.put(PutRequest(key: bytes("k"), value: bytes("other"))), index: 10) == .alreadyApplied)
        #expect(try f.store.apply(.put(PutRequest(key: bytes("k"), value: bytes("other"))), index: 3) == .alreadyApplied)
        _ = try f.store.apply(.leaseGrant(id: 9, ttl: 10), index: 11)
        _ = try f.store.apply(.compact(revision: 2), index: 12)
        try f.store.sync()
        try f.reopen()
        #expect(f.store.appliedIndex == 12 && f.store.revision == 2 && f.store.compactedRevision == 2)
        #expect(try f.get("k")?.value == bytes("v"))
        #expect(try f.store.lease(9)?.grantedTTL == 10)
        #expect(try f.store.apply(.put(PutRequest(key: bytes("k"), value: bytes("x"))), index: 12) == .alreadyApplied)
    }
}

@Suite struct LeaseDeadlinesTests {
    @Test func expiryFollowsTheCallersClock() {
        var deadlines = LeaseDeadlines()
        let second: UInt64 = 1_000_000_000
        deadlines.renew(1, ttlSeconds: 5, now: 0)
        deadlines.renew(2, ttlSeconds: 10, now: 0)
        #expect(deadlines.remainingSeconds(1, now: second / 2) == 5)
        #expect(deadlines.remainingSeconds(1, now: 4 * second + 1) == 1)
        #expect(deadlines.expired(at: 5 * second) == [1])
        deadlines.renew(1, ttlSeconds: 5, now: 4 * second)
        #expect(deadlines.expired(at: 5 * second).isEmpty)
        #expect(deadlines.expired(at: 11 * second) == [1, 2])
        deadlines.remove(2)
        #expect(deadlines.remainingSeconds(2, now: 0) == -1)
    }

    @Test func aNewLeaderExtendsEveryLeaseFromItsDeadlineOrNow() {
        var deadlines = LeaseDeadlines()
        let second: UInt64 = 1_000_000_000
        deadlines.renew(1, ttlSeconds: 10, now: 0)
        deadlines.renew(2, ttlSeconds: 2, now: 0)
        // At 5 s lease 1 has 5 s left and lease 2 expired 3 s ago; each gets one more second from there.
        deadlines.extendAll(by: second, now: 5 * second)
        #expect(deadlines.remainingSeconds(1, now: 5 * second) == 6)
        #expect(deadlines.remainingSeconds(2, now: 5 * second) == 1)
    }
}

@Suite struct MemberRecordTests {
    @Test func recordsMergeUpdatesSurviveReopenAndSnapshots() throws {
        let f = try StoreFixture()
        let revision = f.store.revision
        try f.apply(.memberUpdate(MemberRecord.Update(id: 7, peerURLs: ["http://127.0.0.1:1"])))
        let published = try f.apply(.memberUpdate(MemberRecord.Update(id: 7, name: "seven", clientURLs: ["http://127.0.0.1:2"],
                                                                       clusterID: 99)))
        #expect(published == .member(MemberRecord(id: 7, name: "seven", peerURLs: ["http://127.0.0.1:1"],
                                                  clientURLs: ["http://127.0.0.1:2"])))
        try f.apply(.memberUpdate(MemberRecord.Update(id: 9, name: "nine", clusterID: 5)))
        #expect(f.store.revision == revision, "member records are not key-value writes")
        #expect(f.store.clusterID == 99, "the first recorded cluster ID stays")
        try f.reopen()
        #expect(try f.store.members().map(\.name) == ["seven", "nine"])
        #expect(try !f.store.wasRemoved(7))
        try f.apply(.memberRemove(id: 7))
        #expect(try f.store.members().map(\.id) == [9])
        #expect(try f.store.wasRemoved(7) && !f.store.wasRemoved(9), "a removed ID is remembered, never to be reused")
        #expect(throws: MVCCError.memberRemoved) { try f.apply(.memberUpdate(MemberRecord.Update(id: 7, name: "seven"))) }
        #expect(try f.store.members().map(\.id) == [9])

        let other = try StoreFixture()
        try other.store.restore(snapshot: try f.store.snapshotBytes())
        #expect(try other.store.members() == f.store.members() && other.store.clusterID == 99)
        #expect(try other.store.wasRemoved(7), "the snapshot carries the removed IDs")
        try other.store.prepareForNewCluster(revisionBump: 10)
        #expect(try other.store.members().isEmpty && other.store.clusterID == nil, "a new cluster starts without the old members")
        #expect(try !other.store.wasRemoved(7))
    }
}

@Suite struct AlarmTests {
    @Test func aNoSpaceAlarmRefusesWritesThatAddDataUntilDisarmed() throws {
        let f = try StoreFixture()
        try f.put("a", "1")
        let alarm = Alarm(memberID: 3, kind: .noSpace)
        #expect(try f.apply(.alarm(alarm, raise: true)) == .alarms([alarm]))
        #expect(throws: MVCCError.noSpace) { try f.put("b", "2") }
        #expect(throws: MVCCError.noSpace) { try f.apply(.leaseGrant(id: 0, ttl: 10)) }
        let txnWithPut = TxnRequest(success: [.txn(TxnRequest(failure: [.put(PutRequest(key: bytes("c"), value: []))]))])
        #expect(throws: MVCCError.noSpace) { try f.apply(.txn(txnWithPut)) }
        // What frees space still works.
        try f.apply(.deleteRange(DeleteRangeRequest(range: KeyRange(key: bytes("a")))))
        try f.apply(.compact(revision: f.store.revision))
        try f.reopen()
        #expect(try f.store.alarms() == [alarm])
        #expect(throws: MVCCError.noSpace) { try f.put("b", "2") }
        #expect(try f.apply(.alarm(alarm, raise: false)) == .alarms([]))
        try f.put("b", "2")
    }
}
