import Raft
import RaftLogModel
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The child process of the Raft log crash test: applies a seeded sequence of log changes to a durable log with
/// small segments, printing each step's number once it is synced, until it is killed (or has made `count`).
/// Usage: raft-log-crash-writer DIRECTORY SEED COUNT SEGMENT-SIZE
@main
struct RaftLogCrashWriter {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 5, let seed = UInt64(arguments[2]), let count = Int(arguments[3]),
              let segmentSize = Int(arguments[4]) else {
            report("usage: raft-log-crash-writer DIRECTORY SEED COUNT SEGMENT-SIZE")
            exit(2)
        }
        var workload = LogWorkload(seed: seed)
        let log = try DurableRaftLog(directory: arguments[1], membership: LogWorkload.membership, segmentSize: segmentSize)
        for step in 1...count {
            switch workload.next() {
            case .save(let hardState, let entries, let snapshot, let sync):
                try log.save(hardState: hardState, entries: entries, snapshot: snapshot, sync: sync)
                if sync { report(step) }
            case .compact(let index):
                try log.compact(to: index, data: [], membership: LogWorkload.membership)
                report(step)
            }
        }
    }

    /// Writes a line straight to file descriptor 1, unbuffered, so the parent sees it before a SIGKILL can land.
    static func report(_ line: some CustomStringConvertible) {
        let bytes = Array("\(line)\n".utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    }
}
