import BinaryCoding
import Raft

/// The byte layouts of what `DurableRaftLog` writes (see `ByteWriter`).
///
/// A segment file is a run of records, each `length` (4 bytes), `CRC-32C` of the payload (4 bytes), then the
/// payload: a kind byte and its fields. A zero length ends a segment's records; a record whose checksum fails is
/// the end of what a crash left whole. The keys are those of the log's earlier home, a RocksDB column family,
/// read once to move an existing member's log into segment files.
enum RaftLogCodec {
    static let recordHeaderSize = 8

    enum RecordKind: UInt8 {
        /// The first record of every segment: the hard state and snapshot point when the segment was begun, so
        /// the segments before it can be removed once compacted. With `clearsLog`, also the end of every entry
        /// before it.
        case header = 1
        /// What one `Ready` persisted: a hard state, a snapshot installed, entries appended (each flag says
        /// which are present), written and synced as one.
        case save = 2
        /// The log cut at a snapshot point: entries up to it are gone.
        case compaction = 3
    }

    /// A record as read back, with its entries located rather than decoded.
    struct Record {
        var kind: RecordKind
        var hardState: HardState?
        var snapshot: Snapshot?
        var clearsLog = false
        var firstIndex: UInt64 = 0
        /// Each entry's term and where its encoding lies in the payload.
        var entries: [(term: UInt64, offset: Int, length: Int)] = []
    }

    enum Scan {
        case record(payload: Range<Int>)
        /// Zeroes: no record was ever written here.
        case end
        /// Bytes that are not a whole record.
        case damaged
    }

    private static let hasHardState: UInt8 = 1, hasSnapshot: UInt8 = 2, hasEntries: UInt8 = 4

    /// Starts a record of `kind` in `writer`, replacing whatever it held.
    static func begin(_ kind: RecordKind, in writer: inout ByteWriter) {
        writer.reset()
        writer.u32(0)
        writer.u32(0)
        writer.byte(kind.rawValue)
    }

