import Storage
import Synchronization

/// etcd's v3 data model as a deterministic state machine on RocksDB: revisioned keys, ranges at any uncompacted
/// revision, transactions, compaction, leases and watches.
///
/// Commands are applied one Raft entry at a time with `apply(_:index:)`; each entry's effects and its index are
/// written in one atomic batch, so re-applying an index is a no-op and a crash leaves the state of some applied
/// index. Nothing here reads a clock: lease expiry is decided by the caller (see `LeaseDeadlines`) and applied
/// as a revoke. Reads may run concurrently with the (single) writer.
public final class MVCCStore: Sendable {
    struct WriterState {
        var appliedIndex: UInt64
        var revision: Int64
        var compactedRevision: Int64
    }

    public let options: MVCCOptions
    let database: Database
    let kv: ColumnFamily
    let events: ColumnFamily
    let leaseFamily: ColumnFamily
    let leaseKeys: ColumnFamily
    let meta: ColumnFamily
    let memberFamily: ColumnFamily
    let history: EventHistory
    /// Held for the whole of each apply: one writer at a time, in log order.
    let writer: Mutex<WriterState>
    private let currentRevision: Atomic<Int64>
    private let compactRevision: Atomic<Int64>
    /// Serialises physical purges of compacted versions.
    private let purging = Mutex<Void>(())
    public let watchHub: WatchHub
    /// Whether a NOSPACE alarm is raised (kept in step with the stored alarms by apply, open and restore).
    let noSpaceAlarm = Atomic<Bool>(false)
    /// Shared by reads (ranges, watch catch-up, snapshots), taken alone by `restore`.
    let restoreGate: RestoreGate

    /// Opens the store in `directory`, creating an empty one (at revision 1, as etcd starts) if there is none.
    public init(directory: String, options: MVCCOptions = MVCCOptions()) throws {
        self.options = options
        database = try Database(path: directory, columnFamilies: StorageLayout.families, options: options.database)
        kv = try database.columnFamily(StorageLayout.kvFamily)
        events = try database.columnFamily(StorageLayout.eventFamily)
        leaseFamily = try database.columnFamily(StorageLayout.leaseFamily)
        leaseKeys = try database.columnFamily(StorageLayout.leaseKeyFamily)
        meta = try database.columnFamily(StorageLayout.metaFamily)
        memberFamily = try database.columnFamily(StorageLayout.memberFamily)
        restoreGate = RestoreGate()
        history = EventHistory(database: database, kv: kv, events: events, restoreGate: restoreGate)

        let applied = try database.get(StorageLayout.MetaKey.appliedIndex, in: meta).map(StorageLayout.int64) ?? 0
        let revision = try database.get(StorageLayout.MetaKey.revision, in: meta).map(StorageLayout.int64) ?? 1
        let compacted = try database.get(StorageLayout.MetaKey.compactedRevision, in: meta).map(StorageLayout.int64) ?? 0
        writer = Mutex(WriterState(appliedIndex: UInt64(bitPattern: applied), revision: revision,
                                   compactedRevision: compacted))
        currentRevision = Atomic(revision)
        compactRevision = Atomic(compacted)
        watchHub = WatchHub(history: history, revision: revision, compactRevision: compacted,
                            bufferLimit: options.watchBufferLimit, catchUpBatch: options.watchCatchUpBatch)
        refreshAlarmFlag()
    }

    /// The revision of the last change.
    public var revision: Int64 { currentRevision.load(ordering: .sequentiallyConsistent) }

    /// Revisions below this one have been compacted (0: never compacted).
    public var compactedRevision: Int64 { compactRevision.load(ordering: .sequentiallyConsistent) }

    /// The Raft index of the last applied entry.
    public var appliedIndex: UInt64 { writer.withLock { $0.appliedIndex } }

    /// Makes every applied entry durable with one fsync (group commit for `syncEachApply == false`).
    public func sync() throws {
        try database.syncWAL()
    }

    /// Hands applied entries buffered in memory to the operating system (no fsync; see
    /// `DatabaseOptions.manualWALFlush`): called once per batch of applied entries.
    public func flushAppliedWrites() throws {
        if options.database.manualWALFlush { try database.flushWAL() }
    }

    /// Starts a watch; see `WatchHub.watch`.
    public func watch(_ request: WatchRequest, notify: @escaping @Sendable () -> Void = {}) -> Watcher {
        watchHub.watch(request, notify: notify)
    }

    /// The last revision offered to watchers. Every event up to it is in its live watchers' buffers or already
    /// taken (it is published after its events are offered), so a watcher caught up after this was read has
    /// been given everything through it.
    public var watchPublishedRevision: Int64 { watchHub.positions().revision }

    /// A consistent copy of the whole store in `directory` (which must not exist), openable as a store.
    public func checkpoint(to directory: String) throws {
        try database.checkpoint(to: directory)
    }

    /// Makes a revision visible to readers and watchers once its batch is written.
    func publish(revision: Int64, events: [WatchEvent]) {
        currentRevision.store(revision, ordering: .sequentiallyConsistent)
        if !events.isEmpty { watchHub.publish(revision: revision, events: events) }
    }

    /// The whole state was replaced by a snapshot's.
    func publishRestore(revision: Int64, compactedRevision: Int64) {
        refreshAlarmFlag()
        currentRevision.store(revision, ordering: .sequentiallyConsistent)
        compactRevision.store(compactedRevision, ordering: .sequentiallyConsistent)
        watchHub.restored(revision: revision, compactRevision: compactedRevision)
    }

    func publishCompaction(_ revision: Int64) {
        compactRevision.store(revision, ordering: .sequentiallyConsistent)
        watchHub.compacted(at: revision)
    }

    func withPurgeLock<R>(_ body: () throws -> R) rethrows -> R {
        try purging.withLock { _ in try body() }
    }
}
