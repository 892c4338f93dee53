import Storage

extension MVCCStore {
    /// Records the compaction point and drops the event history below it, in the entry's batch. The superseded
    /// versions themselves are removed afterwards by `purgeCompacted()`, off the apply path: reads at or above
    /// the compaction point never need them, so the purge can lag without anyone noticing.
    func compact(to revision: Int64, state: WriterState, context: WriteContext) throws {
        if revision > state.revision { throw MVCCError.futureRevision }
        if revision <= state.compactedRevision { throw MVCCError.compacted(compactRevision: state.compactedRevision) }
        context.batch.put(StorageLayout.MetaKey.compactedRevision, StorageLayout.bigEndian(revision), in: meta)
        context.batch.deleteRange(from: StorageLayout.eventKey(Revision(main: 0, sub: 0)),
                                  to: StorageLayout.eventKey(Revision(main: revision, sub: 0)), in: events)
    }

    /// Physically removes the versions that the last compaction made unreachable: for every key, everything
    /// older than its latest version at the compaction point, and that version too if it is a deletion older
    /// than the point. Works in bounded batches, is idempotent, may run alongside applies and reads, and resumes
    /// from scratch after a crash (the point it reached is recorded when it finishes).
    public func purgeCompacted(keysPerBatch: Int = 10_000) throws {
        try withPurgeLock {
            let target = compactedRevision
            let purged = try database.get(StorageLayout.MetaKey.purgedRevision, in: meta).map(StorageLayout.int64) ?? 0
            guard target > purged else { return }
            var resumeAt: [UInt8]? = []
            while let start = resumeAt {
                resumeAt = try purgeBatch(from: start, compactedRevision: target, keys: keysPerBatch)
            }
            let done = WriteBatch()
            done.put(StorageLayout.MetaKey.purgedRevision, StorageLayout.bigEndian(target), in: meta)
            try database.write(done, sync: false)
            database.compactRange(in: events)
        }
    }

    /// Purges up to `keys` user keys starting at the escaped key `start`; returns where to continue, or nil
    /// at the end.
    private func purgeBatch(from start: [UInt8], compactedRevision: Int64, keys: Int) throws -> [UInt8]? {
        let cursor = database.cursor(in: kv, lowerBound: start.isEmpty ? nil : start)
        let batch = WriteBatch()
        var seenKeys = 0
        var currentPrefix: [UInt8] = []
        var keptAtPoint = false
        cursor.seekToFirst()
        while cursor.isValid {
            let (prefix, main) = cursor.withKey { raw in
                ([UInt8](UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - 8)])), StorageLayout.mainRevision(ofVersionKey: raw))
            }
            if prefix != currentPrefix {
                if seenKeys == keys { break }
                seenKeys += 1
                currentPrefix = prefix
                keptAtPoint = false
                if main > compactedRevision {
                    // Skip the versions newer than the point; the first at or below it is the one to keep.
                    cursor.seek(StorageLayout.seekKey(escapedPrefix: prefix, atOrBelow: compactedRevision))
                    continue
                }
            }
            if main <= compactedRevision {
                if !keptAtPoint {
                    keptAtPoint = true
                    // The latest version at the point survives unless it is a deletion before the point (a
                    // deletion at the point stays, so watchers starting there still see it).
                    if cursor.withValue(VersionRecord.isTombstone) && main < compactedRevision {
                        batch.delete(cursor.key, in: kv)
                    }
                } else {
                    batch.delete(cursor.key, in: kv)
                }
            }
            cursor.next()
        }
        try cursor.check()
        if !batch.isEmpty { try database.write(batch, sync: false) }
        guard cursor.isValid else { return nil }
        return StorageLayout.pastVersions(escapedPrefix: currentPrefix)
    }
}
