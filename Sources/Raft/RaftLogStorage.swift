/// The durable part of a member's Raft state, as Raft reads it: the persisted log, hard state and latest
/// snapshot. The application writes it (from `Ready`); Raft only reads. Entries before `firstIndex` have been
/// compacted into the snapshot.
public protocol RaftLogStorage: AnyObject {
    var hardState: HardState { get }
    /// The latest snapshot, whose index is `firstIndex - 1`.
    var snapshot: Snapshot { get }
    /// The first index still held as an entry.
    var firstIndex: UInt64 { get }
    /// The last persisted index (the snapshot's index when no entry follows it).
    var lastIndex: UInt64 { get }
    /// The term of entry `index`, for `firstIndex - 1 ... lastIndex`; nil outside that span.
    func term(at index: UInt64) -> UInt64?
    /// Entries `range` (within `firstIndex...lastIndex`), stopping once `maxBytes` of payload is reached (but
    /// always at least one entry).
    func entries(_ range: Range<UInt64>, maxBytes: Int) -> [Entry]
}

/// An in-memory `RaftLogStorage`: the simulation's "disk", and the reference for durable implementations.
public final class MemoryRaftLog: RaftLogStorage {
    public private(set) var hardState: HardState
    public private(set) var snapshot: Snapshot
    /// entries[0] is the snapshot's index: a dummy holding its term, so `term(at:)` covers it.
    private var log: [Entry]

    public init(membership: Membership) {
        hardState = HardState()
        snapshot = Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, membership: membership), data: [])
        log = [Entry(term: 0, index: 0)]
    }

    public var firstIndex: UInt64 { log[0].index + 1 }
    public var lastIndex: UInt64 { log[0].index + UInt64(log.count) - 1 }

    public func term(at index: UInt64) -> UInt64? {
        guard index >= log[0].index, index <= lastIndex else { return nil }
        return log[Int(index - log[0].index)].term
    }

    public func entries(_ range: Range<UInt64>, maxBytes: Int) -> [Entry] {
        precondition(range.lowerBound >= firstIndex && range.upperBound <= lastIndex + 1, "entries \(range) out of bounds")
        var out: [Entry] = []
        var size = 0
        for index in range {
            let entry = log[Int(index - log[0].index)]
            if !out.isEmpty && size + entry.payloadSize > maxBytes { break }
            size += entry.payloadSize
            out.append(entry)
        }
        return out
    }

    public func setHardState(_ state: HardState) {
        hardState = state
    }

    /// Appends entries, first dropping any persisted entries at or after the first new index (a new leader
    /// overwrote them).
    public func append(_ entries: [Entry]) {
        guard let first = entries.first else { return }
        precondition(first.index <= lastIndex + 1 && first.index > log[0].index, "gap or overwrite of the snapshot at \(first.index)")
        log.removeLast(Int(lastIndex + 1 - first.index))
        log.append(contentsOf: entries)
    }

    /// Installs a snapshot received from the leader, replacing the whole log.
    public func install(_ snapshot: Snapshot) {
        guard snapshot.metadata.index > self.snapshot.metadata.index else { return }
        self.snapshot = snapshot
        log = [Entry(term: snapshot.metadata.term, index: snapshot.metadata.index)]
    }

    /// Takes a snapshot of the application's state at an applied `index` and drops the entries up to it.
    public func compact(to index: UInt64, data: [UInt8], membership: Membership) {
        guard index > log[0].index, let term = term(at: index) else { return }
        snapshot = Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: membership), data: data)
        log.removeFirst(Int(index - log[0].index))
        log[0] = Entry(term: term, index: index)
    }
}
