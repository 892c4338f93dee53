import Benchmark
import BinaryCoding
import Foundation
import Raft
import Store

/// A durable Raft log in a fresh temporary directory, appended to as a member's Raft loop does. Benchmarks cannot
/// throw, so a storage failure stops the run with its message.
final class LogHarness: @unchecked Sendable {
    // @unchecked Sendable: used by one benchmark at a time, from one thread.
    let directory: String
    let log: DurableRaftLog
    let data = [UInt8](repeating: 0x5A, count: 300)
    let membership = Membership(voters: [1, 2, 3])

    init() {
        directory = NSTemporaryDirectory() + "podium-bench-\(UUID().uuidString)"
        do {
            log = try DurableRaftLog(directory: directory, membership: membership)
        } catch {
            fatalError("cannot open the log: \(error)")
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Appends `count` entries of 300 B in one save; compacts now and then so old segments are removed.
    func append(_ count: Int, sync: Bool) {
        let first = log.lastIndex + 1
        let entries = (0..<UInt64(count)).map { Entry(term: 1, index: first + $0, data: data) }
        do {
            try log.save(hardState: HardState(term: 1, vote: 1, commit: first - 1), entries: entries, snapshot: nil, sync: sync)
            if log.lastIndex - log.firstIndex > 200_000 {
                try log.compact(to: log.lastIndex - 10_000, data: [], membership: membership)
            }
        } catch {
            fatalError("save failed: \(error)")
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .mallocCountTotal],
                                           warmupIterations: 1, scalingFactor: .kilo,
                                           maxDuration: .seconds(5), maxIterations: 50)

    // What a follower does per append message: encode, checksum and write one record (the fsync is measured
    // apart, below: it is the disk's, not ours).
    for batch in [1, 100] {
        Benchmark("save \(batch) entries of 300 B, no fsync") { benchmark, harness in
            for _ in benchmark.scaledIterations { harness.append(batch, sync: false) }
        } setup: {
            LogHarness()
        }
    }

    Benchmark("save 1 entry of 300 B with fdatasync", configuration: .init(scalingFactor: .one, maxIterations: 2000)) { benchmark, harness in
        for _ in benchmark.scaledIterations { harness.append(1, sync: true) }
    } setup: {
        LogHarness()
    }

    // Applying what was just committed: the entries come from the log's memory of its tail.
    Benchmark("read back the last 100 entries") { benchmark, harness in
        for _ in benchmark.scaledIterations {
            let last = harness.log.lastIndex
            blackHole(harness.log.entries((last - 99)..<(last + 1), maxBytes: .max))
        }
    } setup: { () -> LogHarness in
        let harness = LogHarness()
        harness.append(100, sync: false)
        return harness
    }

    Benchmark("CRC-32C of 4 KiB") { benchmark, bytes in
        for _ in benchmark.scaledIterations {
            blackHole(bytes.withUnsafeBytes { CRC32C.checksum($0) })
        }
    } setup: {
        [UInt8](repeating: 0xA5, count: 4096)
    }
}
