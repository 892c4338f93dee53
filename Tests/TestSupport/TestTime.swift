#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one place test deadlines are scaled. Every wait for a condition, and the fast clocks of in-process
/// clusters, multiply by `scale`, read from `PODIUM_TEST_TIME_SCALE` (1 when unset; `tools/leak-check` sets 3:
/// AddressSanitizer makes everything several times slower), so a slow or loaded machine gets more time
/// without any test changing.
public enum TestTime {
    public static let scale: Double = {
        guard let text = getenv("PODIUM_TEST_TIME_SCALE").map({ String(cString: $0) }), let value = Double(text),
              value >= 1 else { return 1 }
        return value
    }()

    /// `seconds` on an idle machine, scaled.
    public static func seconds(_ seconds: Double) -> Double { seconds * scale }

    /// `duration` on an idle machine, scaled.
    public static func scaled(_ duration: Duration) -> Duration { duration * scale }
}

/// Polls `value` until it returns non-nil or `seconds` (scaled by `TestTime`) pass; then tries once more.
public func eventually<T>(within seconds: Double = 60, every poll: Duration = .milliseconds(20),
                          _ value: () async throws -> T?) async throws -> T? {
    let deadline = ContinuousClock.now + .seconds(TestTime.seconds(seconds))
    while ContinuousClock.now < deadline {
        if let found = try await value() { return found }
        try await Task.sleep(for: poll)
    }
    return try await value()
}
