import HeapModule

/// The scheduler's queue, pure and clock-free (Kubernetes' scheduling queue, simplified): pods wait in priority
/// order, then in the order they arrived; a pod that did not fit waits out a backoff (1 s doubling to 10 s per
/// attempt) and then until the cluster changes (a node added or changed, a pod removed), or at most
/// `unschedulableTimeout`, before it is tried again.
public struct SchedulingQueue: Sendable {
    public var initialBackoff: Double = 1
    public var maxBackoff: Double = 10
    public var unschedulableTimeout: Double = 60

    struct Entry: Sendable {
        var pod: SchedulingPod
        var sequence: Int
        var attempts = 0
    }

    /// A pod's turn: higher priority first, then lower sequence (older).
    struct Turn: Comparable, Sendable {
        var priority: Int64
        var sequence: Int
        var key: String

        static func < (lhs: Turn, rhs: Turn) -> Bool {
            lhs.priority != rhs.priority ? lhs.priority > rhs.priority : lhs.sequence < rhs.sequence
        }
    }

    /// A pod that did not fit.
    struct Waiting: Sendable {
        var entry: Entry
        /// When it may be retried at the earliest.
        var backoffUntil: Double
        var failedAt: Double
        /// `changes` when it failed: a later change of the cluster may make it fit.
        var changesAtFailure: Int
        /// Its own spec changed since.
        var specChanged = false

        func wake(changes: Int, timeout: Double) -> Double {
            specChanged || changes > changesAtFailure ? backoffUntil : max(backoffUntil, failedAt + timeout)
        }
    }

    /// Pods to try, by key; `turns` orders them (lazily: a turn whose pod left or re-entered is skipped on popping).
    private var active: [String: Entry] = [:]
    private var turns = Heap<Turn>()
    private var unschedulable: [String: Waiting] = [:]
    /// Changes of the cluster so far (`clusterChanged` counts; a waiting pod compares).
    private var changes = 0
    /// No waiting pod moves before this (a lower bound, exact after each `advance` that scanned), nor any waiting
    /// pod's backoff ends before `backoffBound`: `advance` scans the waiting pods only when one may move.
    private var wakeBound = Double.infinity
    private var backoffBound = Double.infinity
    /// Pods being scheduled now (popped, not yet done).
    private var inFlight: [String: Entry] = [:]
    private var nextSequence = 0

    public init() {}

    public var activeCount: Int { active.count }
    public var unschedulableCount: Int { unschedulable.count }
    /// Pods waiting (the `scheduler_pending_pods` gauge).
    public var pendingCount: Int { active.count + unschedulable.count }

    /// Adds a pod to schedule, or updates one already waiting (in place, keeping its turn and its backoff); a pod
    /// that did not fit is retried after its backoff when its spec changed (not for a status update).
    public mutating func add(_ pod: SchedulingPod, specChanged: Bool = true) {
        let key = pod.key
        if active[key] != nil {
            active[key]?.pod = pod
            return
        }
        if var waiting = unschedulable[key] {
            waiting.entry.pod = pod
            if specChanged {
                waiting.specChanged = true
                wakeBound = min(wakeBound, waiting.backoffUntil)
            }
            unschedulable[key] = waiting
            return
        }
        if inFlight[key] != nil {
            inFlight[key]?.pod = pod
            return
        }
        let entry = Entry(pod: pod, sequence: nextSequence)
        nextSequence += 1
        activate(key, entry)
    }

    /// Forgets a pod (deleted, or bound by someone).
    public mutating func remove(_ key: String) {
        active[key] = nil
        unschedulable[key] = nil
        inFlight[key] = nil
    }

    /// The next pod to schedule: highest priority, then oldest.
    public mutating func pop() -> SchedulingPod? {
        while let turn = turns.popMin() {
            guard let entry = active[turn.key], entry.sequence == turn.sequence else { continue }
            active[turn.key] = nil
            inFlight[turn.key] = entry
            return entry.pod
        }
        return nil
    }

    /// Whether `key` was popped and is still being scheduled (not deleted or bound meanwhile).
    public func isInFlight(_ key: String) -> Bool { inFlight[key] != nil }

    /// Puts a popped pod back in its turn, without a backoff (this scheduler stopped leading).
    public mutating func requeue(_ key: String) {
        guard let entry = inFlight.removeValue(forKey: key) else { return }
        activate(key, entry)
    }

    /// The pod popped last was placed (or is gone): it leaves the queue.
    public mutating func done(_ key: String) {
        inFlight[key] = nil
    }

    /// The pod did not fit (or its binding failed): it waits for its backoff and a change of the cluster.
    public mutating func failed(_ key: String, now: Double) {
        guard var entry = inFlight.removeValue(forKey: key) else { return }
        entry.attempts += 1
        let backoff = min(initialBackoff * Double(1 << min(entry.attempts - 1, 30)), maxBackoff)
        let waiting = Waiting(entry: entry, backoffUntil: now + backoff, failedAt: now, changesAtFailure: changes)
        unschedulable[key] = waiting
        wakeBound = min(wakeBound, waiting.wake(changes: changes, timeout: unschedulableTimeout))
        backoffBound = min(backoffBound, waiting.backoffUntil)
    }

    /// Something changed that may make waiting pods fit: each goes back once its backoff is over. O(1): it is
    /// called for every node change and every pod that leaves.
    public mutating func clusterChanged() {
        changes += 1
        wakeBound = min(wakeBound, backoffBound)
    }

    /// Moves back the pods whose backoff is over and whose cluster changed (or that waited the timeout). Scans the
    /// waiting pods only when one may move (it runs before every pop).
    public mutating func advance(to now: Double) {
        guard now >= wakeBound else { return }
        var nextWake = Double.infinity
        var nextBackoff = Double.infinity
        for (key, waiting) in unschedulable {
            let wake = waiting.wake(changes: changes, timeout: unschedulableTimeout)
            if now >= wake {
                unschedulable[key] = nil
                activate(key, waiting.entry)
            } else {
                nextWake = min(nextWake, wake)
                nextBackoff = min(nextBackoff, waiting.backoffUntil)
            }
        }
        wakeBound = nextWake
        backoffBound = nextBackoff
    }

    /// When `advance` may next move a pod (nil: nothing waits); possibly early, never late.
    public var nextWake: Double? {
        wakeBound.isFinite ? wakeBound : nil
    }

    private mutating func activate(_ key: String, _ entry: Entry) {
        active[key] = entry
        turns.insert(Turn(priority: entry.pod.priority, sequence: entry.sequence, key: key))
        // Turns of pods that left before their turn came: rebuilt when they outnumber the live ones.
        if turns.count > 1024, turns.count > 2 * active.count {
            turns = Heap(active.map { Turn(priority: $0.value.pod.priority, sequence: $0.value.sequence, key: $0.key) })
        }
    }
}
