import BinaryCoding

/// The store's whole state as one byte stream: Raft snapshots sent to lagging members, `etcdctl snapshot save`
/// files and `podium snapshot restore` all use it.
///
/// Layout: the magic line, then records (1 byte column family, 4-byte big-endian key length, key, 4-byte value
/// length, value), a 0 byte, zeros up to a multiple of 512 bytes, and the SHA-256 of everything before it, so a
/// damaged or truncated copy is refused. (etcd clients check that a snapshot is 512-byte blocks plus a SHA-256.)
public enum StoreSnapshot {
    static let magic = Array("PODIUM-SNAPSHOT-1\n".utf8)
    static let digestBytes = 32
    static let blockBytes = 512

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case notASnapshot
        case truncated
        case checksumMismatch
        case malformed(String)

        public var description: String {
            switch self {
            case .notASnapshot: return "not a Podium snapshot (bad magic)"
            case .truncated: return "snapshot is truncated"
            case .checksumMismatch: return "snapshot integrity check failed: SHA-256 mismatch (the file is corrupt)"
            case .malformed(let why): return "snapshot is malformed: \(why)"
            }
        }
    }

    /// What a snapshot holds, read from its meta records.
    public struct Summary: Sendable, Equatable {
        public var appliedIndex: UInt64
        public var revision: Int64
        public var compactedRevision: Int64
        public var records: Int
    }

    /// Checks a complete snapshot's magic and digest.
    public static func verify(_ bytes: [UInt8]) throws {
        guard bytes.count >= magic.count + 1 + digestBytes else {
            throw bytes.starts(with: magic) || magic.starts(with: bytes) ? Failure.truncated : Failure.notASnapshot
        }
        guard bytes.starts(with: magic) else { throw Failure.notASnapshot }
        let body = bytes[..<(bytes.count - digestBytes)]
        guard SHA256.hash(body) == Array(bytes[(bytes.count - digestBytes)...]) else { throw Failure.checksumMismatch }
    }

    /// Calls `record` for each record of a verified snapshot, in order.
    static func forEachRecord(_ bytes: [UInt8], _ record: (Int, ArraySlice<UInt8>, ArraySlice<UInt8>) throws -> Void) throws {
        var position = magic.count
        let end = bytes.count - digestBytes
        func u32() throws -> Int {
            guard position + 4 <= end else { throw Failure.malformed("record cut short at byte \(position)") }
            defer { position += 4 }
            return bytes[position..<position + 4].reduce(0) { $0 << 8 | Int($1) }
        }
        while true {
            guard position < end else { throw Failure.malformed("no end marker") }
            let family = Int(bytes[position])
            position += 1
            if family == 0 { break }
            guard family <= StorageLayout.families.count else { throw Failure.malformed("unknown column family \(family)") }
            let keyLength = try u32()
            guard position + keyLength <= end else { throw Failure.malformed("key cut short at byte \(position)") }
            let key = bytes[position..<position + keyLength]
            position += keyLength
            let valueLength = try u32()
            guard position + valueLength <= end else { throw Failure.malformed("value cut short at byte \(position)") }
            let value = bytes[position..<position + valueLength]
            position += valueLength
            try record(family, key, value)
        }
        guard bytes[position..<end].allSatisfy({ $0 == 0 }) else { throw Failure.malformed("data after the end marker") }
    }

    /// Reads a verified snapshot's summary without restoring it.
    public static func summary(_ bytes: [UInt8]) throws -> Summary {
        try verify(bytes)
        var summary = Summary(appliedIndex: 0, revision: 1, compactedRevision: 0, records: 0)
        // Safe to force: the meta family is one of the families by construction.
        let metaFamily = StorageLayout.families.firstIndex(of: StorageLayout.metaFamily)! + 1
        try forEachRecord(bytes) { family, key, value in
            summary.records += 1
            guard family == metaFamily else { return }
            switch Array(key) {
            case StorageLayout.MetaKey.appliedIndex: summary.appliedIndex = UInt64(bitPattern: StorageLayout.int64(Array(value)))
            case StorageLayout.MetaKey.revision: summary.revision = StorageLayout.int64(Array(value))
            case StorageLayout.MetaKey.compactedRevision: summary.compactedRevision = StorageLayout.int64(Array(value))
            default: break
            }
        }
        return summary
    }
}
