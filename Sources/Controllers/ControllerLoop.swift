import ClusterClient
import Foundation
import Logging
import Resources

/// What every controller's shell shares: a rate-limited work queue of object keys (`namespace/name`), filled by
/// informer handlers whether or not this instance leads (standbys stay warm), and workers that take keys and run
/// the controller's `sync` while it leads. A sync that throws is retried with the key's backoff; one that asks
/// for a later look is requeued after that delay; one that succeeds resets the backoff.
public final class ControllerLoop: Sendable {
    public enum Outcome: Sendable {
        case done
        case requeue(after: Double)
    }

    public let name: String
    public let queue = WorkQueue<String>()
    private let logger: Logger

    public init(name: String, logger: Logger) {
        self.name = name
        self.logger = logger
    }

    public func enqueue(_ key: String) { queue.add(key) }

    public func enqueue(after delay: Double, _ key: String) { queue.addAfter(key, delay: delay) }

    /// Runs `workers` workers until cancelled; a worker that finds this instance no longer leading puts its key
    /// back and stops (the lead is being cancelled, and a write now could race the next leader's).
    public func run(workers: Int, isLeading: @escaping @Sendable () -> Bool,
                    sync: @escaping @Sendable (String) async throws -> Outcome) async {
        await withDiscardingTaskGroup { group in
            for _ in 0..<max(1, workers) {
                group.addTask {
                    while !Task.isCancelled, let key = await self.queue.next() {
                        guard isLeading() else {
                            self.queue.done(key)
                            self.queue.add(key)
                            return
                        }
                        do {
                            let outcome = try await sync(key)
                            self.queue.forget(key)
                            if case .requeue(let delay) = outcome { self.queue.addAfter(key, delay: delay) }
                        } catch {
                            let failures = self.queue.failureCount(key)
                            self.logger.log(level: failures > 5 ? .warning : .debug, "\(self.name) \(key): \(error)")
                            self.queue.addRateLimited(key)
                        }
                        self.queue.done(key)
                    }
                }
            }
        }
    }
}

/// A controller the controller manager runs: its informers' handlers enqueue keys from the start; `run` works
/// them off while this instance leads.
public protocol Controller: Sendable {
    /// Its name in `--controllers` ("replicaset", "deployment", …).
    var name: String { get }
    /// Enqueues every object it manages (on taking over, as nothing may have been acted on for a while).
    func enqueueAll()
    /// Works the queue until cancelled or no longer leading.
    func run(workers: Int, isLeading: @escaping @Sendable () -> Bool) async
}

/// Wall-clock seconds: controllers compare them with timestamps in objects (readiness, deadlines).
func wallClock() -> Double { Date().timeIntervalSince1970 }

/// A monotonic clock for expectations and backoffs.
struct MonotonicClock: Sendable {
    private let start = ContinuousClock.now

    var now: Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

/// An ObjectReference (for events' involvedObject) to `object`.
func reference(to json: JSONValue, apiVersion: String, kind: String) -> JSONValue {
    return ["apiVersion": .string(apiVersion), "kind": .string(kind),
            "namespace": json[path: ["metadata", "namespace"]] ?? "", "name": json[path: ["metadata", "name"]] ?? "",
            "uid": json[path: ["metadata", "uid"]] ?? ""]
}