    /// Fills in the header of the record `writer` holds.
    static func finish(_ writer: inout ByteWriter) {
        let length = writer.bytes.count - recordHeaderSize
        let checksum = writer.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[recordHeaderSize...])) }
        writer.setU32(UInt32(length), at: 0)
        writer.setU32(checksum, at: 4)
    }

    static func header(hardState: HardState, snapshot: Snapshot, clearsLog: Bool, into writer: inout ByteWriter) {
        begin(.header, in: &writer)
        writer.flag(clearsLog)
        write(hardState, into: &writer)
        writer.data(encode(snapshot))
        finish(&writer)
    }

    /// A save record; returns where each entry's encoding starts in the record.
    static func save(hardState: HardState?, snapshot: Snapshot?, entries: [Entry], into writer: inout ByteWriter) -> [Int] {
        begin(.save, in: &writer)
        writer.byte((hardState == nil ? 0 : hasHardState) | (snapshot == nil ? 0 : hasSnapshot) | (entries.isEmpty ? 0 : hasEntries))
        if let hardState { write(hardState, into: &writer) }
        if let snapshot { writer.data(encode(snapshot)) }
        var offsets: [Int] = []
        if let first = entries.first {
            offsets.reserveCapacity(entries.count)
            writer.u64(first.index)
            writer.u64(UInt64(entries.count))
            for entry in entries {
                writer.u32(UInt32(9 + entry.data.count))
                offsets.append(writer.bytes.count)
                writer.flag(entry.kind == .configurationChange)
                writer.u64(entry.term)
                writer.raw(entry.data)
            }
        }
        finish(&writer)
        return offsets
    }

    static func compaction(_ snapshot: Snapshot, into writer: inout ByteWriter) {
        begin(.compaction, in: &writer)
        writer.raw(encode(snapshot))
        finish(&writer)
    }

    /// What lies at `offset` of a segment's bytes.
    static func scan(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Scan {
        guard bytes.count - offset >= recordHeaderSize else {
            return bytes[offset...].allSatisfy { $0 == 0 } ? .end : .damaged
        }
        var reader = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + recordHeaderSize)]))
        // Safe to force: eight bytes are there.
        let length = Int(try! reader.u32()), checksum = try! reader.u32()
        if length == 0 && checksum == 0 { return .end }
        let start = offset + recordHeaderSize
        guard length <= bytes.count - start,
              CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])) == checksum
        else { return .damaged }
        return .record(payload: start..<(start + length))
    }

    static func decodeRecord(_ payload: UnsafeRawBufferPointer) throws -> Record {
        do {
            var reader = ByteReader(payload)
            guard let kind = RecordKind(rawValue: try reader.byte()) else { throw ByteReader.Failure.invalid("record kind") }
            var record = Record(kind: kind)
            switch kind {
            case .header:
                record.clearsLog = try reader.flag()
                record.hardState = try readHardState(&reader)
                record.snapshot = try decodeSnapshot(try reader.data())
            case .compaction:
                record.snapshot = try decodeSnapshot(reader.rest())
            case .save:
                let flags = try reader.byte()
                if flags & hasHardState != 0 { record.hardState = try readHardState(&reader) }
                if flags & hasSnapshot != 0 { record.snapshot = try decodeSnapshot(try reader.data()) }
                if flags & hasEntries != 0 {
                    record.firstIndex = try reader.u64()
                    let count = try reader.count(minimumBytesEach: 13)
                    record.entries.reserveCapacity(count)
                    for _ in 0..<count {
                        let length = Int(try reader.u32())
                        let offset = reader.offset
                        var entry = ByteReader(try reader.slice(length))
                        _ = try entry.flag()
                        record.entries.append((try entry.u64(), offset, length))
                    }
                }
            }
            try reader.expectEnd()
            return record
        } catch let error as RaftLogError {
            throw error
        } catch {
            throw RaftLogError.corrupt("record: \(error)")
        }
    }

    static func write(_ state: HardState, into writer: inout ByteWriter) {
        writer.u64(state.term)
        writer.u64(state.vote)
        writer.u64(state.commit)
    }

    static func readHardState(_ reader: inout ByteReader) throws -> HardState {
        HardState(term: try reader.u64(), vote: try reader.u64(), commit: try reader.u64())
    }

    // The keys of the log's earlier home in RocksDB: entries by big-endian index, the hard state, the snapshot.
    static let entryPrefix: UInt8 = 0x65          // "e" + index
    static let hardStateKey: [UInt8] = Array("hardstate".utf8)
    static let snapshotKey: [UInt8] = Array("snapshot".utf8)

    static func entryKey(_ index: UInt64) -> [UInt8] {
        var writer = ByteWriter(reservingCapacity: 9)
        writer.byte(entryPrefix)
        writer.u64(index)
        return writer.bytes
    }

    static func index(ofEntryKey raw: UnsafeRawBufferPointer) throws -> UInt64 {
        var reader = ByteReader(raw)
        _ = try reader.byte()
        return try reader.u64()
    }

    /// An entry's encoding: kind (1 byte: 0 normal, 1 membership change), term, then the data to the end.
    static func decodeEntry(index: UInt64, _ raw: UnsafeRawBufferPointer) throws -> Entry {
        do {
            var reader = ByteReader(raw)
            let kind: Entry.Kind = try reader.flag() ? .configurationChange : .normal
            return Entry(term: try reader.u64(), index: index, kind: kind, data: reader.rest())
        } catch {
            throw RaftLogError.corrupt("entry \(index)")
        }
    }

    static func decodeHardState(_ bytes: [UInt8]) throws -> HardState {
        do {
            return try bytes.withUnsafeBytes { raw in
                var reader = ByteReader(raw)
                let state = HardState(term: try reader.u64(), vote: try reader.u64(), commit: try reader.u64())
                try reader.expectEnd()
                return state
            }
        } catch {
            throw RaftLogError.corrupt("hard state")
        }
    }

    /// index, term, membership, then the data to the end.
    static func encode(_ snapshot: Snapshot) -> [UInt8] {
        var writer = ByteWriter(reservingCapacity: 64 + snapshot.data.count)
        writer.u64(snapshot.metadata.index)
        writer.u64(snapshot.metadata.term)
        snapshot.metadata.membership.encode(into: &writer)
        writer.raw(snapshot.data)
        return writer.bytes
    }

    static func decodeSnapshot(_ bytes: [UInt8]) throws -> Snapshot {
        do {
            return try bytes.withUnsafeBytes { raw in
                var reader = ByteReader(raw)
                let index = try reader.u64()
                let term = try reader.u64()
                let membership = try Membership(from: &reader)
                return Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: membership), data: reader.rest())
            }
        } catch {
            throw RaftLogError.corrupt("snapshot metadata")
        }
    }
}

/// The durable Raft log could not be read back as it was written.
public enum RaftLogError: Error, Equatable, CustomStringConvertible {
    case corrupt(String)
    /// A file operation failed: what was being done, the file, the errno.
    case io(String, String, Int32)

    public var description: String {
        switch self {
        case .corrupt(let what): return "raft log: corrupt \(what)"
        case .io(let operation, let path, let code): return "raft log: \(operation) \(path) failed (errno \(code))"
        }
    }
}
