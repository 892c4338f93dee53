import CRocksDB

/// A positioned iterator over one column family, forward or backward, within optional bounds.
///
/// Not thread-safe: one owner at a time. `key` and `value` are only meaningful while `isValid`; call `check()`
/// after a scan ends to learn whether it ended because of an I/O error rather than the end of the data.
public final class Cursor {
    private let database: Database
    private let snapshot: DatabaseSnapshot?
    private let handle: OpaquePointer
    private let options: OpaquePointer
    // RocksDB keeps pointers to the bound bytes for the iterator's whole life, so we own them here.
    private let lowerBound: (pointer: UnsafeMutableRawPointer, count: Int)?
    private let upperBound: (pointer: UnsafeMutableRawPointer, count: Int)?

    init(database: Database, family: ColumnFamily, lowerBound: [UInt8]?, upperBound: [UInt8]?, snapshot: DatabaseSnapshot?) {
        self.database = database
        self.snapshot = snapshot
        // The create functions below only return nil on allocation failure, which aborts anyway.
        options = rocksdb_readoptions_create()!
        if let snapshot { rocksdb_readoptions_set_snapshot(options, snapshot.handle) }
        self.lowerBound = lowerBound.map(Cursor.copy)
        self.upperBound = upperBound.map(Cursor.copy)
        if let bound = self.lowerBound {
            rocksdb_readoptions_set_iterate_lower_bound(options, bound.pointer.assumingMemoryBound(to: CChar.self), bound.count)
        }
        if let bound = self.upperBound {
            rocksdb_readoptions_set_iterate_upper_bound(options, bound.pointer.assumingMemoryBound(to: CChar.self), bound.count)
        }
        handle = rocksdb_create_iterator_cf(database.handle, options, family.handle)!
    }

    deinit {
        rocksdb_iter_destroy(handle)
        rocksdb_readoptions_destroy(options)
        lowerBound?.pointer.deallocate()
        upperBound?.pointer.deallocate()
    }

    /// A heap copy of `bytes` whose address stays fixed; a zero-length copy still gets one byte of storage.
    private static func copy(_ bytes: [UInt8]) -> (pointer: UnsafeMutableRawPointer, count: Int) {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress { pointer.copyMemory(from: base, byteCount: source.count) }
        }
        return (pointer, bytes.count)
    }

    public var isValid: Bool { rocksdb_iter_valid(handle) != 0 }

    public func seekToFirst() { rocksdb_iter_seek_to_first(handle) }
    public func seekToLast() { rocksdb_iter_seek_to_last(handle) }

    /// Positions at the first key >= `key`.
    public func seek(_ key: some ByteSequence) {
        key.withBytes { rocksdb_iter_seek(handle, $0.charPointer, $0.count) }
    }

    /// Positions at the last key <= `key`.
    public func seekForPrev(_ key: some ByteSequence) {
        key.withBytes { rocksdb_iter_seek_for_prev(handle, $0.charPointer, $0.count) }
    }

    public func next() { rocksdb_iter_next(handle) }
    public func prev() { rocksdb_iter_prev(handle) }

    /// The current key, borrowed without copying; valid only inside `body`.
    public func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var length = 0
        let pointer = rocksdb_iter_key(handle, &length)
        return try body(UnsafeRawBufferPointer(start: pointer, count: length))
    }

    /// The current value, borrowed without copying; valid only inside `body`.
    public func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var length = 0
        let pointer = rocksdb_iter_value(handle, &length)
        return try body(UnsafeRawBufferPointer(start: pointer, count: length))
    }

    public var key: [UInt8] { withKey { [UInt8]($0) } }
    public var value: [UInt8] { withValue { [UInt8]($0) } }

    /// Throws the error that stopped iteration, if any.
    public func check() throws {
        try rocksCall { err in rocksdb_iter_get_error(handle, err) }
    }
}
