import Dispatch
import Foundation
import NIOCore

/// The events both servers fan out: at `rate` per second for `duration` seconds, each a JSON line of about
/// `size` bytes stamped with its send time, encoded once and handed to every stream.
struct EventSource: Sendable {
    var rate: Double
    var duration: Double
    var size: Int

    init(query: String) {
        var values: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        rate = Double(values["rate"] ?? "") ?? 100
        duration = Double(values["duration"] ?? "") ?? 10
        size = Int(values["size"] ?? "") ?? 600
    }

    /// Publishes every event in turn, paced by the clock, then returns.
    func run(_ publish: @Sendable (ByteBuffer) -> Void) async {
        let total = Int(rate * duration)
        let start = ContinuousClock.now
        let padding = String(repeating: "x", count: max(0, size - 60))
        for index in 0..<total {
            let due = start + .nanoseconds(Int64(Double(index) / rate * 1e9))
            if due > ContinuousClock.now { try? await Task.sleep(until: due) }
            let line = #"{"type":"MODIFIED","t":\#(DispatchTime.now().uptimeNanoseconds),"pad":"\#(padding)"}"# + "\n"
            publish(ByteBuffer(string: line))
        }
    }
}

/// The server process's CPU time so far (user + system), in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
