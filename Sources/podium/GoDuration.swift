import NIOCore

/// Durations written as etcd's flags take them (Go's syntax): a sequence of numbers with units h, m, s, ms,
/// us, ns, e.g. "10m", "1m30s", "500ms".
enum GoDuration {
    static func parse(_ text: String) -> TimeAmount? {
        var rest = Substring(text)
        var total: Int64 = 0
        guard !rest.isEmpty else { return nil }
        // Go accepts a bare 0 (and only 0) without a unit.
        if text == "0" { return .zero }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { !$0.isNumber && $0 != "." }
            rest = rest.dropFirst(unit.count)
            let nanoseconds: Double
            switch unit {
            case "h": nanoseconds = 3_600e9
            case "m": nanoseconds = 60e9
            case "s": nanoseconds = 1e9
            case "ms": nanoseconds = 1e6
            case "us", "µs": nanoseconds = 1e3
            case "ns": nanoseconds = 1
            default: return nil
            }
            total += Int64(value * nanoseconds)
        }
        return .nanoseconds(total)
    }
}
