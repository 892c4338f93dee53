import BinaryCoding
import Storage

extension MVCCStore {
    /// Set in the meta family while a snapshot is being restored: a store found with it was cut off mid-restore
    /// and holds no consistent state.
    static let restoringKey: [UInt8] = Array("restoring".utf8)

    /// Whether a restore was interrupted (by a crash): the state is unusable and must be replaced by a snapshot.
    public var isIncomplete: Bool {
        (try? database.get(Self.restoringKey, in: meta)) != nil
    }

    /// In `StorageLayout.families` order.
    private var families: [ColumnFamily] { [kv, events, leaseFamily, leaseKeys, meta, memberFamily] }

    /// A consistent copy of the whole store as a `StoreSnapshot`, handed to `emit` in chunks of about
    /// `chunkBytes` (the last one ends with the digest). Writers go on meanwhile. Returns the applied Raft index
    /// the copy holds the state of (a Raft snapshot of it is labelled with that point).
    @discardableResult
    public func writeSnapshot(chunkBytes: Int = 1 << 20, emit: ([UInt8]) throws -> Void) throws -> UInt64 {
        let reader = try snapshotReader(measuringSize: false)
        while let chunk = try reader.next(maxBytes: chunkBytes) { try emit(chunk) }
        return reader.appliedIndex
    }

    /// A reader of a consistent copy of the whole store, for a sender that paces itself; `measuringSize` reads
    /// the copy once first to learn its size.
    public func snapshotReader(measuringSize: Bool) throws -> StoreSnapshotReader {
        try StoreSnapshotReader(store: self, families: families, measure: measuringSize)
    }

    /// The whole store as one `StoreSnapshot` in memory.
    public func snapshotBytes() throws -> [UInt8] {
        try snapshotWithAppliedIndex().bytes
    }

    /// The whole store as one `StoreSnapshot` in memory, with the applied Raft index it holds the state of.
    public func snapshotWithAppliedIndex() throws -> (bytes: [UInt8], appliedIndex: UInt64) {
        var bytes: [UInt8] = []
        let index = try writeSnapshot { bytes.append(contentsOf: $0) }
        return (bytes, index)
    }

    /// Replaces the whole state with a snapshot's (after checking its digest): what a member that fell too far
    /// behind, or a restored cluster, starts from. Watchers survive: they catch up from the restored history
    /// from where they were (or learn that it was compacted).
    ///
    /// Crash-safe in this sense: until the last batch lands, the store is marked incomplete (`isIncomplete`),
    /// so a member restarted mid-restore knows to discard it rather than serve a mix.
    public func restore(snapshot bytes: [UInt8]) throws {
        try StoreSnapshot.verify(bytes)
        try writer.withLock { state in try restoreGate.restoring {
            let marker = WriteBatch()
            marker.put(Self.restoringKey, [1], in: meta)
            try database.write(marker, sync: true)

            for family in families {
                try clear(family)
            }
            // Safe to force: the meta family is one of the families by construction.
            let metaIndex = StorageLayout.families.firstIndex(of: StorageLayout.metaFamily)! + 1
            var batch = WriteBatch()
            var batchBytes = 0
            var metaRecords: [([UInt8], [UInt8])] = []
            try StoreSnapshot.forEachRecord(bytes) { familyIndex, key, value in
                guard familyIndex != metaIndex else {
                    metaRecords.append((Array(key), Array(value)))
                    return
                }
                batch.put(Array(key), Array(value), in: families[familyIndex - 1])
                batchBytes += key.count + value.count
                if batchBytes >= 4 << 20 {
                    try database.write(batch, sync: false)
                    batch = WriteBatch()
                    batchBytes = 0
                }
            }
            var applied: Int64 = 0, revision: Int64 = 1, compacted: Int64 = 0
            for (key, value) in metaRecords {
                batch.put(key, value, in: meta)
                switch key {
                case StorageLayout.MetaKey.appliedIndex: applied = StorageLayout.int64(value)
                case StorageLayout.MetaKey.revision: revision = StorageLayout.int64(value)
                case StorageLayout.MetaKey.compactedRevision: compacted = StorageLayout.int64(value)
                default: break
                }
            }
            batch.delete(Self.restoringKey, in: meta)
            try database.write(batch, sync: true)

            state = WriterState(appliedIndex: UInt64(bitPattern: applied), revision: revision, compactedRevision: compacted)
            publishRestore(revision: revision, compactedRevision: compacted)
        } }
    }

    /// Deletes everything in `family` (one range tombstone up to just past its last key).
    private func clear(_ family: ColumnFamily) throws {
        let cursor = database.cursor(in: family)
        cursor.seekToLast()
        guard cursor.isValid else { return }
        let last = cursor.withKey { Array($0) }
        let batch = WriteBatch()
        batch.deleteRange(from: [], to: last + [0], in: family)
        try database.write(batch, sync: false)
    }
}

extension MVCCStore {
    /// Readies a restored store to seed a new cluster: its Raft log starts from scratch (applied index 0), and
    /// the revision jumps ahead by `revisionBump` with everything before marked compacted, so a client that
    /// watched the old cluster never sees revisions go backwards, and one resuming from an old revision is told
    /// its history is gone instead of silently missing events.
    public func prepareForNewCluster(revisionBump: Int64) throws {
        try writer.withLock { state in
            let revision = state.revision + max(revisionBump, 0)
            let compacted = revisionBump > 0 ? revision : state.compactedRevision
            let batch = WriteBatch()
            batch.put(StorageLayout.MetaKey.appliedIndex, StorageLayout.bigEndian(0), in: meta)
            batch.put(StorageLayout.MetaKey.revision, StorageLayout.bigEndian(revision), in: meta)
            batch.put(StorageLayout.MetaKey.compactedRevision, StorageLayout.bigEndian(compacted), in: meta)
            // The old cluster's members and identity do not carry over: the new members publish themselves.
            let cursor = database.cursor(in: memberFamily)
            cursor.seekToFirst()
            while cursor.isValid {
                batch.delete(cursor.withKey { Array($0) }, in: memberFamily)
                cursor.next()
            }
            try cursor.check()
            try database.write(batch, sync: true)
            state = WriterState(appliedIndex: 0, revision: revision, compactedRevision: compacted)
            publishRestore(revision: revision, compactedRevision: compacted)
        }
    }
}
