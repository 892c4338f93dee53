import Raft

extension DurableRaftLog {
    /// Rebuilds the log's state from its segments' records, oldest segment first.
    struct Recovery {
        var hardState = HardState()
        /// Set by the first segment's header.
        var snapshot: Snapshot?
        /// The index before the first entry known; its term is terms[0].
        private var base: UInt64 = 0
        private var terms: [UInt64] = [0]
        private var locations: [UInt64] = []
        private var lengths: [UInt32] = []

        /// Reads one segment's records; returns where they end and the highest entry index among them.
        mutating func read(segment sequence: UInt64, _ bytes: UnsafeRawBufferPointer, isLast: Bool,
                           name: String) throws -> (end: Int, highest: UInt64) {
            var offset = 0
            var highest: UInt64 = 0
            while true {
                switch RaftLogCodec.scan(bytes, at: offset) {
                case .end:
                    return (offset, highest)
                case .damaged:
                    // Only the last segment can end in a record a crash cut short: one is synced before the
                    // next is begun.
                    guard isLast else { throw RaftLogError.corrupt("\(name): damaged record at offset \(offset)") }
                    return (offset, highest)
                case .record(let payload):
                    let record = try RaftLogCodec.decodeRecord(UnsafeRawBufferPointer(rebasing: bytes[payload]))
                    guard (offset == 0) == (record.kind == .header) else {
                        throw RaftLogError.corrupt("\(name): a segment's header must be its first record and only that")
                    }
                    try apply(record, segment: sequence, payloadStart: payload.lowerBound, highest: &highest)
                    offset = payload.upperBound
                }
            }
        }

        private mutating func apply(_ record: RaftLogCodec.Record, segment: UInt64, payloadStart: Int,
                                    highest: inout UInt64) throws {
            if let state = record.hardState { hardState = state }
            switch record.kind {
            case .header:
                // Safe to force: a header always holds a snapshot point.
                let point = record.snapshot!
                if snapshot == nil || record.clearsLog { reset(to: point) } else { compact(to: point) }
            case .compaction:
                // Safe to force: a compaction record always holds one.
                compact(to: record.snapshot!)
            case .save:
                guard snapshot != nil else { throw RaftLogError.corrupt("a save record before any header") }
                if let installed = record.snapshot { reset(to: installed) }
                guard !record.entries.isEmpty else { return }
                var first = record.firstIndex
                var items = record.entries[...]
                if first <= base {
                    // Entries the snapshot point had already covered.
                    items = items.dropFirst(Int(base - first + 1))
                    first = base + 1
                }
                guard !items.isEmpty else { return }
                let last = base + UInt64(terms.count) - 1
                if first > last + 1 {
                    // The entries between were in segments removed once compacted; a later compaction record
                    // covers them, which `finish` checks.
                    base = first - 1
                    terms = [0]
                    locations = []
                    lengths = []
                } else {
                    let replaced = Int(last + 1 - first)
                    terms.removeLast(replaced)
                    locations.removeLast(replaced)
                    lengths.removeLast(replaced)
                }
                let prefix = segment << DurableRaftLog.offsetBits
                for item in items {
                    terms.append(item.term)
                    locations.append(prefix | UInt64(payloadStart + item.offset))
                    lengths.append(UInt32(item.length))
                }
                highest = max(highest, first + UInt64(items.count) - 1)
            }
        }

        private mutating func reset(to point: Snapshot) {
            snapshot = point
            base = point.metadata.index
            terms = [point.metadata.term]
            locations = []
            lengths = []
        }

        private mutating func compact(to point: Snapshot) {
            guard let current = snapshot, point.metadata.index > current.metadata.index else { return }
            snapshot = point
            dropThrough(point)
        }

        /// Drops the entries up to `point`'s index that are known.
        private mutating func dropThrough(_ point: Snapshot) {
            let index = point.metadata.index
            guard index > base else { return }
            if index >= base + UInt64(terms.count) - 1 {
                let keptSnapshot = snapshot
                reset(to: point)
                snapshot = keptSnapshot
                return
            }
            let dropped = Int(index - base)
            terms.removeFirst(dropped)
            locations.removeFirst(dropped)
            lengths.removeFirst(dropped)
            base = index
        }

        /// The log's terms, locations and lengths from `point` (the snapshot point recovered), checking that no
        /// entry after it is missing.
        mutating func finish(snapshot point: Snapshot) throws -> ([UInt64], [UInt64], [UInt32]) {
            dropThrough(point)
            guard base == point.metadata.index else {
                throw RaftLogError.corrupt("log: entries \(point.metadata.index + 1) to \(base) are missing")
            }
            terms[0] = point.metadata.term
            return (terms, locations, lengths)
        }
    }
}
