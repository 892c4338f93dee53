import Foundation
import Testing
import Raft
import RaftLogModel
import TestSupport
@testable import Store

/// A child process makes a seeded sequence of log changes with small segments (so segments are begun and removed
/// all along) and is killed with SIGKILL mid-write; the reopened log must be exactly the model's log after some
/// step at or after the last one the child reported synced, and must go on from there.
@Suite struct RaftLogCrashTests {
    static let segmentSize = 16 << 10

    /// Whether `log` holds exactly what `model` does.
    static func same(_ log: DurableRaftLog, _ model: MemoryRaftLog) -> Bool {
        guard log.firstIndex == model.firstIndex, log.lastIndex == model.lastIndex, log.hardState == model.hardState,
              log.snapshot.metadata == model.snapshot.metadata else { return false }
        let range = log.firstIndex..<(log.lastIndex + 1)
        return log.entries(range, maxBytes: .max) == model.entries(range, maxBytes: .max)
    }

    @Test(arguments: [11, 22, 33, 44, 55, 66] as [UInt64])
    func aKilledWriterLeavesTheLogOfASyncedStep(seed: UInt64) throws {
        let directory = TemporaryDirectory()
        let path = directory.child("log")
        var random = SeededRandom(seed: seed)
        let killAfter = random.int(300...1500)

        let (reported, killed) = try KilledChild.run(KilledChild.executable("raft-log-crash-writer"),
                                                     arguments: [path, "\(seed)", "1000000", "\(Self.segmentSize)"],
                                                     killAfter: killAfter)
        #expect(killed, "the writer must die by the signal, not finish")
        #expect(reported >= killAfter, "the writer reported \(reported) steps before the deadline")

        let log = try DurableRaftLog(directory: path, membership: LogWorkload.membership, segmentSize: Self.segmentSize)
        var workload = LogWorkload(seed: seed)
        for _ in 0..<reported { _ = workload.next() }
        // Steps after the last one reported may have reached the disk too (the kill can land between a sync and
        // its report, and unsynced records written before a sync are synced with it), in order.
        var step = reported
        while !Self.same(log, workload.model) && step < reported + 1000 {
            _ = workload.next()
            step += 1
        }
        #expect(Self.same(log, workload.model), "seed \(seed): the log after the kill is no step's log from \(reported) on")

        // It goes on from there, and what it writes next survives a reopen.
        for _ in 0..<200 {
            switch workload.next() {
            case .save(let hardState, let entries, let snapshot, let sync):
                try log.save(hardState: hardState, entries: entries, snapshot: snapshot, sync: sync)
            case .compact(let index):
                try log.compact(to: index, data: [], membership: LogWorkload.membership)
            }
        }
        #expect(Self.same(log, workload.model))
        let reopened = try DurableRaftLog(directory: path, membership: LogWorkload.membership, segmentSize: Self.segmentSize)
        #expect(Self.same(reopened, workload.model), "seed \(seed): what was written after the restart")
    }
}
