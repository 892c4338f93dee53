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

    /// Pods to try, by key; `order` holds their (priority, sequence) sorted for popping.
    private var active: [String: Entry] = [:]
    private var order: [(priority: Int64, sequence: Int, key: String)] = []
    private var orderStart = 0
    private var orderSorted = true
    /// Pods that did not fit: when they may be retried at the earliest, and whether the cluster changed since.
    private var unschedulable: [String: (entry: Entry, backoffUntil: Double, failedAt: Double, clusterChanged: Bool)] = [:]
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
        if unschedulable[key] != nil {
            unschedulable[key]?.entry.pod = pod
            if specChanged { unschedulable[key]?.clusterChanged = true }
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
        if !orderSorted {
            order.removeFirst(orderStart)
            orderStart = 0
            order.sort { $0.priority != $1.priority ? $0.priority > $1.priority : $0.sequence < $1.sequence }
            orderSorted = true
        }
        while orderStart < order.count {
            let first = order[orderStart]
            orderStart += 1
            if orderStart > 1024, orderStart * 2 > order.count {
                order.removeFirst(orderStart)
                orderStart = 0
            }
            guard let entry = active[first.key], entry.sequence == first.sequence else { continue }
            active[first.key] = nil
            inFlight[first.key] = entry
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
        unschedulable[key] = (entry, now + backoff, now, false)
    }

    /// Something changed that may make waiting pods fit: each goes back once its backoff is over.
    public mutating func clusterChanged() {
        for key in unschedulable.keys { unschedulable[key]?.clusterChanged = true }
    }

    /// Moves back the pods whose backoff is over and whose cluster changed (or that waited the timeout).
    public mutating func advance(to now: Double) {
        for (key, waiting) in unschedulable where now >= waiting.backoffUntil
            && (waiting.clusterChanged || now >= waiting.failedAt + unschedulableTimeout) {
            unschedulable[key] = nil
            activate(key, waiting.entry)
        }
    }

    /// When `advance` may next move a pod (nil: nothing waits).
    public var nextWake: Double? {
        unschedulable.values.map { $0.clusterChanged ? $0.backoffUntil : max($0.backoffUntil, $0.failedAt + unschedulableTimeout) }.min()
    }

    private mutating func activate(_ key: String, _ entry: Entry) {
        active[key] = entry
        if orderStart < order.count, let last = order.last {
            let after = last.priority > entry.pod.priority || (last.priority == entry.pod.priority && last.sequence < entry.sequence)
            if !after { orderSorted = false }
        }
        order.append((entry.pod.priority, entry.sequence, key))
    }
}
