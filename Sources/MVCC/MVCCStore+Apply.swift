import Storage

extension MVCCStore {
    /// Applies the command of the Raft entry at `index`. An index at or below the last applied one is skipped,
    /// which makes replaying the log after a crash safe. A refused command (a `MVCCError`) changes nothing but
    /// still records its index. Throws only on storage failure, after which the store must not be used.
    public func apply(_ command: MVCCCommand, index: UInt64) throws -> ApplyOutcome {
        try writer.withLock { state throws -> ApplyOutcome in
            guard index > state.appliedIndex else { return .alreadyApplied }
            var context = WriteContext(main: state.revision + 1)
            var compactedTo: Int64?
            var alarmsAfterBatch: Set<Alarm>?
            let result: Result<MVCCResponse, MVCCError>
            do {
                try command.validate(options)
                if noSpaceAlarm.load(ordering: .relaxed), command.addsData { throw MVCCError.noSpace }
                switch command {
                case .put(let request):
                    try checkPut(request, context: context)
                    result = .success(.put(try put(request, context: &context)))
                case .deleteRange(let request):
                    result = .success(.deleteRange(try deleteRange(request, context: &context)))
                case .txn(let request):
                    result = .success(.txn(try txn(request, context: &context)))
                case .compact(let revision):
                    try compact(to: revision, state: state, context: context)
                    compactedTo = revision
                    result = .success(.compact(CompactResponse(revision: state.revision)))
                case .leaseGrant(let id, let ttl):
                    result = .success(.leaseGrant(try grantLease(id: id, ttl: ttl, index: index, context: context,
                                                                 revision: state.revision)))
                case .leaseRevoke(let id):
                    result = .success(.leaseRevoke(try revokeLease(id: id, context: &context)))
                case .leaseKeepAlive(let id):
                    guard let lease = try lease(id) else { throw MVCCError.leaseNotFound }
                    result = .success(.leaseKeepAlive(LeaseKeepAliveResponse(revision: state.revision, id: id,
                                                                             ttl: lease.grantedTTL)))
                case .memberUpdate(let update):
                    result = .success(.member(try updateMember(update, batch: context.batch)))
                case .memberRemove(let id):
                    context.batch.delete(StorageLayout.bigEndian(Int64(bitPattern: id)), in: memberFamily)
                    context.batch.put(StorageLayout.removedMemberKey(id), [], in: memberFamily)
                    result = .success(.member(nil))
                case .alarm(let alarm, let raise):
                    var raised = Set(try alarms())
                    if raise {
                        context.batch.put(alarm.key, [], in: memberFamily)
                        raised.insert(alarm)
                    } else {
                        context.batch.delete(alarm.key, in: memberFamily)
                        raised.remove(alarm)
                    }
                    alarmsAfterBatch = raised
                    result = .success(.alarms(raised.sorted { ($0.memberID, $0.kind.rawValue) < ($1.memberID, $1.kind.rawValue) }))
                }
            } catch let error as MVCCError {
                context = WriteContext(main: state.revision + 1)
                compactedTo = nil
                result = .failure(error)
            }
            let batch = context.batch
            if case .failure = result { alarmsAfterBatch = nil }
            batch.put(StorageLayout.MetaKey.appliedIndex, StorageLayout.bigEndian(Int64(bitPattern: index)), in: meta)
            if context.changed {
                batch.put(StorageLayout.MetaKey.revision, StorageLayout.bigEndian(context.main), in: meta)
            }
            try database.write(batch, sync: options.syncEachApply)
            state.appliedIndex = index
            if let alarmsAfterBatch { noSpaceAlarm.store(alarmsAfterBatch.contains { $0.kind == .noSpace }, ordering: .relaxed) }
            if let compactedTo {
                state.compactedRevision = compactedTo
                publishCompaction(compactedTo)
            }
            if context.changed {
                state.revision = context.main
                publish(revision: context.main, events: context.events)
            }
            return .applied(result)
        }
    }

    // MARK: puts and deletes

