import ArgumentParser
import Dispatch
import RaftSimulation
import Synchronization

/// Runs many seeded fault schedules against the Raft simulator. A failing seed is printed with the command that
/// replays it (with a trace of the events before the violation).
@main
struct RaftSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft-sim",
        abstract: "Check Raft's safety and liveness over many seeded fault schedules.")

    @Option(help: "How many schedules to run.")
    var seeds = 10_000

    @Option(help: "The first seed.")
    var first: UInt64 = 1

    @Option(help: "Members per cluster: 3 or 5 (0: alternate).")
    var nodes = 0

    @Option(help: "Steps of each schedule's faulty phase.")
    var steps = 600

    @Flag(help: "Print the event trace of a failing schedule.")
    var trace = false

    @Option(help: "Parallel workers.")
    var jobs = 2

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let failures = Mutex<[String]>([])
        let committed = Atomic<Int>(0)
        let changes = Atomic<Int>(0)
        let elections = Atomic<Int>(0)
        let crashes = Atomic<Int>(0)
        let snapshots = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        let transportDrops = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let seeds = self.seeds, first = self.first, nodes = self.nodes, steps = self.steps, trace = self.trace
        // Workers take the next seed from a shared counter, so 3- and 5-member schedules spread evenly.
        let nextOffset = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: jobs) { _ in
            while true {
                let offset = nextOffset.add(1, ordering: .relaxed).oldValue
                guard offset < seeds else { break }
                let seed = first + UInt64(offset)
                var options = SimulationOptions()
                options.nodes = nodes == 0 ? (seed % 2 == 0 ? 5 : 3) : nodes
                options.steps = steps
                options.trace = trace
                do {
                    let stats = try Simulation(seed: seed, options: options).run()
                    committed.add(stats.committedEntries, ordering: .relaxed)
                    changes.add(stats.membershipChanges, ordering: .relaxed)
                    elections.add(stats.elections, ordering: .relaxed)
                    crashes.add(stats.crashes, ordering: .relaxed)
                    snapshots.add(stats.snapshotsSent, ordering: .relaxed)
                    reads.add(stats.reads, ordering: .relaxed)
                    transportDrops.add(stats.transportDrops, ordering: .relaxed)
                } catch {
                    failures.withLock { $0.append("\(error)\n  replay: raft-sim --first \(seed) --seeds 1 --nodes \(options.nodes) --steps \(steps) --trace") }
                }
                let finished = done.add(1, ordering: .relaxed).newValue
                if finished % 10_000 == 0 { print("\(finished) schedules, \(clock.now - start)") }
            }
        }
        let elapsed = clock.now - start
        let failed = failures.withLock { $0 }
        for failure in failed { print(failure) }
        print("\(seeds) schedules (seeds \(first)...\(first + UInt64(seeds) - 1)), \(failed.count) violations, "
              + "\(elapsed)")
        print("across them: \(committed.load(ordering: .relaxed)) entries committed, \(elections.load(ordering: .relaxed)) leaders elected, "
              + "\(crashes.load(ordering: .relaxed)) crashes, \(snapshots.load(ordering: .relaxed)) snapshots sent, "
              + "\(changes.load(ordering: .relaxed)) membership changes, \(reads.load(ordering: .relaxed)) linearizable reads, "
              + "\(transportDrops.load(ordering: .relaxed)) messages dropped by the modelled transport")
        if !failed.isEmpty { throw ExitCode.failure }
    }
}
