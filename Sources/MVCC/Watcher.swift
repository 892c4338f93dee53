import Synchronization

/// One watch on the store: a key or range from a start revision, read by its consumer with `poll()` or `next()`.
///
/// Cancel a watcher when done with it; the hub holds it until then. A watcher whose store has been closed
/// reports `.canceled`.
public final class Watcher: Sendable {
    enum Mode: Equatable {
        /// Receiving live events into the buffer.
        case live
        /// Behind: the consumer reads from storage, starting at `nextRevision`.
        case behind
        /// Finished; the poll result that says why, reported once, then `.canceled`.
        case finished(WatchPoll)
    }

    struct State {
        var mode: Mode
        /// Offered revisions' events, one array per offer (appending an array costs one reference, not a copy
        /// of each event, on the writer's thread); flattened by the consumer.
        var buffer: [[WatchEvent]] = []
        var bufferedCount = 0
        /// The first revision not yet in the buffer nor delivered.
        var nextRevision: Int64
        /// The consumer saw nothing new and waits for a signal.
        var armed = true
        /// A signal arrived while no `next()` was waiting.
        var pendingSignal = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    public let id: Int64
    public let request: WatchRequest
    /// Weak: the hub holds its watchers, and must not be kept alive by them once its store is gone.
    private weak let hub: WatchHub?
    let notify: @Sendable () -> Void
    let startsBehind: Bool
    private let state: Mutex<State>

    init(id: Int64, request: WatchRequest, hub: WatchHub, notify: @escaping @Sendable () -> Void, nextRevision: Int64,
         behind: Bool) {
        self.id = id
        self.request = request
        self.hub = hub
        self.notify = notify
        startsBehind = behind
        state = Mutex(State(mode: behind ? .behind : .live, nextRevision: nextRevision))
    }

    // MARK: consumer side

    /// The next thing to report, without waiting. Reads from storage when the watcher is behind (the
    /// consumer, not the writer, pays for catching up).
    public func poll() throws -> WatchPoll {
        var batches: [[WatchEvent]] = []
        let outcome = try poll(batches: &batches)
        guard case .events = outcome else { return outcome }
        return .events(batches.count == 1 ? batches[0] : batches.flatMap { $0 })
    }

    /// Like `poll()`, but events come in `batches` (replacing its contents) as they were published, one array
    /// per revision shared by every watcher it was offered to, or as read from storage; the result is then
    /// `.events([])`. A consumer serving many watchers can so recognise an array it has already encoded.
    /// `maxEvents` bounds what one poll takes (whole revisions, at least one): a consumer that writes each event
    /// for many clients keeps what it produces between two checks of its client's window bounded.
    public func poll(batches: inout [[WatchEvent]], maxEvents: Int = .max) throws -> WatchPoll {
        batches.removeAll(keepingCapacity: true)
        while true {
            let from: Int64
            let snapshot: WatchPoll? = state.withLock { state in
                switch state.mode {
                case .finished(let outcome):
                    state.mode = .finished(.canceled)
                    return outcome
                case _ where state.bufferedCount > 0:
                    guard state.bufferedCount > maxEvents else {
                        swap(&batches, &state.buffer)
                        state.bufferedCount = 0
                        return .events([])
                    }
                    var taken = 0
                    var count = 0
                    while count < state.buffer.count, count == 0 || taken + state.buffer[count].count <= maxEvents {
                        taken += state.buffer[count].count
                        count += 1
                    }
                    batches.append(contentsOf: state.buffer[..<count])
                    state.buffer.removeFirst(count)
                    state.bufferedCount -= taken
                    return .events([])
                case .live:
                    state.armed = true
                    return .idle
                case .behind:
                    return nil
                }
            }
            if let snapshot { return snapshot }
            from = state.withLock { $0.nextRevision }
            guard let hub else {
                finish(.canceled)
                continue
            }

            let (published, compactRevision) = hub.positions()
            if from < compactRevision { return finishCompacted(compactRevision) }
            if from > published {
                // Caught up: back to live delivery (unless the watcher was canceled meanwhile); poll again.
                hub.rejoin(self)
                continue
            }
            let (events, next) = try hub.history.read(for: request, from: from, through: published,
                                                      maxEvents: min(hub.catchUpBatch, maxEvents))
            // A compaction that ran during the read may have removed part of what we read.
            let compactAfterRead = hub.positions().compactRevision
            if from < compactAfterRead { return finishCompacted(compactAfterRead) }
            let stillBehind = state.withLock { state in
                guard state.mode == .behind else { return false }
                state.nextRevision = next
                return true
            }
            guard stillBehind else { continue }
            if !events.isEmpty {
                batches = [events]
                return .events([])
            }
        }
    }

