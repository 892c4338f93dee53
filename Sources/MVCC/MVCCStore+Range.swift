import Storage
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension MVCCStore {
    /// Reads keys at a revision (0: the current one) with etcd's semantics for limit, sorting, revision filters,
    /// keys-only and count-only. Throws `MVCCError.compacted` below the compaction point and
    /// `.futureRevision` above the current revision.
    public func range(_ request: RangeRequest) throws -> RangeResponse {
        try restoreGate.reading { try currentRange(request) }
    }

    private func currentRange(_ request: RangeRequest) throws -> RangeResponse {
        try RequestValidation.checkKey(request.range.key)
        let current = revision
        let at = request.revision > 0 ? request.revision : current
        if at > current { throw MVCCError.futureRevision }
        let compacted = compactedRevision
        if at < compacted { throw MVCCError.compacted(compactRevision: compacted) }
        let response = try range(request, at: at, headerRevision: current, context: nil)
        // A compaction that started during the read may have purged versions the read needed.
        let compactedAfter = compactedRevision
        if at < compactedAfter { throw MVCCError.compacted(compactRevision: compactedAfter) }
        return response
    }

    /// A range inside the entry being applied (a transaction), which also sees the entry's own changes.
    func range(_ request: RangeRequest, context: WriteContext) throws -> RangeResponse {
        // Once the transaction has written, its own revision is the current one and reads there see its writes,
        // as in etcd.
        let current = context.changed ? context.main : context.main - 1
        let at = request.revision > 0 ? request.revision : current
        if at > current { throw MVCCError.futureRevision }
        let compacted = compactedRevision
        if at < compacted { throw MVCCError.compacted(compactRevision: compacted) }
        let visible = context.changed && at == context.main ? context : nil
        return try range(request, at: at, headerRevision: current, context: visible)
    }

    private func range(_ request: RangeRequest, at revision: Int64, headerRevision: Int64,
                       context: WriteContext?) throws -> RangeResponse {
        var order = request.sortOrder
        // Keys come out in ascending key order already; any other target sorts ascending by default.
        if request.sortTarget != .key && order == .none { order = .ascend }
        // Sorting or filtering needs every key before the limit can be applied; otherwise one extra key
        // tells whether there are more. (etcd 3.4 applies the limit before a default-order sort by another
        // target, which returns the wrong keys; we sort the whole range.)
        let filtersOrSorts = order != .none || request.minModRevision != 0 || request.maxModRevision != 0
            || request.minCreateRevision != 0 || request.maxCreateRevision != 0
        let fetchLimit = request.limit > 0 && !filtersOrSorts ? Int(request.limit) + 1 : 0
        var (kvs, count) = try scan(request.range, at: revision, limit: fetchLimit, keysOnly: request.keysOnly,
                                    countOnly: request.countOnly, context: context)
        if request.countOnly {
            return RangeResponse(revision: headerRevision, kvs: [], more: false, count: count)
        }
        if request.maxModRevision != 0 { kvs.removeAll { $0.modRevision > request.maxModRevision } }
        if request.minModRevision != 0 { kvs.removeAll { $0.modRevision < request.minModRevision } }
        if request.maxCreateRevision != 0 { kvs.removeAll { $0.createRevision > request.maxCreateRevision } }
        if request.minCreateRevision != 0 { kvs.removeAll { $0.createRevision < request.minCreateRevision } }
        if order != .none { sort(&kvs, by: request.sortTarget, order: order) }
        var more = false
        if request.limit > 0 && kvs.count > Int(request.limit) {
            kvs.removeLast(kvs.count - Int(request.limit))
            more = true
        }
        return RangeResponse(revision: headerRevision, kvs: kvs, more: more, count: count)
    }

    private func sort(_ kvs: inout [KeyValue], by target: RangeRequest.SortTarget, order: RangeRequest.SortOrder) {
        func ascending(_ a: KeyValue, _ b: KeyValue) -> Bool {
            switch target {
            case .key: return a.key.lexicographicallyPrecedes(b.key)
            case .version: return a.version < b.version
            case .create: return a.createRevision < b.createRevision
            case .mod: return a.modRevision < b.modRevision
            case .value: return a.value.lexicographicallyPrecedes(b.value)
            }
        }
        // Stable, so equal elements stay in key order, as etcd's sort.Stable keeps them.
        var indexed = Array(kvs.enumerated())
        indexed.sort { lhs, rhs in
            let (a, b) = order == .descend ? (rhs.element, lhs.element) : (lhs.element, rhs.element)
            if ascending(a, b) { return true }
            if ascending(b, a) { return false }
            return lhs.offset < rhs.offset
        }
        kvs = indexed.map(\.element)
    }

    /// The live keys of `range` at `revision`, in key order, at most `limit` of them (0: all), merged with the
    /// changes of `context` when given.
    func liveKeys(in range: KeyRange, at revision: Int64, limit: Int, keysOnly: Bool, context: WriteContext?) throws -> [KeyValue] {
        try scan(range, at: revision, limit: limit, keysOnly: keysOnly, countOnly: false, context: context).kvs
    }

    /// Scans the kv family. Returns up to `limit` live versions (0: all) and the number of live keys in the
    /// whole range.
    private func scan(_ range: KeyRange, at revision: Int64, limit: Int, keysOnly: Bool, countOnly: Bool,
                      context: WriteContext?) throws -> (kvs: [KeyValue], count: Int64) {
        let pending = context.map { context in context.overlay.filter { range.contains($0.key) } } ?? [:]
        if !pending.isEmpty {
            // Merging needs every stored key of the range; the limit and count-only apply afterwards.
            let stored = try scan(range, at: revision, limit: 0, keysOnly: keysOnly, countOnly: false, context: nil)
            let merged = merge(stored.kvs, count: stored.count, with: pending, limit: limit, keysOnly: keysOnly)
            return countOnly ? ([], merged.count) : merged
        }
        let (lower, upper) = StorageLayout.bounds(of: range)
        let cursor = database.cursor(in: kv, lowerBound: lower, upperBound: upper)
        var kvs: [KeyValue] = []
        var count: Int64 = 0
        // Reused for every key, so counting a large range allocates nothing per key.
        var prefix: [UInt8] = []
        var target: [UInt8] = []
        prefix.reserveCapacity(64)
        target.reserveCapacity(80)
        cursor.seek(lower)
        while cursor.isValid {
            let main = cursor.withKey { raw in
                prefix.removeAll(keepingCapacity: true)
                prefix.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - 8)]))
                return StorageLayout.mainRevision(ofVersionKey: raw)
            }
            if main > revision {
                // Newer than the read: the version we want, if any, is further on.
                StorageLayout.writeSeekKey(into: &target, escapedPrefix: prefix, atOrBelow: revision)
                cursor.seek(target)
                continue
            }
            if !cursor.withValue(VersionRecord.isTombstone) {
                count += 1
                if !countOnly && (limit == 0 || kvs.count < limit) {
                    let key = cursor.withKey { StorageLayout.decodeVersionKey($0).key }
                    let record = cursor.withValue { VersionRecord(decoding: $0, withValue: !keysOnly) }
                    kvs.append(record.keyValue(key: key, main: main))
                }
            }
            skipOlderVersions(of: prefix, cursor: cursor, scratch: &target)
        }
        try cursor.check()
        return (kvs, count)
    }

    /// Moves the cursor past the remaining (older) versions of the key whose escaped form is `prefix`. After
    /// compaction a key has few versions, so stepping is usually cheaper than seeking.
    private func skipOlderVersions(of prefix: [UInt8], cursor: Cursor, scratch: inout [UInt8]) {
        for _ in 0..<3 {
            cursor.next()
            guard cursor.isValid else { return }
            let sameKey = cursor.withKey { raw in
                // Both buffers are non-empty here (an escaped key has at least its 2-byte terminator), so their
                // base addresses exist.
                raw.count - 8 == prefix.count && prefix.withUnsafeBytes { memcmp($0.baseAddress!, raw.baseAddress!, prefix.count) == 0 }
            }
            if !sameKey { return }
        }
        StorageLayout.writePastVersions(into: &scratch, escapedPrefix: prefix)
        cursor.seek(scratch)
    }

    private func merge(_ stored: [KeyValue], count: Int64, with pending: [[UInt8]: KeyValue?], limit: Int,
                       keysOnly: Bool) -> (kvs: [KeyValue], count: Int64) {
        var byKey: [[UInt8]: KeyValue] = [:]
        for kv in stored { byKey[kv.key] = kv }
        var count = count
        for (key, change) in pending {
            let existed = byKey[key] != nil
            if var kv = change {
                if keysOnly { kv.value = [] }
                byKey[key] = kv
                if !existed { count += 1 }
            } else if existed {
                byKey[key] = nil
                count -= 1
            }
        }
        var kvs = byKey.values.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        if limit > 0 && kvs.count > limit { kvs.removeLast(kvs.count - limit) }
        return (kvs, count)
    }
}
