import Raft
import Storage

/// The Raft log, hard state and latest snapshot of one member, in a RocksDB column family.
///
/// Everything one `Ready` asks to persist is written by `save` in one atomic batch with one fsync, so a crash
/// leaves either all of it or none of it. The terms of the live entries are cached in memory (8 bytes an
/// entry, bounded by compaction), since Raft asks for them constantly; entries are read from RocksDB.
public final class DurableRaftLog: RaftLogStorage {
    let database: Database
    let family: ColumnFamily
    public private(set) var hardState: HardState
    public private(set) var snapshot: Snapshot
    /// terms[0] is the snapshot's term; terms[i] that of entry snapshot.index + i.
    private var terms: [UInt64]

    /// Opens the log in `family` of `database`; a new log starts empty with `membership` as its configuration.
    public init(database: Database, family: ColumnFamily, membership: Membership) throws {
        self.database = database
        self.family = family
        hardState = try database.get(RaftLogCodec.hardStateKey, in: family).map(RaftLogCodec.decodeHardState) ?? HardState()
        snapshot = try database.get(RaftLogCodec.snapshotKey, in: family).map(RaftLogCodec.decodeSnapshot)
            ?? Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, membership: membership), data: [])
        terms = [snapshot.metadata.term]
        let first = snapshot.metadata.index + 1
        let cursor = database.cursor(in: family, lowerBound: RaftLogCodec.entryKey(first),
                                     upperBound: [RaftLogCodec.entryPrefix + 1])
        cursor.seekToFirst()
        var expected = first
        while cursor.isValid {
            let index = try cursor.withKey(RaftLogCodec.index(ofEntryKey:))
            guard index == expected else { throw RaftLogError.corrupt("log: entry \(index) where \(expected) was expected") }
            terms.append(try cursor.withValue { try RaftLogCodec.decodeEntry(index: index, $0).term })
            expected += 1
            cursor.next()
        }
        try cursor.check()
    }

    public var firstIndex: UInt64 { snapshot.metadata.index + 1 }
    public var lastIndex: UInt64 { snapshot.metadata.index + UInt64(terms.count) - 1 }

    public func term(at index: UInt64) -> UInt64? {
        guard index >= snapshot.metadata.index, index <= lastIndex else { return nil }
        return terms[Int(index - snapshot.metadata.index)]
    }

    public func entries(_ range: Range<UInt64>, maxBytes: Int) -> [Entry] {
        precondition(range.lowerBound >= firstIndex && range.upperBound <= lastIndex + 1, "entries \(range) out of bounds")
        let cursor = database.cursor(in: family, lowerBound: RaftLogCodec.entryKey(range.lowerBound),
                                     upperBound: RaftLogCodec.entryKey(range.upperBound))
        var out: [Entry] = []
        var size = 0
        cursor.seekToFirst()
        do {
            while cursor.isValid {
                let index = try cursor.withKey(RaftLogCodec.index(ofEntryKey:))
                let entry = try cursor.withValue { try RaftLogCodec.decodeEntry(index: index, $0) }
                if !out.isEmpty && size + entry.data.count > maxBytes { break }
                size += entry.data.count
                out.append(entry)
                cursor.next()
            }
            try cursor.check()
        } catch {
            // Raft cannot go on without its log; a member whose disk fails must stop, not guess.
            fatalError("reading the raft log failed: \(error)")
        }
        precondition(!out.isEmpty || range.isEmpty, "raft log entries \(range) missing on disk")
        return out
    }

    /// Persists what a `Ready` asks for, atomically: a snapshot to install, entries to append (replacing any
    /// persisted suffix they conflict with) and the hard state. With `sync` it returns once all is on disk.
    public func save(hardState newState: HardState?, entries: [Entry], snapshot newSnapshot: Snapshot?, sync: Bool) throws {
        let batch = WriteBatch()
        // The log's shape once the batch is written; `terms` itself changes in place only after the write
        // succeeded (copying it per save cost time in proportion to the log's length).
        var installed: Snapshot?
        var base = snapshot.metadata.index
        var termCount = terms.count
        if let newSnapshot, newSnapshot.metadata.index > snapshot.metadata.index {
            batch.deleteRange(from: RaftLogCodec.entryKey(0), to: [RaftLogCodec.entryPrefix + 1], in: family)
            batch.put(RaftLogCodec.snapshotKey, RaftLogCodec.encode(newSnapshot), in: family)
            installed = newSnapshot
            base = newSnapshot.metadata.index
            termCount = 1
        }
        var replaced = 0
        if let first = entries.first?.index {
            precondition(first > base && first <= base + UInt64(termCount), "append at \(first) leaves a gap")
            let last = base + UInt64(termCount) - 1
            if first <= last {
                batch.deleteRange(from: RaftLogCodec.entryKey(first), to: RaftLogCodec.entryKey(last + 1), in: family)
                replaced = Int(last - first + 1)
            }
            for entry in entries { batch.put(RaftLogCodec.entryKey(entry.index), RaftLogCodec.encode(entry), in: family) }
        }
        if let newState { batch.put(RaftLogCodec.hardStateKey, RaftLogCodec.encode(newState), in: family) }
        guard !batch.isEmpty else { return }
        try database.write(batch, sync: sync)
        if let installed {
            snapshot = installed
            terms = [installed.metadata.term]
        }
        terms.removeLast(replaced)
        terms.append(contentsOf: entries.lazy.map(\.term))
        if let newState { hardState = newState }
    }

    /// Forgets the log and the snapshot point, keeping only the term and vote: for a member whose store was
    /// lost mid-restore. Every entry it held was below the snapshot it was receiving, hence committed and held by
    /// the leader, which will send it a snapshot again.
    public func discardLog(membership: Membership) throws {
        let batch = WriteBatch()
        batch.deleteRange(from: RaftLogCodec.entryKey(0), to: [RaftLogCodec.entryPrefix + 1], in: family)
        batch.delete(RaftLogCodec.snapshotKey, in: family)
        let kept = HardState(term: hardState.term, vote: hardState.vote, commit: 0)
        batch.put(RaftLogCodec.hardStateKey, RaftLogCodec.encode(kept), in: family)
        try database.write(batch, sync: true)
        hardState = kept
        snapshot = Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, membership: membership), data: [])
        terms = [0]
    }

    /// Records a snapshot of the application's state at the applied `index` and drops the entries it covers.
    public func compact(to index: UInt64, data: [UInt8], membership: Membership) throws {
        guard index > snapshot.metadata.index, let term = term(at: index) else { return }
        let newSnapshot = Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: membership), data: data)
        let batch = WriteBatch()
        batch.put(RaftLogCodec.snapshotKey, RaftLogCodec.encode(newSnapshot), in: family)
        batch.deleteRange(from: RaftLogCodec.entryKey(0), to: RaftLogCodec.entryKey(index + 1), in: family)
        try database.write(batch, sync: true)
        terms.removeFirst(Int(index - snapshot.metadata.index))
        snapshot = newSnapshot
    }
}
