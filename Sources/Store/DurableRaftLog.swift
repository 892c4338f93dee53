import BinaryCoding
import Raft

/// The Raft log, hard state and latest snapshot point of one member, in segment files of its own.
///
/// Everything one `Ready` asks to persist is one checksummed record, written with one `fdatasync`, so a crash
/// leaves either all of it or none of it. Segments are allocated whole when created (see `LogSegment`), which
/// halves the cost of the sync that every write waits for; a segment goes once the entries in it are compacted.
/// The terms and file positions of the live entries are kept in memory (20 bytes an entry, bounded by
/// compaction), the latest entries themselves too (`RecentEntries`), so applying what was just written reads no
/// file.
public final class DurableRaftLog: RaftLogStorage {
    let directory: String
    let segmentSize: Int
    public private(set) var hardState: HardState
    public private(set) var snapshot: Snapshot
    /// Oldest first, numbered consecutively; the last is the one written to.
    private var segments: [LogSegment]
    /// terms[0] is the snapshot's term; terms[i] that of entry snapshot.index + i, which lies at locations[i - 1]
    /// (segment sequence << 40 | offset of its encoding) and is lengths[i - 1] bytes long.
    private var terms: [UInt64]
    private var locations: [UInt64] = []
    private var lengths: [UInt32] = []
    private var recent = RecentEntries(next: 1)
    private var writer = ByteWriter(reservingCapacity: 1 << 16)

    /// As etcd's WAL segments: large enough that beginning one (an allocation and two syncs) is rare.
    public static let defaultSegmentSize = 64 << 20
    static let offsetBits: UInt64 = 40

