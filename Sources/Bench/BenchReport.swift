import Foundation

/// What a run measured: printed as a summary for people or as JSON for scripts (tools/bench-vs-etcd).
public struct BenchReport: Sendable {
    public var workload: String
    public var parameters: [String: String] = [:]
    public var seconds: Double = 0
    public var succeeded = 0
    public var latency = LatencyHistogram()
    public var errors: [String: Int] = [:]
    /// Further figures a workload measures (events per second, delivery latency, …), by name.
    public var figures: [String: Double] = [:]
    /// A second latency distribution some workloads measure (watch delivery), by name.
    public var extraLatencies: [String: LatencyHistogram] = [:]

    public init(workload: String) {
        self.workload = workload
    }

    public var failed: Int { errors.values.reduce(0, +) }
    public var throughput: Double { seconds > 0 ? Double(succeeded) / seconds : 0 }

    static let percentiles: [(String, Double)] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)]

    static func milliseconds(_ histogram: LatencyHistogram) -> [String: Double] {
        var fields = ["mean": histogram.mean / 1e6, "max": Double(histogram.max) / 1e6]
        for (name, fraction) in percentiles { fields[name] = Double(histogram.value(atFraction: fraction)) / 1e6 }
        return fields
    }

    public func json() -> String {
        var object: [String: Any] = [
            "workload": workload, "parameters": parameters, "seconds": seconds, "succeeded": succeeded,
            "failed": failed, "throughput": throughput, "latencyMs": Self.milliseconds(latency), "errors": errors,
        ]
        for (name, value) in figures { object[name] = value }
        for (name, histogram) in extraLatencies { object[name + "Ms"] = Self.milliseconds(histogram) }
        // Safe to force: the object holds only strings, numbers and dictionaries of them.
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    public func text() -> String {
        let settings = parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        var lines = ["\(workload): \(settings)",
                     String(format: "  %d succeeded, %d failed in %.2f s: %.1f requests/s", succeeded, failed, seconds, throughput),
                    ] + (latency.count > 0 ? ["  latency ms:  " + Self.line(latency)] : [])
        for (name, value) in figures.sorted(by: { $0.key < $1.key }) {
            lines.append(String(format: "  %@: %.1f", name, value))
        }
        for (name, histogram) in extraLatencies.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(name) ms:  " + Self.line(histogram))
        }
        for (error, count) in errors.sorted(by: { $0.value > $1.value }) { lines.append("  error ×\(count): \(error)") }
        return lines.joined(separator: "\n")
    }

    static func line(_ histogram: LatencyHistogram) -> String {
        let fields = milliseconds(histogram)
        return (["mean"] + percentiles.map(\.0) + ["max"])
            .map { String(format: "%@ %.3f", $0, fields[$0] ?? 0) }.joined(separator: "  ")
    }
}
