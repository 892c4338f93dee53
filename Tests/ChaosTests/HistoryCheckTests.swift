import Testing

@testable import Chaos

@Suite struct RegisterCheckerTests {
    typealias Step = RegisterChecker.Step

    @Test func concurrentWritesMayBeOrderedEitherWay() {
        // Two overlapping puts; a read after both sees the one ordered last: either is fine.
        for seen in ["a", "b"] {
            let steps = [Step(.put("a"), call: 0, ret: 2, index: 0), Step(.put("b"), call: 1, ret: 3, index: 1),
                         Step(.read(seen), call: 4, ret: 5, index: 2)]
            #expect(RegisterChecker.check(steps) == .linearizable)
        }
    }

    @Test func aStaleReadAfterAWriteReturnedIsAViolation() {
        let steps = [Step(.put("a"), call: 0, ret: 1, index: 0), Step(.put("b"), call: 2, ret: 3, index: 1),
                     Step(.read("a"), call: 4, ret: 5, index: 2)]
        #expect(RegisterChecker.check(steps) == .violation([2]))
    }

    @Test func aReadOverlappingAWriteMaySeeEitherValue() {
        for seen in ["a", "b"] {
            let steps = [Step(.put("a"), call: 0, ret: 1, index: 0), Step(.put("b"), call: 2, ret: 6, index: 1),
                         Step(.read(seen), call: 3, ret: 4, index: 2)]
            #expect(RegisterChecker.check(steps) == .linearizable)
        }
    }

    @Test func compareAndSwapFollowsTheValue() {
        let good = [Step(.cas(expected: nil, new: "a", swapped: true), call: 0, ret: 1, index: 0),
                    Step(.cas(expected: nil, new: "b", swapped: false), call: 2, ret: 3, index: 1),
                    Step(.cas(expected: "a", new: "c", swapped: true), call: 4, ret: 5, index: 2),
                    Step(.read("c"), call: 6, ret: 7, index: 3)]
        #expect(RegisterChecker.check(good) == .linearizable)
        // Both swaps from the absent key cannot succeed one after the other.
        let bad = [Step(.cas(expected: nil, new: "a", swapped: true), call: 0, ret: 1, index: 0),
                   Step(.cas(expected: nil, new: "b", swapped: true), call: 2, ret: 3, index: 1)]
        #expect(RegisterChecker.check(bad) == .violation([1]))
    }

    @Test func aWriteOfUnknownOutcomeMayTakeEffectLate() {
        // The put's client gave up (ret = infinity); a later read seeing its value is explained by it.
        let steps = [Step(.put("a"), call: 0, ret: 1, index: 0), Step(.put("x"), call: 2, ret: .infinity, index: 1),
                     Step(.read("a"), call: 3, ret: 4, index: 2), Step(.read("x"), call: 10, ret: 11, index: 3)]
        #expect(RegisterChecker.check(steps) == .linearizable)
    }

    @Test func segmentsCarryEveryPossibleValue() {
        // The first segment may end with "a" or "b"; the second segment's read decides which.
        let steps = [Step(.put("a"), call: 0, ret: 2, index: 0), Step(.put("b"), call: 1, ret: 3, index: 1),
                     Step(.read("a"), call: 5, ret: 6, index: 2), Step(.delete, call: 7, ret: 8, index: 3),
                     Step(.read(nil), call: 9, ret: 10, index: 4)]
        #expect(RegisterChecker.check(steps) == .linearizable)
    }
}

@Suite struct HistoryCheckTests {
    static func operation(_ client: Int, _ kind: ClientOperation.Kind, _ key: String, value: String? = nil, expected: String? = nil,
                          at invoked: Double, done completed: Double?, _ outcome: ClientOperation.Outcome,
                          read: String? = nil, swapped: Bool? = nil, revision: Int64? = nil) -> ClientOperation {
        var operation = ClientOperation(client: client, kind: kind, key: key, value: value, expected: expected, invoked: invoked)
        operation.completed = completed
        operation.outcome = outcome
        operation.read = read
        operation.swapped = swapped
        operation.revision = revision
        return operation
    }

    static let log = [Event(revision: 2, key: "k", value: "a"), Event(revision: 3, key: "k", value: "b"),
                      Event(revision: 4, key: "k", value: nil)]