    /// Refusals that depend on the state: a lease that does not exist, or a key that must exist and does not.
    func checkPut(_ request: PutRequest, context: WriteContext) throws {
        if request.ignoreValue || request.ignoreLease {
            guard try current(request.key, context: context) != nil else { throw MVCCError.keyNotFound }
        }
        if request.lease != 0, try database.get(StorageLayout.leaseKey(request.lease), in: leaseFamily) == nil {
            throw MVCCError.leaseNotFound
        }
    }

    func put(_ request: PutRequest, context: inout WriteContext) throws -> PutResponse {
        let previous = try current(request.key, context: context)
        let value = request.ignoreValue ? previous?.value ?? [] : request.value
        let lease = request.ignoreLease ? previous?.lease ?? 0 : request.lease
        let record = VersionRecord(isTombstone: false, sub: context.sub, createRevision: previous?.createRevision ?? context.main,
                                   version: (previous?.version ?? 0) + 1, lease: lease, value: value)
        let kv = record.keyValue(key: request.key, main: context.main)
        write(record, for: request.key, context: &context)
        if previous?.lease ?? 0 != lease {
            if let old = previous?.lease, old != 0 {
                context.batch.delete(StorageLayout.leaseAttachmentKey(lease: old, key: request.key), in: leaseKeys)
            }
            if lease != 0 {
                context.batch.put(StorageLayout.leaseAttachmentKey(lease: lease, key: request.key), [], in: leaseKeys)
            }
        }
        context.overlay[request.key] = .some(kv)
        context.events.append(WatchEvent(kind: .put, kv: kv, prevKV: previous))
        return PutResponse(revision: context.main, prevKV: request.prevKV ? previous : nil)
    }

    func deleteRange(_ request: DeleteRangeRequest, context: inout WriteContext) throws -> DeleteRangeResponse {
        // Values are read even without prevKV: the delete events carry them to watchers that ask for them.
        let doomed = try liveKeys(in: request.range, at: context.main - 1, limit: 0, keysOnly: false, context: context)
        for kv in doomed {
            delete(kv, context: &context)
        }
        // Deleting nothing creates no revision: the store is still at the one before (as etcd answers).
        return DeleteRangeResponse(revision: context.changed ? context.main : context.main - 1, deleted: Int64(doomed.count),
                                   prevKVs: request.prevKV ? doomed : [])
    }

    /// Writes a tombstone for a live key and detaches it from its lease.
    func delete(_ kv: KeyValue, context: inout WriteContext) {
        write(VersionRecord.tombstone(sub: context.sub), for: kv.key, context: &context)
        if kv.lease != 0 {
            context.batch.delete(StorageLayout.leaseAttachmentKey(lease: kv.lease, key: kv.key), in: leaseKeys)
        }
        context.overlay[kv.key] = .some(nil)
        let deleted = KeyValue(key: kv.key, value: [], createRevision: 0, modRevision: context.main, version: 0, lease: 0)
        context.events.append(WatchEvent(kind: .delete, kv: deleted, prevKV: kv))
    }

    func write(_ record: VersionRecord, for key: [UInt8], context: inout WriteContext) {
        context.batch.put(StorageLayout.versionKey(key, main: context.main), record.encoded(), in: kv)
        context.batch.put(StorageLayout.eventKey(Revision(main: context.main, sub: context.sub)), key, in: events)
        context.sub += 1
    }

    /// The live version of `key` as the entry being applied sees it: its own earlier changes first, then storage.
    func current(_ key: [UInt8], context: WriteContext) throws -> KeyValue? {
        if let pending = context.overlay[key] { return pending }
        return try history.latest(key: key, atOrBelow: context.main - 1)
    }
}

/// The changes of the entry being applied: its batch, the revision it writes at, the events it produces, and
/// the keys it has changed so far (so later operations of the same transaction see them).
struct WriteContext {
    let batch: WriteBatch
    var main: Int64
    var sub: Int64 = 0
    /// Changed keys: the new live version, or nil for a deleted key.
    var overlay: [[UInt8]: KeyValue?] = [:]
    var events: [WatchEvent] = []

    init(main: Int64, batch: WriteBatch = WriteBatch()) {
        self.main = main
        self.batch = batch
    }

    var changed: Bool { sub > 0 }
}
