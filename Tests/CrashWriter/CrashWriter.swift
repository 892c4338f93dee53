import MVCC
import MVCCModel

#if canImport(Glibc)
import Glibc
#endif

/// The child process of the crash test: applies a seeded random workload to a store, printing each applied
/// index once its batch is written, until it is killed (or has applied `count` entries).
/// Usage: mvcc-crash-writer DIRECTORY SEED COUNT
@main
struct CrashWriter {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 4, let seed = UInt64(arguments[2]), let count = UInt64(arguments[3]) else {
            report("usage: mvcc-crash-writer DIRECTORY SEED COUNT")
            exit(2)
        }
        var workload = Workload(seed: seed)
        var model = ReferenceModel(options: workload.options)
        let store = try MVCCStore(directory: arguments[1], options: workload.options)
        for index in 1...count {
            let command = workload.command(for: model)
            _ = model.apply(command, index: index)
            _ = try store.apply(command, index: index)
            if case .compact = command { try store.purgeCompacted(keysPerBatch: 3) }
            report(index)
        }
    }

    /// Writes a line straight to file descriptor 1, unbuffered, so the parent sees it before a SIGKILL can land.
    static func report(_ line: some CustomStringConvertible) {
        let bytes = Array("\(line)\n".utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    }
}
