import CRocksDB

/// A column family of an open `Database`. It keeps its database alive, so a handle can never dangle.
public struct ColumnFamily: @unchecked Sendable {
    // Sendable: the handle is immutable and RocksDB column family handles are thread-safe.
    let handle: OpaquePointer
    let database: Database
    public let name: String
}
