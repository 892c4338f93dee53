import Storage

/// Limits and tuning of an `MVCCStore`. The defaults are etcd's.
public struct MVCCOptions: Sendable {
    /// Largest value a put may carry (etcd's default request limit, 1.5 MiB).
    public var maxValueBytes = 1_572_864
    /// Most operations in each list of a transaction (etcd's --max-txn-ops).
    public var maxTxnOperations = 128
    /// Longest lease TTL in seconds (etcd's MaxLeaseTTL).
    public var maxLeaseTTL: Int64 = 9_000_000_000
    /// Shortest lease TTL in seconds; shorter requests are raised to it. The server derives it from its
    /// election timeout so a lease cannot expire during a leader election.
    public var minLeaseTTL: Int64 = 1
    /// Fsync every applied entry. Off when the entries can be replayed from a durable Raft log, and for
    /// callers that group-commit with `MVCCStore.sync()`.
    public var syncEachApply = false
    /// Events buffered per watcher before it falls behind and catches up from storage.
    public var watchBufferLimit = 4096
    /// History entries a behind watcher reads per catch-up step.
    public var watchCatchUpBatch = 1024
    public var database = DatabaseOptions()

    public init() {}
}
