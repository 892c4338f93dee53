/// A member's view of the Raft log: the persisted part (in `RaftLogStorage`) followed by `unstable` entries not
/// yet persisted, plus a received snapshot waiting to be persisted. Tracks the commit and apply points.
struct ReplicatedLog {
    let storage: RaftLogStorage
    /// Entries from `offset` on that the application has not persisted yet. They supersede any persisted
    /// entries at the same indices (a new leader's entries replacing a divergent suffix).
    private(set) var unstable: [Entry] = []
    private(set) var offset: UInt64
    /// A snapshot received from the leader, to be persisted and applied before any further entry.
    private(set) var pendingSnapshot: Snapshot?
    private(set) var committed: UInt64
    /// The last index handed to the application for applying.
    private(set) var applied: UInt64

    init(storage: RaftLogStorage) {
        self.storage = storage
        offset = storage.lastIndex + 1
        let snapshotIndex = storage.snapshot.metadata.index
        committed = max(storage.hardState.commit, snapshotIndex)
        applied = snapshotIndex
    }

    var firstIndex: UInt64 {
        if let pendingSnapshot { return pendingSnapshot.metadata.index + 1 }
        return storage.firstIndex
    }

    var lastIndex: UInt64 {
        if !unstable.isEmpty { return offset + UInt64(unstable.count) - 1 }
        if let pendingSnapshot { return pendingSnapshot.metadata.index }
        return storage.lastIndex
    }

    var lastTerm: UInt64 {
        // The last index always has a term: it is an entry or the snapshot point.
        term(at: lastIndex) ?? 0
    }

    /// The term of `index`, or nil when it is compacted away or beyond the end.
    func term(at index: UInt64) -> UInt64? {
        if index >= offset {
            let position = Int(index - offset)
            return position < unstable.count ? unstable[position].term : nil
        }
        if let pendingSnapshot {
            let point = pendingSnapshot.metadata.index
            if index == point { return pendingSnapshot.metadata.term }
            return nil
        }
        return storage.term(at: index)
    }

    func matchTerm(_ index: UInt64, _ term: UInt64) -> Bool {
        self.term(at: index) == term
    }

    /// Whether a log ending at (`lastIndex`, `lastTerm`) is at least as up to date as this one (§5.4.1).
    func isUpToDate(lastIndex index: UInt64, term: UInt64) -> Bool {
        term > lastTerm || (term == lastTerm && index >= lastIndex)
    }

    /// Entries `[low, high)`, up to `maxBytes` of payload (at least one); nil when `low` was compacted.
    func entries(from low: UInt64, to high: UInt64, maxBytes: Int) -> [Entry]? {
        guard low >= firstIndex else { return nil }
        let high = min(high, lastIndex + 1)
        guard low < high else { return [] }
        var out: [Entry] = []
        if low < offset {
            out = storage.entries(low..<min(high, offset), maxBytes: maxBytes)
            if UInt64(out.count) < min(high, offset) - low { return out }
        }
        var size = out.reduce(0) { $0 + $1.payloadSize }
        var index = max(low, offset)
        while index < high {
            let entry = unstable[Int(index - offset)]
            if !out.isEmpty && size + entry.payloadSize > maxBytes { break }
            size += entry.payloadSize
            out.append(entry)
            index += 1
        }
        return out
    }

    /// Appends entries whose first index is at most `lastIndex + 1`, replacing whatever followed it.
    mutating func append(_ entries: [Entry]) {
        guard let first = entries.first?.index else { return }
        precondition(first > committed, "overwriting committed entry \(first) (committed \(committed))")
        if first == offset + UInt64(unstable.count) {
            unstable.append(contentsOf: entries)
        } else if first <= offset {
            unstable = entries
            offset = first
        } else {
            unstable.removeLast(unstable.count - Int(first - offset))
            unstable.append(contentsOf: entries)
        }
    }

    /// A follower's AppendEntries: when the log matches at (`index`, `logTerm`), appends what is new, moves the
    /// commit point, and returns the index of the last entry the leader sent; nil when the log does not match.
    mutating func maybeAppend(index: UInt64, logTerm: UInt64, commit: UInt64, entries: [Entry]) -> UInt64? {
        guard matchTerm(index, logTerm) else { return nil }
        let lastNew = index + UInt64(entries.count)
        if let conflict = entries.first(where: { !matchTerm($0.index, $0.term) }) {
            append(Array(entries[Int(conflict.index - index - 1)...]))
        }
        self.commit(to: min(commit, lastNew))
        return lastNew
    }

    mutating func commit(to index: UInt64) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "commit \(index) beyond last index \(lastIndex)")
        committed = index
    }

    /// The largest index at or below `index` whose term is at most `term`: where a follower's and the leader's
    /// logs may match, so one round trip skips a whole divergent term.
    func lastIndex(atOrBelow index: UInt64, withTermAtMost term: UInt64) -> UInt64 {
        var candidate = min(index, lastIndex)
        while candidate > 0, let found = self.term(at: candidate), found > term {
            candidate -= 1
        }
        return candidate
    }

    /// Entries committed but not yet handed out for applying (after any pending snapshot).
    func committedEntries(maxBytes: Int) -> [Entry] {
        guard pendingSnapshot == nil, committed > applied else { return [] }
        return entries(from: applied + 1, to: committed + 1, maxBytes: maxBytes) ?? []
    }

    mutating func applied(to index: UInt64) {
        if index > applied { applied = index }
    }

    /// Replaces the log with a snapshot from the leader.
    mutating func restore(_ snapshot: Snapshot) {
        pendingSnapshot = snapshot
        unstable = []
        offset = snapshot.metadata.index + 1
        committed = snapshot.metadata.index
    }

    /// The application persisted everything up to `index` (its entries and any pending snapshot).
    mutating func persisted(through index: UInt64, snapshot: Bool) {
        if snapshot, let pendingSnapshot {
            applied = max(applied, pendingSnapshot.metadata.index)
            self.pendingSnapshot = nil
        }
        if index >= offset {
            unstable.removeFirst(min(unstable.count, Int(index - offset + 1)))
            offset = index + 1
        }
    }

    /// The last index that is on disk.
    var persistedIndex: UInt64 { unstable.isEmpty && pendingSnapshot == nil ? lastIndex : offset - 1 }
}
