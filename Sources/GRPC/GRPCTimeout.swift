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
}
