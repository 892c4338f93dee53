/// The value stored in the kv family for one version of a key: a live value or a tombstone.
/// Layout: flags (1 byte, bit 0 = tombstone), sub revision, create revision, version, lease (8 bytes each,
/// big-endian), then the value bytes.
struct VersionRecord: Hashable {
    static let headerSize = 33

    var isTombstone: Bool
    var sub: Int64
    var createRevision: Int64
    var version: Int64
    var lease: Int64
    var value: [UInt8]

    static func tombstone(sub: Int64) -> VersionRecord {
        VersionRecord(isTombstone: true, sub: sub, createRevision: 0, version: 0, lease: 0, value: [])
    }

    func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(VersionRecord.headerSize + value.count)
        out.append(isTombstone ? 1 : 0)
        StorageLayout.appendBigEndian(UInt64(bitPattern: sub), to: &out)
        StorageLayout.appendBigEndian(UInt64(bitPattern: createRevision), to: &out)
        StorageLayout.appendBigEndian(UInt64(bitPattern: version), to: &out)
        StorageLayout.appendBigEndian(UInt64(bitPattern: lease), to: &out)
        out.append(contentsOf: value)
        return out
    }

    static func isTombstone(_ raw: UnsafeRawBufferPointer) -> Bool { raw[0] & 1 == 1 }

    init(isTombstone: Bool, sub: Int64, createRevision: Int64, version: Int64, lease: Int64, value: [UInt8]) {
        self.isTombstone = isTombstone
        self.sub = sub
        self.createRevision = createRevision
        self.version = version
        self.lease = lease
        self.value = value
    }

    /// Decodes a stored record; `withValue: false` skips copying the value (keys-only reads).
    init(decoding raw: UnsafeRawBufferPointer, withValue: Bool = true) {
        isTombstone = raw[0] & 1 == 1
        sub = Int64(bitPattern: StorageLayout.readBigEndian(raw, at: 1))
        createRevision = Int64(bitPattern: StorageLayout.readBigEndian(raw, at: 9))
        version = Int64(bitPattern: StorageLayout.readBigEndian(raw, at: 17))
        lease = Int64(bitPattern: StorageLayout.readBigEndian(raw, at: 25))
        value = withValue ? [UInt8](UnsafeRawBufferPointer(rebasing: raw[VersionRecord.headerSize...])) : []
    }

    func keyValue(key: [UInt8], main: Int64) -> KeyValue {
        KeyValue(key: key, value: value, createRevision: createRevision, modRevision: main, version: version, lease: lease)
    }
}
