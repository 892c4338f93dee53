import Benchmark
import Raft

/// Three in-memory members driven on one thread: no disk, no network, messages delivered in order at once.
/// What it measures is the ceiling the Raft core itself puts on a replicated store.
final class Trio: @unchecked Sendable {
    // @unchecked Sendable: used by one benchmark at a time, from one thread.
    var members: [Raft]
    let disks: [MemoryRaftLog]
    var queue: [Message] = []
    var committed: UInt64 = 0

    init() {
        let membership = Membership(voters: [1, 2, 3])
        let disks = (0..<3).map { _ in MemoryRaftLog(membership: membership) }
        self.disks = disks
        members = (0..<3).map { position in
            var configuration = RaftConfiguration(id: NodeID(position + 1))
            configuration.maxInflightMessages = 1024
            return Raft(configuration: configuration, storage: disks[position])
        }
        do {
            try members[0].campaign()
        } catch {
            fatalError("member 1 is a voter: \(error)")
        }
        pump()
    }

    /// Runs every member's Ready and delivers messages until the cluster is quiet.
    func pump() {
        var busy = true
        while busy {
            busy = false
            for position in 0..<3 where members[position].hasReady {
                busy = true
                let ready = members[position].ready()
                let disk = disks[position]
                disk.append(ready.entries)
                if let hardState = ready.hardState { disk.setHardState(hardState) }
                queue.append(contentsOf: ready.messages)
                queue.append(contentsOf: ready.messagesAfterPersist)
                if position == 0, let last = ready.committedEntries.last { committed = last.index }
                members[position].advance(ready)
                // Keep the in-memory logs from growing without bound over millions of entries.
                if let last = ready.committedEntries.last?.index, last > disk.firstIndex + 8192 {
                    disk.compact(to: last, data: [], membership: members[position].membership)
                }
            }
            if !queue.isEmpty {
                busy = true
                let pending = queue
                queue.removeAll(keepingCapacity: true)
                for message in pending { members[Int(message.to - 1)].step(message) }
            }
        }
    }

    /// Proposes `batch` entries in one call at the leader and waits until they are committed.
    func commit(batch: [[UInt8]]) {
        let target = members[0].lastIndex + UInt64(batch.count)
        do {
            try members[0].propose(batch)
        } catch {
            fatalError("the leader refused a proposal: \(error)")
        }
        pump()
        precondition(committed >= target, "entries not committed")
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .mallocCountTotal],
                                           warmupIterations: 1, scalingFactor: .kilo,
                                           maxDuration: .seconds(5), maxIterations: 50)
    for size in [16, 256] {
        let payload = [UInt8](repeating: 0x42, count: size)
        Benchmark("commit \(size) B entries one at a time (3 members, in memory)") { benchmark, trio in
            for _ in benchmark.scaledIterations { trio.commit(batch: [payload]) }
        } setup: {
            Trio()
        }
        // Each iteration commits one batch of 64 entries: entries per second = throughput x 64.
        Benchmark("commit \(size) B entries in batches of 64 (3 members, in memory)",
                  configuration: .init(scalingFactor: .one, maxIterations: 20_000)) { benchmark, trio in
            let batch = Array(repeating: payload, count: 64)
            for _ in benchmark.scaledIterations { trio.commit(batch: batch) }
        } setup: {
            Trio()
        }
    }
}
