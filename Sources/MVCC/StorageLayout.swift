/// How the store lays its state out in RocksDB.
///
/// - `kv`: one entry per (key, revision): `escape(key) ++ bigEndian(~main)` → record. The escape keeps user-key
///   order and makes encoded keys prefix-free, and the inverted revision puts a key's newest version first, so
///   "the latest version at or below R" is a single seek. Nothing about the key space is held in memory.
/// - `events`: `bigEndian(main) ++ bigEndian(sub)` → event kind and user key, for replaying history to watchers in
///   revision order; the data itself is read from `kv`.
/// - `leases`: `bigEndian(id)` → TTL; `leasekeys`: `bigEndian(id) ++ key` → empty, the keys attached to a lease.
/// - `meta`: applied Raft index, current revision, compaction points.
/// - `members`: `bigEndian(id)` → the member's name and URLs (`MemberRecord`); `cluster` → the cluster ID;
///   `removed ++ bigEndian(id)` → empty, for every member ever removed (its ID is never used again).
enum StorageLayout {
    static let kvFamily = "kv"
    static let eventFamily = "events"
    static let leaseFamily = "leases"
    static let leaseKeyFamily = "leasekeys"
    static let metaFamily = "meta"
    static let memberFamily = "members"
    /// In snapshot order; a new family goes at the end, so older snapshots still read.
    static let families = [kvFamily, eventFamily, leaseFamily, leaseKeyFamily, metaFamily, memberFamily]
    static let clusterIDKey: [UInt8] = Array("cluster".utf8)

    static func removedMemberKey(_ id: UInt64) -> [UInt8] {
        Array("removed".utf8) + bigEndian(Int64(bitPattern: id))
    }

    enum MetaKey {
        static let appliedIndex: [UInt8] = Array("applied_index".utf8)
        static let revision: [UInt8] = Array("revision".utf8)
        static let compactedRevision: [UInt8] = Array("compacted_revision".utf8)
        /// Up to where superseded versions have been physically removed; behind `compactedRevision` only
        /// while a compaction is in progress (or was interrupted by a crash).
        static let purgedRevision: [UInt8] = Array("purged_revision".utf8)
    }

    // MARK: keys of the kv family

    /// `key` with each 0x00 written as 0x00 0xFF, then the terminator 0x00 0x01.
    static func escapedKey(_ key: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(key.count + 10)
        appendEscaped(key, to: &out)
        return out
    }

    static func appendEscaped(_ key: [UInt8], to out: inout [UInt8]) {
        for byte in key {
            out.append(byte)
            if byte == 0 { out.append(0xFF) }
        }
        out.append(0)
        out.append(1)
    }

    static func versionKey(_ key: [UInt8], main: Int64) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(key.count + 10)
        appendEscaped(key, to: &out)
        appendBigEndian(~UInt64(bitPattern: main), to: &out)
        return out
    }

    /// `escapedPrefix ++ bigEndian(~main)`: where the latest version at or below `main` of that key starts.
    static func seekKey(escapedPrefix: [UInt8], atOrBelow main: Int64) -> [UInt8] {
        var out: [UInt8] = []
        writeSeekKey(into: &out, escapedPrefix: escapedPrefix, atOrBelow: main)
        return out
    }

    /// `seekKey` into a reused buffer, so scans do not allocate per key.
    static func writeSeekKey(into out: inout [UInt8], escapedPrefix: [UInt8], atOrBelow main: Int64) {
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: escapedPrefix)
        appendBigEndian(~UInt64(bitPattern: main), to: &out)
    }

    /// A key greater than every version of the key whose escaped form is `escapedPrefix`, and smaller than any
    /// other key's versions: the place to seek to in order to skip to the next user key.
    static func pastVersions(escapedPrefix: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        writePastVersions(into: &out, escapedPrefix: escapedPrefix)
        return out
    }

    static func writePastVersions(into out: inout [UInt8], escapedPrefix: [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: escapedPrefix)
        out.append(contentsOf: repeatElement(0xFF, count: 9))
    }

    /// The RocksDB bounds `[lower, upper)` (nil upper: unbounded) of the kv entries of the keys in `range`.
    static func bounds(of range: KeyRange) -> (lower: [UInt8], upper: [UInt8]?) {
        let lower = escapedKey(range.key)
        if range.isSingleKey { return (lower, pastVersions(escapedPrefix: lower)) }
        if range.isUnbounded { return (lower, nil) }
        return (lower, escapedKey(range.end))
    }

    /// Splits a kv-family key into the user key and the main revision.
    static func decodeVersionKey(_ raw: UnsafeRawBufferPointer) -> (key: [UInt8], main: Int64) {
        let escapedCount = raw.count - 8
        var key = [UInt8]()
        key.reserveCapacity(escapedCount - 2)
        var index = 0
        // The last two escaped bytes are the terminator.
        while index < escapedCount - 2 {
            let byte = raw[index]
            key.append(byte)
            index += byte == 0 ? 2 : 1
        }
        return (key, mainRevision(ofVersionKey: raw))
    }

    static func mainRevision(ofVersionKey raw: UnsafeRawBufferPointer) -> Int64 {
        Int64(bitPattern: ~readBigEndian(raw, at: raw.count - 8))
    }

    // MARK: keys of the other families

    static func eventKey(_ revision: Revision) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16)
        appendBigEndian(UInt64(bitPattern: revision.main), to: &out)
        appendBigEndian(UInt64(bitPattern: revision.sub), to: &out)
        return out
    }

    static func decodeEventKey(_ raw: UnsafeRawBufferPointer) -> Revision {
        Revision(main: Int64(bitPattern: readBigEndian(raw, at: 0)), sub: Int64(bitPattern: readBigEndian(raw, at: 8)))
    }

    static func leaseKey(_ id: Int64) -> [UInt8] {
        var out = [UInt8]()
        appendBigEndian(UInt64(bitPattern: id), to: &out)
        return out
    }

    static func leaseAttachmentKey(lease: Int64, key: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(8 + key.count)
        appendBigEndian(UInt64(bitPattern: lease), to: &out)
        out.append(contentsOf: key)
        return out
    }

    // MARK: integers

    static func appendBigEndian(_ value: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    static func bigEndian(_ value: Int64) -> [UInt8] {
        var out = [UInt8]()
        appendBigEndian(UInt64(bitPattern: value), to: &out)
        return out
    }

    static func readBigEndian(_ raw: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(raw[offset + i]) }
        return value
    }

    static func int64(_ bytes: [UInt8]) -> Int64 {
        bytes.withUnsafeBytes { Int64(bitPattern: readBigEndian($0, at: 0)) }
    }
}
