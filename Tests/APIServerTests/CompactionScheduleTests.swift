@testable import APIServer
import Raft
import Testing

/// kube-apiserver's compaction race, against a model of the store's `compact_rev_key` (its version bumps on
/// every put; the store's revision moves on with other writes between ticks).
@Suite struct CompactionScheduleTests {
    /// The shared key and the store's revision, as a transaction of one tick sees and changes them.
    struct ModelStore {
        var keyVersion: Int64 = 0
        var revision: Int64 = 1

        mutating func tick(_ schedule: CompactionSchedule) -> CompactionSchedule.Outcome {
            guard keyVersion == schedule.expectedVersion else { return .lost(version: keyVersion, revision: revision) }
            keyVersion += 1
            revision += 1
            return .won(revision: revision)
        }
    }

    @Test func aLoneServerCompactsToTheRevisionOfItsPreviousTick() {
        var store = ModelStore()
        var schedule = CompactionSchedule()
        #expect(schedule.record(store.tick(schedule)) == nil, "nothing to compact to on the first tick")
        var previous = store.revision
        for writes in [5, 0, 100, 1] {
            store.revision += Int64(writes)
            let target = schedule.record(store.tick(schedule))
            #expect(target == previous, "an interval of history stays")
            #expect(target.map { $0 < store.revision } == true)
            previous = store.revision
        }
    }

    @Test func amongServersOneCompactsPerRoundAndTargetsOnlyGrow() {
        var generator = SplitMix64(seed: 42)
        for _ in 0..<200 {
            var store = ModelStore()
            var servers = Array(repeating: CompactionSchedule(), count: Int(generator.next() % 4) + 2)
            var seenBy = Array(repeating: Int64(0), count: servers.count)
            var compacted: Int64 = 0
            var winsAtVersion: [Int64: Int] = [:]
            for _ in 0..<300 {
                store.revision += Int64(generator.next() % 50)
                let index = Int(generator.next() % UInt64(servers.count))
                let versionBefore = store.keyVersion
                let outcome = store.tick(servers[index])
                if case .won = outcome { winsAtVersion[versionBefore, default: 0] += 1 }
                let target = servers[index].record(outcome)
                if let target {
                    #expect(target == seenBy[index], "the winner compacts to what it saw one tick before")
                    #expect(target > compacted, "compactions move forward")
                    #expect(target < store.revision)
                    compacted = target
                } else if case .won = outcome {
                    #expect(seenBy[index] == 0, "a winner skips compacting only before it has seen a revision")
                }
                seenBy[index] = servers[index].lastRevision
            }
            #expect(winsAtVersion.values.allSatisfy { $0 == 1 }, "one put per version of the key: one winner per round")
            #expect(compacted > 0)
        }
    }
}
