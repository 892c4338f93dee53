import Testing
import Foundation
import MVCC
import MVCCModel
import TestSupport

/// A child process applies a seeded workload and is killed with SIGKILL mid-write; the reopened store must
/// equal the model at the index it says it applied, which is at least the last index the child reported.
@Suite struct CrashTests {
    @Test(arguments: [101, 202, 303] as [UInt64])
    func killedWriterLeavesTheStateOfAnAppliedIndex(seed: UInt64) throws {
        let directory = TemporaryDirectory()
        let storePath = directory.child("store")
        var random = SeededRandom(seed: seed)
        let killAfter = random.int(150...900)

        let (reported, killed) = try KilledChild.run(KilledChild.executable("mvcc-crash-writer"),
                                                     arguments: [storePath, "\(seed)", "100000"], killAfter: killAfter)
        #expect(killed, "the writer must die by the signal, not finish")
        #expect(reported >= killAfter, "the writer reported \(reported) steps before the deadline")

        let store = try MVCCStore(directory: storePath, options: Workload.testOptions)
        let applied = store.appliedIndex
        #expect(applied >= UInt64(reported), "an entry reported as applied was lost")
        var workload = Workload(seed: seed)
        var model = ReferenceModel(options: workload.options)
        for index in UInt64(1)...max(applied, 1) where index <= applied {
            _ = model.apply(workload.command(for: model), index: index)
        }
        var checks = SeededRandom(seed: seed)
        let problems = try StateCheck.differences(store: store, model: model, random: &checks, sampledRevisions: 10, history: true)
        #expect(problems.isEmpty, "seed \(seed), applied \(applied): \(problems)")

        // The store goes on from there: the next entry applies, and is the model's next state.
        let next = workload.command(for: model)
        #expect(try store.apply(next, index: applied + 1) == model.apply(next, index: applied + 1))
    }
}