    /// Opens the log in `directory` (created if missing); a new log starts empty with `membership` as its
    /// configuration. A record cut short by a crash at the end of the last segment is dropped, having never been
    /// acknowledged; damage anywhere else is reported as corruption rather than read past.
    public init(directory: String, membership: Membership, segmentSize: Int = defaultSegmentSize) throws {
        self.directory = directory
        self.segmentSize = segmentSize
        try LogSegment.makeDirectory(directory)
        var recovery = Recovery()
        var sequences = try LogSegment.fileNames(in: directory).compactMap(LogSegment.sequence(ofFileName:)).sorted()
        for (position, sequence) in sequences.enumerated() where position > 0 && sequence != sequences[position - 1] + 1 {
            throw RaftLogError.corrupt("segment \(LogSegment.fileName(sequences[position - 1] + 1)) is missing")
        }
        var opened: [LogSegment] = []
        for (position, sequence) in sequences.enumerated() {
            let path = directory + "/" + LogSegment.fileName(sequence)
            let isLast = position == sequences.count - 1
            let (end, highest, size) = try LogSegment.withContents(of: path) { bytes in
                let (end, highest) = try recovery.read(segment: sequence, bytes, isLast: isLast, name: path)
                return (end, highest, bytes.count)
            }
            if isLast && end == 0 {
                // Created but never begun (a crash came before its header was written): begun again below.
                let segment = try LogSegment.open(path: path, sequence: sequence, end: 0)
                try segment.remove(directory: directory)
                sequences.removeLast()
                break
            }
            let segment = try LogSegment.open(path: path, sequence: sequence, end: end)
            segment.highestIndex = highest
            // Whatever follows the last whole record (zeros, or the rest of a record a crash cut short) is
            // zeroed: reading it to find out would touch the whole allocated segment, and bytes left there must
            // not be read as records once new ones are written over its start.
            if isLast { try segment.cut(at: end, size: max(size, segmentSize)) }
            opened.append(segment)
        }
        segments = opened
        let initial = Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, membership: membership), data: [])
        hardState = recovery.hardState
        snapshot = recovery.snapshot ?? initial
        (terms, locations, lengths) = try recovery.finish(snapshot: snapshot)
        recent = RecentEntries(next: lastIndex + 1)
        if segments.isEmpty {
            try beginSegment(sequence: (sequences.last ?? 0) + 1, clearsLog: true)
        }
    }

    public var firstIndex: UInt64 { snapshot.metadata.index + 1 }
    public var lastIndex: UInt64 { snapshot.metadata.index + UInt64(terms.count) - 1 }

    public func term(at index: UInt64) -> UInt64? {
        guard index >= snapshot.metadata.index, index <= lastIndex else { return nil }
        return terms[Int(index - snapshot.metadata.index)]
    }

    public func entries(_ range: Range<UInt64>, maxBytes: Int) -> [Entry] {
        precondition(range.lowerBound >= firstIndex && range.upperBound <= lastIndex + 1, "entries \(range) out of bounds")
        guard !range.isEmpty else { return [] }
        // How many entries the byte budget allows (at least one), from their lengths.
        var end = range.lowerBound
        var size = 0
        while end < range.upperBound {
            let payload = Int(lengths[Int(end - firstIndex)]) - 9
            if end > range.lowerBound && size + payload > maxBytes { break }
            size += payload
            end += 1
        }
        var out: [Entry] = []
        out.reserveCapacity(Int(end - range.lowerBound))
        do {
            var index = range.lowerBound
            while index < end {
                if let entry = recent.entry(at: index) {
                    out.append(entry)
                    index += 1
                } else {
                    index = try readFromSegment(from: index, to: min(end, max(recent.first, index + 1)), into: &out)
                }
            }
        } catch {
            // Raft cannot go on without its log; a member whose disk fails must stop, not guess.
            fatalError("reading the raft log failed: \(error)")
        }
        return out
    }

    /// Reads entries from `start` up to `end` or the end of `start`'s segment, with one read; returns the index
    /// after the last read.
    private func readFromSegment(from start: UInt64, to end: UInt64, into out: inout [Entry]) throws -> UInt64 {
        let first = Int(start - firstIndex)
        let sequence = locations[first] >> Self.offsetBits
        var last = first
        while UInt64(last + 1) < end - firstIndex && locations[last + 1] >> Self.offsetBits == sequence { last += 1 }
        let mask = (UInt64(1) << Self.offsetBits) - 1
        let begin = Int(locations[first] & mask)
        let span = Int(locations[last] & mask) + Int(lengths[last]) - begin
        let segment = segments[Int(sequence - segments[0].sequence)]
        let bytes = try segment.read(offset: begin, count: span)
        try bytes.withUnsafeBytes { raw in
            for position in first...last {
                let offset = Int(locations[position] & mask) - begin
                let entry = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + Int(lengths[position]))])
                out.append(try RaftLogCodec.decodeEntry(index: firstIndex + UInt64(position), entry))
            }
        }
        return firstIndex + UInt64(last + 1)
    }

    /// Persists what a `Ready` asks for, atomically: a snapshot to install, entries to append (replacing any
    /// persisted suffix they conflict with) and the hard state. With `sync` it returns once all is on disk.
    public func save(hardState newState: HardState?, entries: [Entry], snapshot newSnapshot: Snapshot?, sync: Bool) throws {
        let installed = newSnapshot.flatMap { $0.metadata.index > snapshot.metadata.index ? $0 : nil }
        guard newState != nil || !entries.isEmpty || installed != nil else { return }
        let base = installed?.metadata.index ?? snapshot.metadata.index
        let termCount = installed == nil ? terms.count : 1
        if let first = entries.first?.index {
            precondition(first > base && first <= base + UInt64(termCount), "append at \(first) leaves a gap")
        }
        if segments[segments.count - 1].end > 0 && segments[segments.count - 1].end + Self.estimatedSize(entries) > segmentSize {
            try beginSegment(sequence: segments[segments.count - 1].sequence + 1, clearsLog: false)
        }
        let offsets = RaftLogCodec.save(hardState: newState, snapshot: installed, entries: entries, into: &writer)
        let segment = segments[segments.count - 1]
        let start = UInt64(segment.end)
        try writer.bytes.withUnsafeBytes { try segment.append($0) }
        if sync { try segment.sync() }
        if let installed {
            snapshot = installed
            terms = [installed.metadata.term]
            locations = []
            lengths = []
            recent = RecentEntries(next: installed.metadata.index + 1)
        }
        if let first = entries.first?.index {
            let replaced = Int(lastIndex + 1 - first)
            terms.removeLast(replaced)
            locations.removeLast(replaced)
            lengths.removeLast(replaced)
            let prefix = segment.sequence << Self.offsetBits | start
            for (entry, offset) in zip(entries, offsets) {
                terms.append(entry.term)
                locations.append(prefix + UInt64(offset))
                lengths.append(UInt32(9 + entry.data.count))
            }
            segment.highestIndex = max(segment.highestIndex, lastIndex)
            recent.append(entries)
        }
        if let newState { hardState = newState }
        if installed != nil { try removeCompactedSegments() }
    }

    /// Forgets the log and the snapshot point, keeping only the term and vote: for a member whose store was
    /// lost mid-restore. Every entry it held was below the snapshot it was receiving, hence committed and held by
    /// the leader, which will send it a snapshot again.
    public func discardLog(membership: Membership) throws {
        hardState = HardState(term: hardState.term, vote: hardState.vote, commit: 0)
        snapshot = Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, membership: membership), data: [])
        terms = [0]
        locations = []
        lengths = []
        recent = RecentEntries(next: 1)
        try beginSegment(sequence: segments[segments.count - 1].sequence + 1, clearsLog: true)
        while segments.count > 1 { try segments.removeFirst().remove(directory: directory) }
    }

    /// Records a snapshot of the application's state at the applied `index` and drops the entries it covers.
    public func compact(to index: UInt64, data: [UInt8], membership: Membership) throws {
        guard index > snapshot.metadata.index, let term = term(at: index) else { return }
        let newSnapshot = Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: membership), data: data)
        RaftLogCodec.compaction(newSnapshot, into: &writer)
        let segment = segments[segments.count - 1]
        try writer.bytes.withUnsafeBytes { try segment.append($0) }
        try segment.sync()
        let dropped = Int(index - snapshot.metadata.index)
        terms.removeFirst(dropped)
        locations.removeFirst(dropped)
        lengths.removeFirst(dropped)
        snapshot = newSnapshot
        recent.dropThrough(index)
        try removeCompactedSegments()
    }

    /// Ends the current segment (synced) and begins the next with a header saying where the log stands.
    private func beginSegment(sequence: UInt64, clearsLog: Bool) throws {
        if let current = segments.last { try current.sync() }
        let segment = try LogSegment.create(in: directory, sequence: sequence, size: segmentSize)
        RaftLogCodec.header(hardState: hardState, snapshot: snapshot, clearsLog: clearsLog, into: &writer)
        try writer.bytes.withUnsafeBytes { try segment.append($0) }
        try segment.sync()
        segments.append(segment)
    }

    /// Removes the oldest segments while every entry in them is compacted: the next segment's header holds the
    /// state they recorded.
    private func removeCompactedSegments() throws {
        while segments.count > 1 && segments[0].highestIndex <= snapshot.metadata.index {
            try segments.removeFirst().remove(directory: directory)
        }
    }

    private static func estimatedSize(_ entries: [Entry]) -> Int {
        entries.reduce(64) { $0 + 13 + $1.data.count }
    }
}
