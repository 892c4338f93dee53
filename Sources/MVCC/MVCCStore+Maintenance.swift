import Storage

extension MVCCStore {
    /// Rewrites every column family's files, dropping deleted and overwritten data (etcd's defragment: space
    /// freed by compaction is given back to the file system).
    public func defragment() {
        for family in [kv, events, leaseFamily, leaseKeys, meta, memberFamily] {
            database.compactRange(in: family)
        }
    }

    /// Bytes of table files and memtables: what the store holds, as etcd's `dbSize` reports it.
    public var sizeBytes: Int64 {
        var total: Int64 = 0
        for family in [kv, events, leaseFamily, leaseKeys, meta] {
            for property in ["rocksdb.total-sst-files-size", "rocksdb.cur-size-all-mem-tables"] {
                total += database.property(property, in: family).flatMap { Int64($0) } ?? 0
            }
        }
        return total
    }
}
