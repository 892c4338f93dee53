/// What a controller has asked for and not yet seen in its informer: creations (a count) and deletions (the pod
/// keys), per controller object. While any are outstanding the controller does not act on its cache, which may
/// not yet show its own writes — that is what keeps a slow informer from causing duplicate pods. Expectations
/// lapse after `timeout` seconds so that a lost watch event cannot stall a controller forever. Pure; times are
/// seconds of any monotonic clock.
public struct ControllerExpectations: Sendable {
    public static let timeout = 300.0

    struct Entry: Sendable {
        var creations = 0
        var deletions: Set<String> = []
        var setAt: Double
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    /// Replaces what `key` expects (a miscount never carries over to the next round).
    public mutating func expectCreations(_ key: String, count: Int, now: Double) {
        entries[key] = Entry(creations: count, setAt: now)
    }

    /// A creation showed up in the informer, or failed (it never will).
    public mutating func creationObserved(_ key: String) {
        guard var entry = entries[key] else { return }
        entry.creations = max(0, entry.creations - 1)
        entries[key] = entry
    }

    public mutating func expectDeletions(_ key: String, podKeys: [String], now: Double) {
        entries[key] = Entry(deletions: Set(podKeys), setAt: now)
    }

    /// A deletion showed up (the pod was marked deleting or removed), or failed.
    public mutating func deletionObserved(_ key: String, podKey: String) {
        entries[key]?.deletions.remove(podKey)
    }

    /// Whether the controller may trust its cache for `key`.
    public func isSatisfied(_ key: String, now: Double) -> Bool {
        guard let entry = entries[key] else { return true }
        if entry.creations <= 0 && entry.deletions.isEmpty { return true }
        return now - entry.setAt >= Self.timeout
    }

    /// Seconds until `key`'s expectations lapse (nil when met).
    public func secondsUntilLapse(_ key: String, now: Double) -> Double? {
        guard !isSatisfied(key, now: now), let entry = entries[key] else { return nil }
        return entry.setAt + Self.timeout - now
    }

    /// The pods `key` is deleting and has not yet seen go.
    public func pendingDeletions(_ key: String) -> Set<String> {
        entries[key]?.deletions ?? []
    }

    public mutating func forget(_ key: String) {
        entries[key] = nil
    }

    public func outstanding(_ key: String) -> (creations: Int, deletions: Int) {
        (entries[key]?.creations ?? 0, entries[key]?.deletions.count ?? 0)
    }
}