    @Test func aCleanHistoryPasses() {
        let history = History(operations: [
            Self.operation(0, .put, "k", value: "a", at: 0, done: 1, .ok, revision: 2),
            // Timed out, but its value is in the log: applied, before the read at revision 3 returned.
            Self.operation(1, .put, "k", value: "b", at: 1.5, done: 5, .unknown),
            Self.operation(0, .get, "k", at: 2, done: 3, .ok, read: "b", revision: 3),
            // Timed out and absent from the log: never applied.
            Self.operation(1, .put, "k", value: "lost-but-unacknowledged", at: 6, done: 8, .unknown),
            Self.operation(0, .delete, "k", at: 9, done: 10, .ok, revision: 4),
            Self.operation(0, .get, "k", at: 11, done: 12, .ok, read: nil, revision: 4),
        ], log: Self.log, watches: [WatchRecord(watcher: 0, startRevision: 2, events: Self.log, resumptions: 1)],
        faults: [Fault(time: 1.2, kind: .kill, member: "master1", wasLeader: true)])
        let check = HistoryCheck(history)
        #expect(check.passed, "\(check)")
        #expect(check.failovers == [10 - 1.2])
    }

    @Test func aLostAcknowledgedWriteIsReported() {
        let history = History(operations: [
            Self.operation(0, .put, "k", value: "a", at: 0, done: 1, .ok, revision: 2),
            Self.operation(0, .put, "k", value: "gone", at: 2, done: 3, .ok, revision: 3),
        ], log: [Event(revision: 2, key: "k", value: "a")])
        let check = HistoryCheck(history)
        #expect(check.lostWrites == [1])
        #expect(!check.passed)
    }

    @Test func watchGapsDuplicatesAndDisorderAreReported() {
        let gap = WatchRecord(watcher: 0, startRevision: 2, events: [Self.log[0], Self.log[2]])
        let duplicate = WatchRecord(watcher: 1, startRevision: 2, events: [Self.log[0], Self.log[1], Self.log[1], Self.log[2]])
        let short = WatchRecord(watcher: 2, startRevision: 2, events: [Self.log[0]])
        let history = History(operations: [
            Self.operation(0, .put, "k", value: "a", at: 0, done: 1, .ok, revision: 2),
            Self.operation(0, .put, "k", value: "b", at: 2, done: 3, .ok, revision: 3),
            Self.operation(0, .delete, "k", at: 4, done: 5, .ok, revision: 4),
        ], log: Self.log, watches: [gap, duplicate, short])
        let check = HistoryCheck(history)
        #expect(check.watchProblems.contains { $0.hasPrefix("watcher 0: differs") })
        #expect(check.watchProblems.contains { $0.hasPrefix("watcher 1: revision 3 after 3") })
        #expect(check.watchProblems.contains { $0.hasPrefix("watcher 2: stopped at revision 2") })
        #expect(check.violations.isEmpty && check.lostWrites.isEmpty)
    }

    @Test func aReadOfAValueNobodyWroteFails() {
        let history = History(operations: [
            Self.operation(0, .put, "k", value: "a", at: 0, done: 1, .ok, revision: 2),
            Self.operation(0, .get, "k", at: 2, done: 3, .ok, read: "zzz", revision: 2),
        ], log: [Event(revision: 2, key: "k", value: "a")])
        let check = HistoryCheck(history)
        #expect(check.violations["k"] != nil)
    }

    @Test func aDeleteOfAnAbsentKeyIsNotTakenForTheDeleteAtItsRevision() {
        // Client 1's delete removed the key at revision 3; client 0's, invoked after revision 3 was seen, found
        // it absent and answered with the same (current) revision.
        var late = Self.operation(0, .delete, "k", at: 5, done: 6, .ok, revision: 3)
        late.deleted = 0
        var real = Self.operation(1, .delete, "k", at: 2, done: 4, .ok, revision: 3)
        real.deleted = 1
        let history = History(operations: [
            Self.operation(0, .put, "k", value: "a", at: 0, done: 1, .ok, revision: 2),
            real,
            Self.operation(2, .get, "k", at: 3, done: 3.5, .ok, read: nil, revision: 3),
            late,
        ], log: [Event(revision: 2, key: "k", value: "a"), Event(revision: 3, key: "k", value: nil)])
        #expect(HistoryCheck(history).passed)
        // Without the counts (older histories) the one invoked before revision 3 was seen is credited.
        late.deleted = nil
        real.deleted = nil
        var older = history
        older.operations[1] = real
        older.operations[3] = late
        #expect(HistoryCheck(older).passed)
    }
}
