/// A member's read-index requests in flight, kept by the caller of `Raft` (the store's shell, the simulation):
/// which reads wait for which request, and when to ask again.
///
/// Every asking gets a context unique across members and their restarts (member ID, a per-start incarnation, a
/// counter), so an answer can only ever release the reads it was asked for. An answer can be lost in many ways
/// that Raft does not report — a forwarded request or its answer dropped with a connection, a leader that steps
/// down drops its queue, a candidate drops answers — so a batch is asked again when the leader or term it was
/// asked of changes, or when it waited `retryTicks` (doubling with each retry, up to 8×). Reads are idempotent,
/// and an answer to any asking of a batch is a valid read point for all of its reads (each asking was made after
/// they arrived): a batch asked again in the same term still takes the answer to an earlier asking, so a round
/// trip slower than the retry interval cannot starve it. Pure and clock-free: time is the caller's ticks.
public struct ReadIndexRequests<Waiter> {
    struct Batch {
        var waiters: [Waiter]
        /// The leader asked (0: not asked yet, no leader was known).
        var leader: NodeID = 0
        var term: UInt64 = 0
        var askedAt: UInt64 = 0
        /// Times asked again in the same term, without an answer.
        var retries = 0
        /// The contexts it was asked under in this term; an answer to any of them serves it.
        var contexts: [[UInt8]] = []
    }

    let member: NodeID
    let incarnation: UInt64
    let retryTicks: UInt64
    private var counter: UInt64 = 0
    private var ticks: UInt64 = 0
    private var nextBatch: UInt64 = 0
    private var batches: [UInt64: Batch] = [:]
    private var batchOfContext: [[UInt8]: UInt64] = [:]

    /// `incarnation` must differ between starts of the same member (a random number, a restart count), so that
    /// answers to a previous start's requests still travelling are not taken for this one's.
    public init(member: NodeID, incarnation: UInt64, retryTicks: Int) {
        precondition(retryTicks > 0, "reads must be asked again after some ticks")
        self.member = member
        self.incarnation = incarnation
        self.retryTicks = UInt64(retryTicks)
    }

    /// Whether no read waits.
    public var isEmpty: Bool { batches.isEmpty }

    /// The reads waiting, in no particular order.
    public var waiters: [Waiter] { batches.values.flatMap(\.waiters) }

    /// Asks for one read point for all of `waiters`. Without a known leader they wait, and are asked once one is.
    public mutating func ask(_ waiters: [Waiter], raft: inout Raft) {
        guard !waiters.isEmpty else { return }
        nextBatch += 1
        batches[nextBatch] = Batch(waiters: waiters)
        send(nextBatch, raft: &raft)
    }

    /// The reads `state` answers, or nil when it answers nothing of ours (answered already, or a stranger's).
    public mutating func answer(_ state: ReadState) -> [Waiter]? {
        guard let number = batchOfContext[state.context], let batch = batches.removeValue(forKey: number) else {
            return nil
        }
        for context in batch.contexts { batchOfContext[context] = nil }
        return batch.waiters
    }

    /// Advances the clock by one tick and asks again what is due (see the type's comment).
    public mutating func tick(raft: inout Raft) {
        ticks += 1
        reaskIfDue(raft: &raft)
    }

    /// Asks again for batches whose leader or term is no longer Raft's, or that waited long enough. Call it after
    /// each `advance` (not between `ready()` and `advance`).
    public mutating func reaskIfDue(raft: inout Raft) {
        guard raft.leader != 0 else { return }
        for number in batches.keys.sorted() {
            // Every key was just read from `batches`.
            let batch = batches[number]!
            if batch.leader != raft.leader || batch.term != raft.term {
                // Requests to another leader or term are answered by nobody now.
                for context in batch.contexts { batchOfContext[context] = nil }
                batches[number]?.contexts = []
                batches[number]?.retries = 0
                send(number, raft: &raft)
            } else if ticks - batch.askedAt >= retryTicks << min(batch.retries, 3) {
                batches[number]?.retries += 1
                send(number, raft: &raft)
            }
        }
    }

    /// Removes and returns the waiting reads `shouldRemove` picks (e.g. past their deadline), with whether each
    /// was ever asked of a leader.
    public mutating func removeAll(where shouldRemove: (Waiter) -> Bool) -> [(waiter: Waiter, asked: Bool)] {
        var removed: [(Waiter, Bool)] = []
        for (number, batch) in batches {
            var kept: [Waiter] = []
            for waiter in batch.waiters {
                if shouldRemove(waiter) { removed.append((waiter, batch.leader != 0)) } else { kept.append(waiter) }
            }
            if kept.isEmpty {
                batches[number] = nil
                for context in batch.contexts { batchOfContext[context] = nil }
            } else if kept.count != batch.waiters.count {
                batches[number]?.waiters = kept
            }
        }
        return removed
    }

    private mutating func send(_ number: UInt64, raft: inout Raft) {
        counter += 1
        let context = withUnsafeBytes(of: member.bigEndian, Array.init)
            + withUnsafeBytes(of: incarnation.bigEndian, Array.init)
            + withUnsafeBytes(of: counter.bigEndian, Array.init)
        batches[number]?.askedAt = ticks
        if (try? raft.readIndex(context: context)) != nil {
            batches[number]?.leader = raft.leader
            batches[number]?.term = raft.term
            batches[number]?.contexts.append(context)
            batchOfContext[context] = number
        } else {
            batches[number]?.leader = 0
        }
    }
}
