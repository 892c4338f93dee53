import Raft

/// The tail of the Raft log as it was last written, kept in memory so that applying what was just committed (and
/// sending it to a follower a little behind) reads no file. Bounded by count and by bytes: older entries, or the
/// tail of a log of large values, are read from the segments instead.
struct RecentEntries {
    /// The index of `entries[0]`; everything from here to the log's end is held.
    private(set) var first: UInt64
    private var entries: [Entry] = []
    private var bytes = 0

    static let countLimit = 8192
    static let byteLimit = 32 << 20

    init(next: UInt64) {
        first = next
    }

    /// Entry `index`, if held.
    func entry(at index: UInt64) -> Entry? {
        guard index >= first, index < first + UInt64(entries.count) else { return nil }
        return entries[Int(index - first)]
    }

    /// Takes entries just appended to the log (replacing any held from their first index on).
    mutating func append(_ appended: [Entry]) {
        guard let start = appended.first?.index else { return }
        if start < first || start > first + UInt64(entries.count) {
            self = RecentEntries(next: start)
        } else {
            let replaced = entries.count - Int(start - first)
            bytes -= entries.suffix(replaced).reduce(0) { $0 + $1.data.count }
            entries.removeLast(replaced)
        }
        entries.append(contentsOf: appended)
        bytes += appended.reduce(0) { $0 + $1.data.count }
        // Trimmed in batches, so the front is not shifted on every append.
        guard entries.count > Self.countLimit + Self.countLimit / 2 || bytes > Self.byteLimit + Self.byteLimit / 2 else { return }
        var dropped = 0
        while entries.count - dropped > Self.countLimit || (bytes > Self.byteLimit && dropped < entries.count) {
            bytes -= entries[dropped].data.count
            dropped += 1
        }
        drop(dropped)
    }

    /// Forgets the entries up to `index` (compacted).
    mutating func dropThrough(_ index: UInt64) {
        guard index >= first else { return }
        let dropped = min(entries.count, Int(index + 1 - first))
        bytes -= entries.prefix(dropped).reduce(0) { $0 + $1.data.count }
        drop(dropped)
        first = max(first, index + 1)
    }

    private mutating func drop(_ count: Int) {
        entries.removeFirst(count)
        first += UInt64(count)
    }
}
