import CRocksDB

/// A failure reported by RocksDB or by this wrapper, carrying RocksDB's own message so operators can act on it
/// (for example "IO error: While lock file: ... Resource temporarily unavailable" when a data directory is in use).
public enum StorageError: Error, Equatable, CustomStringConvertible {
    /// RocksDB returned an error status; the message is RocksDB's.
    case rocksdb(String)
    /// A column family was asked for that the database was not opened with.
    case unknownColumnFamily(String)

    public var description: String {
        switch self {
        case .rocksdb(let message): return "rocksdb: \(message)"
        case .unknownColumnFamily(let name): return "rocksdb: unknown column family '\(name)'"
        }
    }
}

/// Calls a RocksDB C function that reports failure through a `char** errptr`, turning a set error into a
/// thrown `StorageError` and freeing RocksDB's message buffer.
@inline(__always)
func rocksCall<T>(_ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) throws -> T) throws -> T {
    var error: UnsafeMutablePointer<CChar>? = nil
    let result = try body(&error)
    if let error {
        let message = String(cString: error)
        rocksdb_free(error)
        throw StorageError.rocksdb(message)
    }
    return result
}
