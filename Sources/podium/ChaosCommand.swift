import ArgumentParser
import Chaos
import EtcdProto
import Foundation
import GRPC
import NIOCore
import NIOPosix

/// `podium chaos`: a Jepsen-style test of a real local cluster. Clients run puts, compare-and-swaps,
/// linearizable gets and deletes on a few keys and watchers follow them, while a nemesis kills (the leader more
/// often) and restarts masters, pauses them, and isolates, one-ways or slows their peer links (`PeerLinkProxy`).
/// Then the recorded history is checked (see `HistoryCheck`).
struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Run clients against a local cluster while masters are killed, paused and cut off; check the history.",
        discussion: """
            Starts its own cluster under --data-dir (replacing what a previous run left there) and saves the run \
            (seed, faults, every operation, the store's log, what each watcher saw) as history.json there. \
            `podium chaos --check FILE` checks a saved run again.
            """)

    @Option(help: "Seconds of load and faults.")
    var duration = 60.0

    @Option(help: "Seconds between faults; each fault lasts about 60% of it.")
    var interval = 5.0

    @Option(help: "Concurrent clients.")
    var clients = 6

    @Option(help: "Watchers following every key.")
    var watchers = 2

    @Option(help: "How many keys the clients share.")
    var keys = 4

    @Option(help: "Masters: 3 or 5.")
    var masters = 3

    @Option(help: "Seed of the clients' and the nemesis' choices (random if not given; printed).")
    var seed: UInt64?

    @Option(name: .customLong("data-dir"), help: "Where the cluster and the saved history go.")
    var dataDirectory = ".podium-chaos"

    @Option(help: "Check a saved history.json instead of running.")
    var check: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard masters == 3 || masters == 5 else { throw ValidationError("--masters must be 3 or 5") }
        guard duration > 0, interval > 0.5 else { throw ValidationError("--duration must be positive and --interval above 0.5") }
        guard (1...256).contains(clients), (0...64).contains(watchers), (1...1000).contains(keys) else {
            throw ValidationError("--clients 1...256, --watchers 0...64, --keys 1...1000")
        }
    }

    func run() async throws {
        if let check {
            let run = try JSONDecoder().decode(ChaosRun.self, from: Data(contentsOf: URL(fileURLWithPath: check)))
            try report(run, savedAt: check)
            return
        }
        let seed = seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        let directory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        let runner = try await ChaosRunner(directory: directory, masters: masters, seed: seed)
        let quiet = json
        // Written unbuffered, so a long run's progress survives the run being killed.
        let log: @Sendable (String) -> Void = { line in
            if !quiet { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        }
        let history: History
        do {
            history = try await runner.run(duration: duration, interval: interval, clients: clients, watchers: watchers, keys: keys,
                                           log: log)
        } catch {
            await runner.shutdown()
            throw error
        }
        await runner.shutdown()
        let run = ChaosRun(seed: seed, duration: duration, interval: interval, clients: clients, keys: keys, history: history)
        let path = directory + "/history.json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(run).write(to: URL(fileURLWithPath: path))
        try report(run, savedAt: path)
    }

    private func report(_ run: ChaosRun, savedAt path: String) throws {
        let check = HistoryCheck(run.history)
        let failovers = check.failovers.sorted()
        func percentile(_ p: Double) -> Double? {
            failovers.isEmpty ? nil : failovers[min(failovers.count - 1, Int((Double(failovers.count) * p).rounded(.up)) - 1)]
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            var object = try JSONSerialization.jsonObject(with: encoder.encode(check)) as? [String: Any] ?? [:]
            object["passed"] = check.passed
            object["seed"] = run.seed
            object["history"] = path
            object["faults"] = run.history.faults.count
            object["failoverMedian"] = percentile(0.5)
            object["failoverP99"] = percentile(0.99)
            object["failoverMax"] = failovers.last
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
        } else {
            print("seed \(run.seed); \(run.history.operations.count) operations, \(run.history.faults.count) fault events, "
                  + "\(run.history.log.count) changes in the log")
            for (kind, outcomes) in check.operations.sorted(by: { $0.key < $1.key }) {
                print("  \(kind): " + outcomes.sorted(by: { $0.key < $1.key }).map { "\($0.value) \($0.key)" }.joined(separator: ", "))
            }
            print("watchers: \(check.watchEvents) events, \(check.watchResumptions) resumptions")
            if let median = percentile(0.5), let p99 = percentile(0.99), let max = failovers.last {
                print(String(format: "failover (leader killed -> first write acknowledged), %d kills: median %.3f s, p99 %.3f s, max %.3f s",
                             failovers.count, median, p99, max))
            }
            print("linearizability violations: \(check.violations.count) keys; inconclusive: \(check.inconclusive.count); "
                  + "lost writes: \(check.lostWrites.count); writes from nowhere: \(check.phantomWrites.count); "
                  + "watch problems: \(check.watchProblems.count)")
            for (key, indexes) in check.violations { print("  not linearizable: \(key), operations \(indexes.prefix(20))") }
            for index in check.lostWrites.prefix(20) { print("  lost: \(run.history.operations[index])") }
            for problem in check.watchProblems.prefix(20) { print("  \(problem)") }
            print(check.passed ? "PASSED (history: \(path))" : "FAILED: the history is in \(path); rerun the schedule with --seed \(run.seed)")
        }
        if !check.passed { throw ExitCode(1) }
    }
}

/// A saved run.
struct ChaosRun: Codable {
    var seed: UInt64
    var duration: Double
    var interval: Double
    var clients: Int
    var keys: Int
    var history: History
}
