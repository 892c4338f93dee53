/// What a leader knows of one follower's log and how it is sending to it.
struct Progress {
    enum State: Equatable {
        /// Unsure where the follower's log matches: one append per heartbeat until it answers.
        case probe
        /// Streaming: appends are sent optimistically, up to the in-flight limits.
        case replicate
        /// A snapshot is on its way; nothing else is sent until it is acknowledged or fails.
        case snapshot(index: UInt64)
    }

    /// Highest index known to be on the follower's disk.
    var match: UInt64 = 0
    /// Next index to send.
    var next: UInt64
    var state = State.probe
    /// In probe state: an append is out and unanswered.
    var probeSent = false
    /// Heard from since the last check-quorum round.
    var recentActive = false
    var inflights: Inflights

    init(next: UInt64, inflights: Inflights) {
        self.next = next
        self.inflights = inflights
    }

    /// Whether sending must wait: an unanswered probe, a snapshot in flight, or the in-flight window full.
    var isPaused: Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflights.isFull
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        if case .snapshot(let index) = state {
            next = max(match + 1, index + 1)
        } else {
            next = match + 1
        }
        state = .probe
        probeSent = false
        inflights.reset()
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        probeSent = false
        inflights.reset()
    }

    mutating func becomeSnapshot(index: UInt64) {
        state = .snapshot(index: index)
        probeSent = false
        inflights.reset()
    }

    /// The follower has `index`; returns whether that was news.
    mutating func maybeUpdate(_ index: UInt64) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// The follower rejected an append at `rejected`; `hint` is where its log may match. Returns false when the
    /// rejection is stale (answers an older append).
    mutating func maybeDecrease(rejected: UInt64, hint: UInt64) -> Bool {
        if state == .replicate {
            if rejected <= match { return false }
            next = match + 1
            return true
        }
        if next - 1 != rejected { return false }
        next = max(min(rejected, hint + 1), match + 1, 1)
        probeSent = false
        return true
    }

    /// Records an append just sent whose last entry is `lastIndex`.
    mutating func sent(lastIndex: UInt64, entryCount: Int, bytes: Int) {
        switch state {
        case .replicate:
            if entryCount > 0 {
                next = lastIndex + 1
                inflights.add(index: lastIndex, bytes: bytes)
            }
        case .probe:
            probeSent = true
        case .snapshot:
            break
        }
    }
}

/// The appends sent to a follower and not yet acknowledged, bounded in count and bytes: flow control, so a slow
/// or unreachable follower never makes the leader buffer without limit.
struct Inflights {
    let maxMessages: Int
    /// 0: no byte limit.
    let maxBytes: Int
    private var pending: [(index: UInt64, bytes: Int)] = []
    private var head = 0
    private var bytes = 0

    init(maxMessages: Int, maxBytes: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    var count: Int { pending.count - head }
    var isFull: Bool { count >= maxMessages || (maxBytes > 0 && bytes >= maxBytes) }

    mutating func add(index: UInt64, bytes size: Int) {
        pending.append((index, size))
        bytes += size
    }

    /// Forgets every append whose last index is at or below `index` (acknowledged).
    mutating func free(through index: UInt64) {
        while head < pending.count && pending[head].index <= index {
            bytes -= pending[head].bytes
            head += 1
        }
        if head > 64 && head * 2 > pending.count {
            pending.removeFirst(head)
            head = 0
        }
    }

    mutating func freeOldest() {
        guard head < pending.count else { return }
        free(through: pending[head].index)
    }

    mutating func reset() {
        pending.removeAll()
        head = 0
        bytes = 0
    }
}
