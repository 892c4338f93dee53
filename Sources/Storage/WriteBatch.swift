import CRocksDB

/// An atomic group of writes: RocksDB applies all of it or none of it, even across a crash.
/// Not thread-safe: one owner builds it, then hands it to `Database.write`.
public final class WriteBatch {
    let handle: OpaquePointer

    public init() {
        // rocksdb_writebatch_create only fails on allocation failure, which aborts anyway.
        handle = rocksdb_writebatch_create()!
    }

    deinit { rocksdb_writebatch_destroy(handle) }

    /// The number of operations added since creation or the last `clear`.
    public var count: Int { Int(rocksdb_writebatch_count(handle)) }

    public var isEmpty: Bool { count == 0 }

    public func clear() { rocksdb_writebatch_clear(handle) }

    public func put(_ key: some ByteSequence, _ value: some ByteSequence, in family: ColumnFamily) {
        key.withBytes { k in
            value.withBytes { v in
                rocksdb_writebatch_put_cf(handle, family.handle, k.charPointer, k.count, v.charPointer, v.count)
            }
        }
    }

    public func delete(_ key: some ByteSequence, in family: ColumnFamily) {
        key.withBytes { k in
            rocksdb_writebatch_delete_cf(handle, family.handle, k.charPointer, k.count)
        }
    }

    /// Deletes every key in `[start, end)` with one range tombstone, whatever the number of keys.
    public func deleteRange(from start: some ByteSequence, to end: some ByteSequence, in family: ColumnFamily) {
        start.withBytes { s in
            end.withBytes { e in
                rocksdb_writebatch_delete_range_cf(handle, family.handle, s.charPointer, s.count, e.charPointer, e.count)
            }
        }
    }
}
