/// The pure core of a controller's rate-limited work queue, with client-go's semantics: a key waits in the
/// queue at most once however often it is added; a key being processed is not handed to a second worker — added
/// meanwhile, it comes back once the first is done; a key that failed comes back after a per-key exponential
/// backoff that `forget` resets. Clock-free: times are seconds on whatever monotonic clock the shell uses.
public struct WorkQueueState<Key: Hashable & Sendable>: Sendable {
    /// client-go's defaults: 5 ms doubling per failure, capped at 1,000 s.
    public var baseDelay: Double
    public var maxDelay: Double

    /// Keys ready, in the order they became ready.
    private var ready: [Key] = []
    private var readyStart = 0
    /// Keys waiting to be handed out (in `ready`, or to be requeued once done).
    private var dirty: Set<Key> = []
    private var processing: Set<Key> = []
    /// Keys waiting out a backoff, by when they become ready (the earliest wins when added twice).
    private var waiting: [Key: Double] = [:]
    private var failures: [Key: Int] = [:]

    public init(baseDelay: Double = 0.005, maxDelay: Double = 1000) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Keys ready to hand out now.
    public var readyCount: Int { ready.count - readyStart }
    /// Keys ready or waiting out a backoff (what a `workqueue_depth` gauge shows is `readyCount`).
    public var pendingCount: Int { readyCount + waiting.count }

    /// Queues `key` unless it is already waiting; a key being processed comes back once it is done.
    public mutating func add(_ key: Key) {
        guard dirty.insert(key).inserted else { return }
        if !processing.contains(key) { ready.append(key) }
    }

    /// The next ready key, now counted as being processed until `done`.
    public mutating func next() -> Key? {
        guard readyStart < ready.count else { return nil }
        let key = ready[readyStart]
        readyStart += 1
        if readyStart > 1024, readyStart * 2 > ready.count {
            ready.removeFirst(readyStart)
            readyStart = 0
        }
        dirty.remove(key)
        processing.insert(key)
        return key
    }

    /// Ends the processing of `key`; if it was added again meanwhile, it is ready again.
    public mutating func done(_ key: Key) {
        processing.remove(key)
        if dirty.contains(key) { ready.append(key) }
    }

    /// The backoff `key` gets on its next failure.
    public func delay(for key: Key) -> Double {
        let exponent = min(failures[key] ?? 0, 62)
        let delay = baseDelay * Double(UInt64(1) << UInt64(exponent))
        return min(delay, maxDelay)
    }

    /// Adds `key` after its backoff (which doubles with each failure until `forget`); returns when it is due
    /// (an earlier due time it already had stands).
    @discardableResult
    public mutating func addRateLimited(_ key: Key, now: Double) -> Double {
        let due = now + delay(for: key)
        failures[key, default: 0] += 1
        addAfter(key, due: due)
        return waiting[key] ?? due
    }

    /// Adds `key` once `due` has come (immediately if it has).
    public mutating func addAfter(_ key: Key, due: Double) {
        if let earlier = waiting[key], earlier <= due { return }
        waiting[key] = due
    }

    /// Clears `key`'s failures: its next backoff starts again from the base delay.
    public mutating func forget(_ key: Key) {
        failures[key] = nil
    }

    /// Failures counted for `key` since it was last forgotten.
    public func failureCount(_ key: Key) -> Int { failures[key] ?? 0 }

    /// Moves the keys whose time has come to the ready queue, earliest first.
    public mutating func advance(to now: Double) {
        let due = waiting.filter { $0.value <= now }.sorted { $0.value < $1.value }
        for (key, _) in due {
            waiting[key] = nil
            add(key)
        }
    }

    /// When the next waiting key becomes due (nil: none waits): the shell sleeps until then.
    public var nextDue: Double? { waiting.values.min() }
}
