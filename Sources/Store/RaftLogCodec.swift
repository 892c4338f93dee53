import BinaryCoding
import Raft

/// The byte layouts of what `DurableRaftLog` stores (see `ByteWriter`). Entry keys are big-endian so they sort
/// by index.
enum RaftLogCodec {
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

    /// kind (1 byte: 0 normal, 1 membership change), term, then the data to the end.
    static func encode(_ entry: Entry) -> [UInt8] {
        var writer = ByteWriter(reservingCapacity: 9 + entry.data.count)
        writer.flag(entry.kind == .configurationChange)
        writer.u64(entry.term)
        writer.raw(entry.data)
        return writer.bytes
    }

    static func decodeEntry(index: UInt64, _ raw: UnsafeRawBufferPointer) throws -> Entry {
        do {
            var reader = ByteReader(raw)
            let kind: Entry.Kind = try reader.flag() ? .configurationChange : .normal
            return Entry(term: try reader.u64(), index: index, kind: kind, data: reader.rest())
        } catch {
            throw RaftLogError.corrupt("entry \(index)")
        }
    }

    static func encode(_ state: HardState) -> [UInt8] {
        var writer = ByteWriter(reservingCapacity: 24)
        writer.u64(state.term)
        writer.u64(state.vote)
        writer.u64(state.commit)
        return writer.bytes
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

    public var description: String {
        switch self {
        case .corrupt(let what): return "raft log: corrupt \(what)"
        }
    }
}
