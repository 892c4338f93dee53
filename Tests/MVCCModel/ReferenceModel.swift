import MVCC
@_exported import TestSupport

/// A deliberately naive, in-memory version of the store's semantics: every version of every key in a dictionary,
/// every read a filter over all keys. It is the oracle the real store is checked against.
public struct ReferenceModel: Sendable {
    /// One version of a key: a live value, or nil for a deletion.
    struct Version: Sendable {
        var main: Int64
        var kv: KeyValue?
    }

    public internal(set) var revision: Int64 = 1
    public internal(set) var compactedRevision: Int64 = 0
    public internal(set) var appliedIndex: UInt64 = 0
    var versions: [[UInt8]: [Version]] = [:]
    /// Lease ID → granted TTL.
    public internal(set) var leases: [Int64: Int64] = [:]
    /// Member records (outside the key space; no revision).
    public internal(set) var members: [UInt64: MemberRecord] = [:]
    /// IDs removed once, never to have a record again.
    public internal(set) var removedMembers: Set<UInt64> = []
    public internal(set) var alarms: Set<Alarm> = []
    /// Every event ever, in revision order.
    public internal(set) var events: [WatchEvent] = []
    public let options: MVCCOptions

    public init(options: MVCCOptions = MVCCOptions()) {
        self.options = options
    }

    // MARK: reads

    func live(_ key: [UInt8], at revision: Int64) -> KeyValue? {
        versions[key]?.last { $0.main <= revision }?.kv
    }

    func liveKeys(in range: KeyRange, at revision: Int64) -> [KeyValue] {
        versions.keys.filter(range.contains).sorted { $0.lexicographicallyPrecedes($1) }.compactMap { live($0, at: revision) }
    }

    public func range(_ request: RangeRequest) -> Result<RangeResponse, MVCCError> {
        if request.range.key.isEmpty { return .failure(.emptyKey) }
        let at = request.revision > 0 ? request.revision : revision
        if at > revision { return .failure(.futureRevision) }
        if at < compactedRevision { return .failure(.compacted(compactRevision: compactedRevision)) }
        return .success(range(request, at: at, header: revision, overlay: self))
    }

    /// `state` supplies the data (the model itself, or a copy mid-transaction).
    func range(_ request: RangeRequest, at revision: Int64, header: Int64, overlay state: ReferenceModel) -> RangeResponse {
        var kvs = state.liveKeys(in: request.range, at: revision)
        let count = Int64(kvs.count)
        if request.countOnly { return RangeResponse(revision: header, kvs: [], more: false, count: count) }
        if request.keysOnly { kvs = kvs.map { var kv = $0; kv.value = []; return kv } }
        kvs = kvs.filter {
            (request.maxModRevision == 0 || $0.modRevision <= request.maxModRevision)
                && (request.minModRevision == 0 || $0.modRevision >= request.minModRevision)
                && (request.maxCreateRevision == 0 || $0.createRevision <= request.maxCreateRevision)
                && (request.minCreateRevision == 0 || $0.createRevision >= request.minCreateRevision)
        }
        var order = request.sortOrder
        if request.sortTarget != .key && order == .none { order = .ascend }
        if order != .none {
            func key(_ kv: KeyValue) -> [UInt8] {
                switch request.sortTarget {
                case .key: return kv.key
                case .value: return kv.value
                case .version: return bigEndian(kv.version)
                case .create: return bigEndian(kv.createRevision)
                case .mod: return bigEndian(kv.modRevision)
                }
            }
            // Insertion sort: stable and obviously right.
            var sorted: [KeyValue] = []
            for kv in kvs {
                var position = sorted.count
                while position > 0 {
                    let before = sorted[position - 1]
                    let outOfOrder = order == .ascend ? key(kv).lexicographicallyPrecedes(key(before))
                                                      : key(before).lexicographicallyPrecedes(key(kv))
                    if !outOfOrder { break }
                    position -= 1
                }
                sorted.insert(kv, at: position)
            }
            kvs = sorted
        }
        var more = false
        if request.limit > 0 && kvs.count > request.limit {
            kvs = Array(kvs.prefix(Int(request.limit)))
            more = true
        }
        return RangeResponse(revision: header, kvs: kvs, more: more, count: count)
    }

    private func bigEndian(_ value: Int64) -> [UInt8] {
        // Sign-flipped so negative numbers sort first bytewise.
        let flipped = UInt64(bitPattern: value) ^ (1 << 63)
        return (0..<8).map { UInt8(truncatingIfNeeded: flipped >> (56 - 8 * $0)) }
    }

    /// The events from `start` on (all of them when `start` is 0 or below the history), as a watcher sees them.
    public func events(for request: WatchRequest, from start: Int64) -> [WatchEvent] {
        events.filter { $0.revision >= start && request.range.contains($0.kv.key) }.compactMap { event in
            if event.kind == .put && request.filterPuts { return nil }
            if event.kind == .delete && request.filterDeletes { return nil }
            var copy = event
            if !request.prevKV { copy.prevKV = nil }
            return copy
        }
    }

    public func lease(_ id: Int64) -> LeaseInfo? {
        guard let ttl = leases[id] else { return nil }
        let keys = versions.keys.filter { live($0, at: revision)?.lease == id }.sorted { $0.lexicographicallyPrecedes($1) }
        return LeaseInfo(id: id, grantedTTL: ttl, keys: keys)
    }
}
