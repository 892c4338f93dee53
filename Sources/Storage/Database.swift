import CRocksDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open RocksDB database with named column families.
///
/// All methods are safe to call from any thread: RocksDB synchronises internally. The database closes when the
/// last reference (including those held by column families, cursors and snapshots) goes away.
public final class Database: @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable after init, and the RocksDB handles they point to
    // are documented thread-safe (DB, column family handles, read/write options used read-only).
    let handle: OpaquePointer
    public let path: String
    private let options: OpaquePointer
    private let tableOptions: OpaquePointer
    private let cache: OpaquePointer
    private let familyHandles: [String: OpaquePointer]
    private let syncWrite: OpaquePointer
    private let asyncWrite: OpaquePointer
    private let settings: DatabaseOptions
    let readOptions: OpaquePointer

    /// Opens (creating if allowed) the database at `path` with the given column families. "default" always
    /// exists and need not be listed. Missing column families are created.
    public init(path: String, columnFamilies: [String], options settings: DatabaseOptions = DatabaseOptions()) throws {
        self.path = path
        // RocksDB creates the database directory but not its parents.
        if settings.createIfMissing { try Database.makeParentDirectories(of: path) }
        // The create functions below only return nil on allocation failure, which aborts anyway.
        let options = rocksdb_options_create()!
        let tableOptions = rocksdb_block_based_options_create()!
        let cache = rocksdb_cache_create_lru(settings.blockCacheBytes)!
        rocksdb_block_based_options_set_block_cache(tableOptions, cache)
        if settings.bloomBitsPerKey > 0 {
            // The table options take ownership of the filter policy.
            rocksdb_block_based_options_set_filter_policy(tableOptions, rocksdb_filterpolicy_create_bloom_full(settings.bloomBitsPerKey))
        }
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(tableOptions, 1)
        // Partitioned index and filters: a large table's index is many small blocks rather than one of hundreds of
        // KiB, which the sharded block cache could not keep (each shard is 1/64 of it), so that every new iterator
        // read and decompressed the whole index again — puts slowed ten-fold as a key's history grew.
        rocksdb_block_based_options_set_index_type(tableOptions, Int32(rocksdb_block_based_table_index_type_two_level_index_search))
        rocksdb_block_based_options_set_partition_filters(tableOptions, 1)
        rocksdb_block_based_options_set_metadata_block_size(tableOptions, 4096)
        rocksdb_block_based_options_set_pin_top_level_index_and_filter(tableOptions, 1)
        rocksdb_block_based_options_set_cache_index_and_filter_blocks_with_high_priority(tableOptions, 1)
        rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(tableOptions, 1)
        rocksdb_block_based_options_set_format_version(tableOptions, 5)
        rocksdb_options_set_block_based_table_factory(options, tableOptions)
        rocksdb_options_set_create_if_missing(options, settings.createIfMissing ? 1 : 0)
        rocksdb_options_set_create_missing_column_families(options, 1)
        rocksdb_options_set_compression(options, settings.compression.rocksValue)
        rocksdb_options_set_bottommost_compression(options, settings.bottommostCompression.rocksValue)
        rocksdb_options_set_write_buffer_size(options, settings.writeBufferBytes)
        rocksdb_options_set_max_background_jobs(options, settings.maxBackgroundJobs)
        rocksdb_options_set_max_total_wal_size(options, settings.maxTotalWALBytes)
        rocksdb_options_set_level_compaction_dynamic_level_bytes(options, 1)
        rocksdb_options_set_bytes_per_sync(options, 1 << 20)
        rocksdb_options_set_manual_wal_flush(options, settings.manualWALFlush ? 1 : 0)
        // Column families flush together so that a crash never leaves one family ahead of another when the
        // WAL is disabled.
        rocksdb_options_set_atomic_flush(options, 1)

        var names = ["default"]
        for name in columnFamilies where !names.contains(name) { names.append(name) }
        var familyOptions = [OpaquePointer?](repeating: options, count: names.count)
        var familyPointers = [OpaquePointer?](repeating: nil, count: names.count)
        let cNames = names.map { strdup($0) }
        defer { cNames.forEach { free($0) } }
        var namePointers = cNames.map { UnsafePointer<CChar>($0) }

        let db: OpaquePointer?
        do {
            db = try rocksCall { err in
                rocksdb_open_column_families(options, path, Int32(names.count), &namePointers, &familyOptions,
                                             &familyPointers, err)
            }
        } catch {
            rocksdb_options_destroy(options)
            rocksdb_block_based_options_destroy(tableOptions)
            rocksdb_cache_destroy(cache)
            throw error
        }
        // A successful open always returns a handle and one handle per family.
        handle = db!
        var handles: [String: OpaquePointer] = [:]
        for (name, pointer) in zip(names, familyPointers) { handles[name] = pointer! }
        familyHandles = handles
        self.options = options
        self.settings = settings
        self.tableOptions = tableOptions
        self.cache = cache
        syncWrite = rocksdb_writeoptions_create()!
        rocksdb_writeoptions_set_sync(syncWrite, 1)
        asyncWrite = rocksdb_writeoptions_create()!
        if settings.disableWAL {
            rocksdb_writeoptions_disable_WAL(asyncWrite, 1)
        }
        readOptions = rocksdb_readoptions_create()!
    }

    deinit {
        for family in familyHandles.values { rocksdb_column_family_handle_destroy(family) }
        rocksdb_close(handle)
        rocksdb_writeoptions_destroy(syncWrite)
        rocksdb_writeoptions_destroy(asyncWrite)
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_options_destroy(options)
        rocksdb_block_based_options_destroy(tableOptions)
        rocksdb_cache_destroy(cache)
    }

    /// The column family called `name`; it must have been named when the database was opened.
    public func columnFamily(_ name: String) throws -> ColumnFamily {
        guard let family = familyHandles[name] else { throw StorageError.unknownColumnFamily(name) }
        return ColumnFamily(handle: family, database: self, name: name)
    }

    /// Applies a batch atomically. With `sync` the call returns only after the WAL is on disk (fsync), and every
    /// earlier unsynced write is made durable with it.
    public func write(_ batch: WriteBatch, sync: Bool) throws {
        if sync && settings.manualWALFlush {
            // With manual flushing the record may still sit in RocksDB's buffer: flush and fsync it explicitly.
            try rocksCall { err in rocksdb_write(handle, asyncWrite, batch.handle, err) }
            try syncWAL()
            return
        }
        try rocksCall { err in rocksdb_write(handle, sync ? syncWrite : asyncWrite, batch.handle, err) }
    }

    /// Hands buffered WAL records (see `DatabaseOptions.manualWALFlush`) to the operating system without an
    /// fsync: they then survive a crash of the process, though not of the machine.
    public func flushWAL() throws {
        try rocksCall { err in rocksdb_flush_wal(handle, 0, err) }
    }

    /// Makes every write so far durable with one fsync of the WAL: the group-commit point for unsynced writes.
    public func syncWAL() throws {
        try rocksCall { err in rocksdb_flush_wal(handle, 1, err) }
    }

    /// The value stored under `key`, or nil. Reads the latest state, or `snapshot`'s if given.
    public func get(_ key: some ByteSequence, in family: ColumnFamily, snapshot: DatabaseSnapshot? = nil) throws -> [UInt8]? {
        let options = snapshot?.readOptions ?? readOptions
        var length = 0
        let value = try key.withBytes { k in
            try rocksCall { err in rocksdb_get_cf(handle, options, family.handle, k.charPointer, k.count, &length, err) }
        }
        guard let value else { return nil }
        defer { rocksdb_free(value) }
        return [UInt8](UnsafeRawBufferPointer(start: value, count: length))
    }

    /// A cursor over `family`, limited to `[lowerBound, upperBound)` when given. It sees one consistent state:
    /// the database as of its creation, or `snapshot`.
    public func cursor(in family: ColumnFamily, lowerBound: [UInt8]? = nil, upperBound: [UInt8]? = nil,
                       snapshot: DatabaseSnapshot? = nil) -> Cursor {
        Cursor(database: self, family: family, lowerBound: lowerBound, upperBound: upperBound, snapshot: snapshot)
    }

    /// A consistent point-in-time view for reads across several calls.
    public func snapshot() -> DatabaseSnapshot { DatabaseSnapshot(database: self) }

    /// A RocksDB property such as "rocksdb.estimate-num-keys", or nil when RocksDB does not know it.
    public func property(_ name: String, in family: ColumnFamily? = nil) -> String? {
        let value: UnsafeMutablePointer<CChar>?
        if let family {
            value = rocksdb_property_value_cf(handle, family.handle, name)
        } else {
            value = rocksdb_property_value(handle, name)
        }
        guard let value else { return nil }
        defer { rocksdb_free(value) }
        return String(cString: value)
    }

    /// Compacts `[start, end)` of a family (all of it when both are nil), reclaiming space held by deletions.
    public func compactRange(in family: ColumnFamily, from start: [UInt8]? = nil, to end: [UInt8]? = nil) {
        func withOptional<R>(_ bytes: [UInt8]?, _ body: (UnsafePointer<CChar>?, Int) -> R) -> R {
            guard let bytes else { return body(nil, 0) }
            return bytes.withBytes { body($0.charPointer, $0.count) }
        }
        withOptional(start) { s, sLength in
            withOptional(end) { e, eLength in
                rocksdb_compact_range_cf(handle, family.handle, s, sLength, e, eLength)
            }
        }
    }

    /// Writes a consistent, openable copy of the whole database into `directory`, which must not exist. Files
    /// are hard-linked where possible, so this is cheap and does not stop writers.
    public func checkpoint(to directory: String) throws {
        let checkpoint = try rocksCall { err in rocksdb_checkpoint_object_create(handle, err) }
        // A successful create returns an object.
        defer { rocksdb_checkpoint_object_destroy(checkpoint!) }
        try rocksCall { err in rocksdb_checkpoint_create(checkpoint!, directory, 0, err) }
    }

    /// Creates every missing directory above `path` (`mkdir -p` of its parent).
    static func makeParentDirectories(of path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        let components = path.split(separator: "/").dropLast()
        for component in components {
            prefix += component + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw StorageError.rocksdb("cannot create directory \(prefix): errno \(errno)")
            }
        }
    }

    /// Deletes the database files at `path`. The database must not be open.
    public static func destroy(path: String) throws {
        let options = rocksdb_options_create()!
        defer { rocksdb_options_destroy(options) }
        try rocksCall { err in rocksdb_destroy_db(options, path, err) }
    }
}
