import CRocksDB

/// How a database is tuned. The defaults suit Podium's workload: many small synced writes (the Raft log and the
/// MVCC state), point lookups by exact key (bloom filters), and short range scans.
public struct DatabaseOptions: Sendable {
    public enum Compression: Sendable {
        case none, snappy, lz4, zstd

        var rocksValue: Int32 {
            switch self {
            case .none: return Int32(rocksdb_no_compression)
            case .snappy: return Int32(rocksdb_snappy_compression)
            case .lz4: return Int32(rocksdb_lz4_compression)
            case .zstd: return Int32(rocksdb_zstd_compression)
            }
        }
    }

    public var createIfMissing = true
    /// Shared LRU cache for data, index and filter blocks across all column families.
    public var blockCacheBytes = 64 << 20
    /// Bits per key of the full bloom filter; 0 disables filters.
    public var bloomBitsPerKey = 10.0
    public var compression = Compression.lz4
    /// The last level holds most data and is read least often, so it gets the stronger codec.
    public var bottommostCompression = Compression.zstd
    /// Memtable size per column family. Larger tables mean fewer flushes under write bursts.
    public var writeBufferBytes = 32 << 20
    public var maxBackgroundJobs: Int32 = 2
    /// Caps the WAL so column families that are rarely written still get flushed and old logs recycled.
    public var maxTotalWALBytes: UInt64 = 256 << 20
    /// Writes whose WAL records may be lost on a crash: RocksDB keeps them atomic per batch, and callers that
    /// can replay from elsewhere (the Raft log) may trade durability for speed with it.
    public var disableWAL = false
    /// Keeps unsynced writes' WAL records in memory until `flushWAL` or a synced write, instead of one write(2)
    /// per batch: for callers that apply many small batches and can replay them from elsewhere after a crash.
    public var manualWALFlush = false

    public init() {}
}
