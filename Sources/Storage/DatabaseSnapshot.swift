import CRocksDB

/// A point-in-time view of a database: reads through it ignore every later write. Released on deinit.
public final class DatabaseSnapshot: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; RocksDB snapshots and read options used read-only are
    // thread-safe.
    let database: Database
    let handle: OpaquePointer
    let readOptions: OpaquePointer

    init(database: Database) {
        self.database = database
        // rocksdb_create_snapshot never returns nil for an open database.
        handle = rocksdb_create_snapshot(database.handle)!
        readOptions = rocksdb_readoptions_create()!
        rocksdb_readoptions_set_snapshot(readOptions, handle)
    }

    deinit {
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_release_snapshot(database.handle, handle)
    }
}
