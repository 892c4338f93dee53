import TestSupport
import MVCC

/// Compares a store with the model, listing every difference found (empty: they agree).
public enum StateCheck {
    /// Revision counters, leases and their keys, every key at the current revision, and the whole keyspace at
    /// `sampledRevisions` random readable revisions; with `history`, also the replayable watch history.
    public static func differences(store: MVCCStore, model: ReferenceModel, random: inout SeededRandom,
                                   sampledRevisions: Int = 3, history: Bool = false) throws -> [String] {
        var problems: [String] = []
        if store.revision != model.revision { problems.append("revision \(store.revision) != model \(model.revision)") }
        if store.compactedRevision != model.compactedRevision {
            problems.append("compacted \(store.compactedRevision) != model \(model.compactedRevision)")
        }
        if store.appliedIndex != model.appliedIndex {
            problems.append("applied index \(store.appliedIndex) != model \(model.appliedIndex)")
        }
        let storeLeases = try store.leases().map { try store.lease($0.id, withKeys: true) }
        let modelLeases = model.leases.keys.sorted { UInt64(bitPattern: $0) < UInt64(bitPattern: $1) }.map(model.lease)
        if storeLeases != modelLeases { problems.append("leases \(storeLeases) != model \(modelLeases)") }

        var revisions = [model.revision]
        let oldest = max(model.compactedRevision, 1)
        for _ in 0..<sampledRevisions where oldest < model.revision { revisions.append(random.int64(oldest...model.revision)) }
        for revision in revisions {
            let request = RangeRequest(range: KeyRange(key: [0], end: [0]), revision: revision)
            let got = try store.range(request)
            let want = try model.range(request).get()
            if got != want { problems.append("all keys at \(revision): \(got) != model \(want)") }
        }
        if history {
            let request = WatchRequest(range: KeyRange(key: [0], end: [0]), startRevision: max(model.compactedRevision, 1),
                                       prevKV: true)
            let watcher = store.watch(request)
            defer { watcher.cancel() }
            var replayed: [WatchEvent] = []
            while case .events(let events) = try watcher.poll() { replayed += events }
            let want = model.events(for: request, from: request.startRevision)
            let compacted = model.compactedRevision
            if replayed.map({ withoutPurgedPrevKV($0, compacted) }) != want.map({ withoutPurgedPrevKV($0, compacted) }) {
                problems.append("history: \(replayed.count) events != model \(want.count)")
            }
        }
        return problems
    }

    /// An event at the compaction point may have lost its prevKV (the version before the point was purged, as
    /// in etcd); compare such events without it.
    private static func withoutPurgedPrevKV(_ event: WatchEvent, _ compacted: Int64) -> WatchEvent {
        guard event.revision <= compacted else { return event }
        var copy = event
        copy.prevKV = nil
        return copy
    }
}
