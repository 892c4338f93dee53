import NIOCore

/// The `grpc-timeout` request header: up to 8 digits and a unit (H, M, S, m, u, n).
enum GRPCTimeout {
    static func parse(_ value: String) -> TimeAmount? {
        guard let unit = value.last, value.count >= 2, value.count <= 9,
              let amount = Int64(value.dropLast()), amount >= 0 else { return nil }
        switch unit {
        case "H": return .hours(amount)
        case "M": return .minutes(amount)
        case "S": return .seconds(amount)
        case "m": return .milliseconds(amount)
        case "u": return .microseconds(amount)
        case "n": return .nanoseconds(amount)
        default: return nil
        }
    }

    /// The header value for `timeout`: in the finest unit from milliseconds up whose count fits the 8 digits
    /// the header allows (a count of milliseconds alone would be invalid from about 27.8 hours on), rounded
    /// down so the server never waits longer than the client; at least 1 ms, at most 99999999 hours.
    static func encode(_ timeout: TimeAmount) -> String {
        let limit: Int64 = 99_999_999
        let milliseconds = max(timeout.nanoseconds / 1_000_000, 1)
        for (unit, perUnit) in [("m", Int64(1)), ("S", 1000), ("M", 60_000)] where milliseconds / perUnit <= limit {
            return "\(milliseconds / perUnit)\(unit)"
        }
        return "\(min(milliseconds / 3_600_000, limit))H"
    }
}
