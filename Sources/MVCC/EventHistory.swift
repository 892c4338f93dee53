import Storage

/// Reads the store's change history in revision order, for watchers replaying the past or catching up after
/// falling behind. Reads only committed, visible data and never delays writers (only a snapshot restore waits for its reads).
struct EventHistory: Sendable {
    let database: Database
    let kv: ColumnFamily
    let events: ColumnFamily
    let restoreGate: RestoreGate

    /// The events of revisions `from...through` that fall in `request.range` and pass its filters, reading at
    /// most about `maxEvents` history entries (a revision is never split). Returns the events and the next
    /// revision to read from.
    func read(for request: WatchRequest, from: Int64, through: Int64, maxEvents: Int) throws
        -> (events: [WatchEvent], next: Int64) {
        try restoreGate.reading { try readUngated(for: request, from: from, through: through, maxEvents: maxEvents) }
    }

    private func readUngated(for request: WatchRequest, from: Int64, through: Int64, maxEvents: Int) throws
        -> (events: [WatchEvent], next: Int64) {
        guard from <= through else { return ([], from) }
        let cursor = database.cursor(in: events,
                                     lowerBound: StorageLayout.eventKey(Revision(main: from, sub: 0)),
                                     upperBound: StorageLayout.eventKey(Revision(main: through + 1, sub: 0)))
        cursor.seekToFirst()
        var out: [WatchEvent] = []
        var scanned = 0
        var next = from
        while cursor.isValid {
            let revision = cursor.withKey(StorageLayout.decodeEventKey)
            if revision.main >= next {
                // A new main revision starts: stop here if the budget is spent.
                if scanned >= maxEvents { return (out, revision.main) }
                next = revision.main + 1
            }
            scanned += 1
            let key = cursor.value
            if request.range.contains(key), let event = try event(key: key, main: revision.main, withPrevKV: request.prevKV),
               let shaped = request.shaped(event) {
                out.append(shaped)
            }
            cursor.next()
        }
        try cursor.check()
        return (out, through + 1)
    }

    /// The change that `key` underwent at revision `main`.
    func event(key: [UInt8], main: Int64, withPrevKV: Bool) throws -> WatchEvent? {
        guard let raw = try database.get(StorageLayout.versionKey(key, main: main), in: kv) else { return nil }
        let record = raw.withUnsafeBytes { VersionRecord(decoding: $0) }
        let prev = withPrevKV ? try latest(key: key, atOrBelow: main - 1) : nil
        if record.isTombstone {
            let kv = KeyValue(key: key, value: [], createRevision: 0, modRevision: main, version: 0, lease: 0)
            return WatchEvent(kind: .delete, kv: kv, prevKV: prev)
        }
        return WatchEvent(kind: .put, kv: record.keyValue(key: key, main: main), prevKV: prev)
    }

    /// The live version of `key` at revision `main`, or nil if it did not exist then.
    func latest(key: [UInt8], atOrBelow main: Int64) throws -> KeyValue? {
        guard main > 0 else { return nil }
        let escaped = StorageLayout.escapedKey(key)
        let cursor = database.cursor(in: kv, lowerBound: escaped, upperBound: StorageLayout.pastVersions(escapedPrefix: escaped))
        cursor.seek(StorageLayout.seekKey(escapedPrefix: escaped, atOrBelow: main))
        guard cursor.isValid else {
            try cursor.check()
            return nil
        }
        let version = cursor.withKey(StorageLayout.mainRevision(ofVersionKey:))
        let record = cursor.withValue { VersionRecord(decoding: $0) }
        return record.isTombstone ? nil : record.keyValue(key: key, main: version)
    }
}
