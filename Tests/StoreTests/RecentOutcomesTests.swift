import Testing
import BinaryCoding
import MVCC
import MVCCModel
@testable import Store

@Suite struct RecentOutcomesTests {
    /// The outcomes of thousands of random commands (the model-based tests' workload: every response and error
    /// kind, txns nested two deep) survive the trip with a snapshot, and the store's bytes come back untouched.
    @Test func outcomesTravelWithASnapshotAndComeBackWhole() throws {
        var workload = Workload(seed: 91)
        var model = ReferenceModel(options: workload.options)
        var outcomes = RecentOutcomes(maxCount: 5000, maxBytes: 1 << 30)
        var expected: [(UInt64, Result<MVCCResponse, MVCCError>)] = []
        for index in UInt64(1)...3000 {
            guard case .applied(let result) = model.apply(workload.command(for: model), index: index) else { continue }
            let requestID = UInt64.random(in: 0...UInt64.max)
            outcomes.record(requestID: requestID, index: index, result: result)
            expected.append((requestID, result))
        }
        let store = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var data = store
        outcomes.attach(to: &data)
        let (detachedStore, detached) = try RecentOutcomes.detach(from: data)
        #expect(detachedStore == store)
        #expect(detached.count == expected.count)
        var received = RecentOutcomes(maxCount: 5000, maxBytes: 1 << 30)
        received.merge(detached)
        for (requestID, result) in expected {
            #expect(received.outcome(of: requestID) == result)
        }
    }

    /// Outcomes of transactions nested as deep as a command may be come back too (a lower bound on the outcome's
    /// side made every snapshot carrying one unreadable, and its receiver stop); unreadable outcomes leave the
    /// store's bytes intact.
    @Test func deeplyNestedOutcomesRoundTripAndUnreadableOnesLeaveTheStoreBytes() throws {
        var response = TxnResponse(revision: 1, succeeded: true, responses: [])
        for _ in 0..<(ByteReader.maxTxnDepth - 1) {
            response = TxnResponse(revision: 1, succeeded: true, responses: [.txn(response)])
        }
        var outcomes = RecentOutcomes()
        outcomes.record(requestID: 9, index: 1, result: .success(.txn(response)))
        var data: [UInt8] = [1, 2, 3]
        outcomes.attach(to: &data)
        let (store, detached) = try RecentOutcomes.detach(from: data)
        #expect(store == [1, 2, 3] && detached.first?.result == .success(.txn(response)))
        var damaged = data
        damaged[3 + 8] ^= 0xFF
        #expect(RecentOutcomes.storeBytes(of: damaged) == [1, 2, 3])
    }

    @Test func dataWithoutOutcomesIsAStoreSnapshotAlone() throws {
        let store: [UInt8] = Array(repeating: 3, count: 100)
        let (detachedStore, detached) = try RecentOutcomes.detach(from: store)
        #expect(detachedStore == store && detached.isEmpty)
    }

    @Test func malformedOutcomesAreRefusedNotTrusted() throws {
        var outcomes = RecentOutcomes()
        outcomes.record(requestID: 1, index: 1, result: .success(.put(PutResponse(revision: 2, prevKV: nil))))
        var data: [UInt8] = [9, 9, 9]
        outcomes.attach(to: &data)
        // A length that claims more than there is, and outcomes cut short.
        var tooLong = data
        tooLong[tooLong.count - 16] = 0xFF
        #expect(throws: ByteReader.Failure.self) { try RecentOutcomes.detach(from: tooLong) }
        var cut = data
        cut.remove(at: 3 + 8)
        #expect(throws: (any Error).self) { try RecentOutcomes.detach(from: cut) }
    }

    /// The table holds at most `maxCount` outcomes and about `maxBytes` of them, dropping the oldest.
    @Test func theTableIsBoundedAndKeepsTheNewest() {
        var outcomes = RecentOutcomes(maxCount: 100, maxBytes: 1 << 20)
        for n in UInt64(1)...1000 {
            outcomes.record(requestID: n, index: n, result: .success(.compact(CompactResponse(revision: Int64(n)))))
        }
        #expect(outcomes.count == 100)
        #expect(outcomes.outcome(of: 900) == nil && outcomes.outcome(of: 901) != nil)

        var large = RecentOutcomes(maxCount: 1000, maxBytes: 1 << 20)
        let value = Array(repeating: UInt8(1), count: 100_000)
        for n in UInt64(1)...100 {
            let kv = KeyValue(key: [1], value: value, createRevision: 1, modRevision: 1, version: 1, lease: 0)
            large.record(requestID: n, index: n, result: .success(.put(PutResponse(revision: Int64(n), prevKV: kv))))
        }
        #expect(large.count <= 11, "about 1 MiB of 100 kB outcomes: \(large.count)")
        #expect(large.outcome(of: 100) != nil)
    }
}
