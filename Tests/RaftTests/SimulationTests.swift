import Testing
import RaftSimulation

/// Seeded fault schedules on 3- and 5-member clusters; every one must pass all safety checks and make progress
/// once healed. A failure message names the seed and carries its event trace.
@Suite struct SimulationTests {
    @Test(arguments: 0..<20)
    func schedulesKeepRaftsGuarantees(batch: Int) throws {
        var committed = 0
        for seed in UInt64(batch * 100 + 1)...UInt64(batch * 100 + 100) {
            var options = SimulationOptions()
            options.nodes = seed % 2 == 0 ? 5 : 3
            do {
                committed += try Simulation(seed: seed, options: options).run().committedEntries
            } catch {
                // Replay with the trace on, so the failure explains itself.
                options.trace = true
                let replay = Result { try Simulation(seed: seed, options: options).run() }
                Issue.record("\(error)\nreplayed: \(replay)")
                return
            }
        }
        #expect(committed > 100 * 20, "schedules commit work, not just survive")
    }
}
