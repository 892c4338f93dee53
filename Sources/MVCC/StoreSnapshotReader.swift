import BinaryCoding
import Storage

/// A consistent copy of the whole store read as a `StoreSnapshot` one chunk at a time, for a sender that goes
/// at its receiver's pace (a client's Snapshot call): it holds a database snapshot and one cursor, never the
/// whole copy. Writers go on meanwhile. Not thread-safe: one owner at a time.
public final class StoreSnapshotReader {
    /// The applied Raft index the copy holds the state of.
    public let appliedIndex: UInt64
    /// The snapshot's size in bytes, when measured up front (etcd's Snapshot responses say how many remain).
    public let totalBytes: Int?
    private let database: Database
    private let view: DatabaseSnapshot
    private let families: [ColumnFamily]
    private var familyIndex = 0
    private var cursor: Cursor?
    private var hasher = SHA256()
    private var emitted = 0
    private var started = false
    private var finished = false

    /// `measure`: read the copy once first to learn its size.
    init(store: MVCCStore, families: [ColumnFamily], measure: Bool) throws {
        database = store.database
        self.families = families
        // A database snapshot taken outside a restore is consistent; the gate keeps it from straddling one.
        let view = store.restoreGate.reading { store.database.snapshot() }
        self.view = view
        appliedIndex = try database.get(StorageLayout.MetaKey.appliedIndex, in: store.meta, snapshot: view)
            .map { UInt64(bitPattern: StorageLayout.int64($0)) } ?? 0
        totalBytes = measure ? try Self.size(of: families, in: store.database, view: view) : nil
    }

    /// The next chunk, of about `maxBytes` (one record more at most; the last one ends with the digest), or
    /// nil once all is read.
    public func next(maxBytes: Int) throws -> [UInt8]? {
        guard !finished else { return nil }
        var chunk: [UInt8] = []
        chunk.reserveCapacity(maxBytes + 1024)
        if !started {
            started = true
            chunk = StoreSnapshot.magic
        }
        while chunk.count < maxBytes, familyIndex < families.count {
            let cursor = self.cursor ?? {
                let opened = database.cursor(in: families[familyIndex], snapshot: view)
                opened.seekToFirst()
                return opened
            }()
            guard cursor.isValid else {
                try cursor.check()
                self.cursor = nil
                familyIndex += 1
                continue
            }
            self.cursor = cursor
            chunk.append(UInt8(familyIndex + 1))
            cursor.withKey { Self.appendLengthPrefixed($0, to: &chunk) }
            cursor.withValue { Self.appendLengthPrefixed($0, to: &chunk) }
            cursor.next()
        }
        if familyIndex == families.count {
            finished = true
            chunk.append(0)
            let padding = (StoreSnapshot.blockBytes - (emitted + chunk.count) % StoreSnapshot.blockBytes) % StoreSnapshot.blockBytes
            chunk.append(contentsOf: repeatElement(0, count: padding))
            hasher.update(chunk)
            chunk.append(contentsOf: hasher.finalize())
        } else {
            hasher.update(chunk)
        }
        emitted += chunk.count
        return chunk
    }

    private static func appendLengthPrefixed(_ bytes: UnsafeRawBufferPointer, to chunk: inout [UInt8]) {
        let length = UInt32(bytes.count)
        chunk.append(contentsOf: [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)])
        chunk.append(contentsOf: bytes)
    }

    /// The size of the snapshot of `families` as seen by `view`.
    private static func size(of families: [ColumnFamily], in database: Database, view: DatabaseSnapshot) throws -> Int {
        var records = StoreSnapshot.magic.count
        for family in families {
            let cursor = database.cursor(in: family, snapshot: view)
            cursor.seekToFirst()
            while cursor.isValid {
                records += 9 + cursor.withKey { $0.count } + cursor.withValue { $0.count }
                cursor.next()
            }
            try cursor.check()
        }
        records += 1
        let padding = (StoreSnapshot.blockBytes - records % StoreSnapshot.blockBytes) % StoreSnapshot.blockBytes
        return records + padding + StoreSnapshot.digestBytes
    }
}