    /// Waits for and returns the next events; nil once the watcher is canceled. A compaction of the
    /// watcher's next revision throws `MVCCError.compacted`.
    public func next() async throws -> [WatchEvent]? {
        while true {
            switch try poll() {
            case .events(let events): return events
            case .compacted(let revision): throw MVCCError.compacted(compactRevision: revision)
            case .canceled: return nil
            case .idle: await waitForSignal()
            }
        }
    }

    /// Stops the watcher; a waiting `next()` returns nil.
    public func cancel() {
        finish(.canceled)
    }

    // MARK: hub side

    /// Offers a published revision's matching events; true when the consumer should be signalled.
    /// Called with the hub's registry lock held.
    func offer(_ events: [WatchEvent], withoutPrevKV: [WatchEvent], revision: Int64, limit: Int) -> Bool {
        state.withLock { state in
            guard state.mode == .live, revision >= state.nextRevision else { return false }
            let shaped = request.shaped(request.prevKV ? events : withoutPrevKV)
            if shaped.isEmpty {
                state.nextRevision = revision + 1
                return false
            }
            if state.bufferedCount + shaped.count > limit {
                // Too far behind: keep what is buffered, read this revision and later ones from storage.
                state.mode = .behind
                state.nextRevision = revision
            } else {
                state.buffer.append(shaped)
                state.bufferedCount += shaped.count
                state.nextRevision = revision + 1
            }
            if state.armed {
                state.armed = false
                return true
            }
            return false
        }
    }

    /// Stops live delivery: the consumer reads from storage from its next revision on.
    func fallBehind() {
        state.withLock { state in
            if state.mode == .live { state.mode = .behind }
        }
    }

    /// Whether the consumer has taken everything offered so far: live, nothing buffered. (A watcher behind,
    /// reading from storage, is not.)
    public var isCaughtUp: Bool {
        state.withLock { $0.mode == .live && $0.bufferedCount == 0 }
    }

    /// Called with the hub's registry lock held.
    func rejoinIfCaughtUp(publishedRevision: Int64) {
        state.withLock { state in
            if state.mode == .behind && state.nextRevision > publishedRevision { state.mode = .live }
        }
    }

    /// Wakes the consumer: a waiting `next()` and the `notify` callback.
    func signal() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pendingSignal = true
            return nil
        }
        waiter?.resume()
        notify()
    }

    private func waitForSignal() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = state.withLock { state in
                if state.pendingSignal {
                    state.pendingSignal = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    private func finishCompacted(_ revision: Int64) -> WatchPoll {
        hub?.remove(self)
        return state.withLock { state in
            if case .finished = state.mode {
                state.mode = .finished(.canceled)
                return .canceled
            }
            state.mode = .finished(.canceled)
            return .compacted(compactRevision: revision)
        }
    }

    /// Ends the watcher: `outcome` is what the next poll reports. Called when canceled, and by the hub when its
    /// store goes away.
    func finish(_ outcome: WatchPoll) {
        hub?.remove(self)
        let alreadyFinished: Bool = state.withLock { state in
            if case .finished = state.mode { return true }
            state.mode = .finished(outcome)
            state.buffer.removeAll()
            state.bufferedCount = 0
            return false
        }
        if !alreadyFinished { signal() }
    }
}
