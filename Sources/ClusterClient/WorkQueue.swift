import Synchronization

/// The rate-limited work queue controllers take keys from: `WorkQueueState` (the pure core) behind a lock, workers
/// that wait for keys, and a timer that brings back keys whose backoff is over. Times are seconds of the
/// monotonic clock.
public final class WorkQueue<Key: Hashable & Sendable>: Sendable {
    private struct Inner {
        var core: WorkQueueState<Key>
        /// Workers waiting for a key, in arrival order, by id (so that a cancelled one can leave).
        var waiters: [(id: Int, continuation: CheckedContinuation<Key?, Never>)] = []
        var nextWaiter = 0
        var shutDown = false
        /// The due time the timer task sleeps until, and the task.
        var timerDue: Double?
        var timer: Task<Void, Never>?
    }

    private let inner: Mutex<Inner>
    private let start = ContinuousClock.now

    public init(baseDelay: Double = 0.005, maxDelay: Double = 1000) {
        inner = Mutex(Inner(core: WorkQueueState(baseDelay: baseDelay, maxDelay: maxDelay)))
    }

    private var now: Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    public func add(_ key: Key) {
        let woken = inner.withLock { inner -> [(CheckedContinuation<Key?, Never>, Key)] in
            guard !inner.shutDown else { return [] }
            inner.core.add(key)
            return Self.handOut(&inner)
        }
        for (waiter, key) in woken { waiter.resume(returning: key) }
    }

    /// Adds `key` after its per-key backoff (a failure).
    public func addRateLimited(_ key: Key) {
        let now = self.now
        inner.withLock { inner in
            guard !inner.shutDown else { return }
            let due = inner.core.addRateLimited(key, now: now)
            schedule(due, in: &inner)
        }
    }

    /// Adds `key` after `delay` seconds.
    public func addAfter(_ key: Key, delay: Double) {
        guard delay > 0 else { return add(key) }
        let due = now + delay
        inner.withLock { inner in
            guard !inner.shutDown else { return }
            inner.core.addAfter(key, due: due)
            schedule(due, in: &inner)
        }
    }

    /// Resets `key`'s backoff (it succeeded).
    public func forget(_ key: Key) {
        inner.withLock { $0.core.forget(key) }
    }

    public func failureCount(_ key: Key) -> Int {
        inner.withLock { $0.core.failureCount(key) }
    }

    /// Ends the processing of `key`; if it was added meanwhile, it is handed out again.
    public func done(_ key: Key) {
        let woken = inner.withLock { inner -> [(CheckedContinuation<Key?, Never>, Key)] in
            inner.core.done(key)
            return inner.shutDown ? [] : Self.handOut(&inner)
        }
        for (waiter, key) in woken { waiter.resume(returning: key) }
    }

    /// The next key to process (call `done` after), waiting for one; nil once the queue is shut down or the
    /// waiting task is cancelled (a controller that stops leading).
    public func next() async -> Key? {
        let id = inner.withLock { inner in
            defer { inner.nextWaiter += 1 }
            return inner.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let answer = inner.withLock { inner -> Key?? in
                    if inner.shutDown || Task.isCancelled { return .some(nil) }
                    if let key = inner.core.next() { return .some(key) }
                    inner.waiters.append((id, continuation))
                    return .none
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let waiter = inner.withLock { inner -> CheckedContinuation<Key?, Never>? in
                guard let index = inner.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return inner.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Keys ready now (the `workqueue_depth` gauge).
    public var depth: Int { inner.withLock { $0.core.readyCount } }
    /// Keys ready or waiting out a backoff.
    public var pendingCount: Int { inner.withLock { $0.core.pendingCount } }

    /// Wakes every waiting worker with nil and drops further adds.
    public func shutDown() {
        let (waiters, timer) = inner.withLock { inner in
            inner.shutDown = true
            defer { inner.waiters = []; inner.timer = nil }
            return (inner.waiters, inner.timer)
        }
        timer?.cancel()
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
    }

    private static func handOut(_ inner: inout Inner) -> [(CheckedContinuation<Key?, Never>, Key)] {
        var woken: [(CheckedContinuation<Key?, Never>, Key)] = []
        while !inner.waiters.isEmpty, let key = inner.core.next() {
            woken.append((inner.waiters.removeFirst().continuation, key))
        }
        return woken
    }

    /// Makes the timer fire by `due`.
    private func schedule(_ due: Double, in inner: inout Inner) {
        if let current = inner.timerDue, current <= due { return }
        inner.timer?.cancel()
        inner.timerDue = due
        let delay = max(0, due - now)
        inner.timer = Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(Int((delay * 1000).rounded(.up))))
            guard !Task.isCancelled else { return }
            self?.timerFired()
        }
    }

    private func timerFired() {
        let now = self.now
        let woken = inner.withLock { inner -> [(CheckedContinuation<Key?, Never>, Key)] in
            inner.timerDue = nil
            inner.timer = nil
            guard !inner.shutDown else { return [] }
            inner.core.advance(to: now)
            if let next = inner.core.nextDue { schedule(next, in: &inner) }
            return Self.handOut(&inner)
        }
        for (waiter, key) in woken { waiter.resume(returning: key) }
    }
}
