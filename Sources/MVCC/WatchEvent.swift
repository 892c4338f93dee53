/// A change to one key, as a watcher sees it.
public struct WatchEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case put, delete }

    public var kind: Kind
    /// For a put, the new version; for a delete, the key with `modRevision` set to the deleting revision and
    /// every other field zero (as etcd reports deletes).
    public var kv: KeyValue
    /// The version before this change, when the watcher asked for it and it has not been compacted.
    public var prevKV: KeyValue?

    public init(kind: Kind, kv: KeyValue, prevKV: KeyValue? = nil) {
        self.kind = kind
        self.kv = kv
        self.prevKV = prevKV
    }

    public var revision: Int64 { kv.modRevision }
}

/// What a watcher asks for.
public struct WatchRequest: Sendable, Hashable {
    public var range: KeyRange
    /// The first revision to report; 0 starts after the current revision. Revisions already written are
    /// replayed from storage first.
    public var startRevision: Int64
    /// Leave out puts (etcd's NOPUT filter).
    public var filterPuts: Bool
    /// Leave out deletes (etcd's NODELETE filter).
    public var filterDeletes: Bool
    public var prevKV: Bool

    public init(range: KeyRange, startRevision: Int64 = 0, filterPuts: Bool = false, filterDeletes: Bool = false,
                prevKV: Bool = false) {
        self.range = range
        self.startRevision = startRevision
        self.filterPuts = filterPuts
        self.filterDeletes = filterDeletes
        self.prevKV = prevKV
    }

    func admits(_ event: WatchEvent) -> Bool {
        switch event.kind {
        case .put: return !filterPuts
        case .delete: return !filterDeletes
        }
    }

    /// The events as this watcher should see them; the same array (no copy) when none needs changing, as for
    /// every watcher without filters.
    func shaped(_ events: [WatchEvent]) -> [WatchEvent] {
        if !filterPuts, !filterDeletes, prevKV || events.allSatisfy({ $0.prevKV == nil }) { return events }
        return events.compactMap(shaped)
    }

    /// The event as this watcher should see it: filtered out, or with prevKV kept only if asked for.
    func shaped(_ event: WatchEvent) -> WatchEvent? {
        guard admits(event) else { return nil }
        if prevKV || event.prevKV == nil { return event }
        var copy = event
        copy.prevKV = nil
        return copy
    }
}

/// What a watcher's consumer gets from `Watcher.poll()`.
public enum WatchPoll: Sendable, Hashable {
    /// The next events, in revision order, never splitting one revision across two polls.
    case events([WatchEvent])
    /// Nothing to report now; the watcher signals when there is.
    case idle
    /// The watcher's next revision was compacted away; the watcher is now canceled. Final.
    case compacted(compactRevision: Int64)
    /// The watcher was canceled. Final.
    case canceled
}
