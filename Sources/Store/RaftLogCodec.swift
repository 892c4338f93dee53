import Raft

/// The byte layouts of what `DurableRaftLog` stores. Integers are big-endian so entry keys sort by index.
enum RaftLogCodec {
    static let entryPrefix: UInt8 = 0x65          // "e" + index
    static let hardStateKey: [UInt8] = Array("hardstate".utf8)
    static let snapshotKey: [UInt8] = Array("snapshot".utf8)

    static func entryKey(_ index: UInt64) -> [UInt8] {
        var key: [UInt8] = [entryPrefix]
        append(index, to: &key)
        return key
    }

    /// kind (1 byte: 0 normal, 1 membership change), term, then the data.
    static func encode(_ entry: Entry) -> [UInt8] {
        var out: [UInt8] = [entry.kind == .normal ? 0 : 1]
        out.reserveCapacity(9 + entry.data.count)
        append(entry.term, to: &out)
        out.append(contentsOf: entry.data)
        return out
    }

    static func decodeEntry(index: UInt64, _ raw: UnsafeRawBufferPointer) throws -> Entry {
        guard raw.count >= 9, raw[0] <= 1 else { throw RaftLogError.corrupt("entry \(index)") }
        return Entry(term: read(raw, at: 1), index: index, kind: raw[0] == 0 ? .normal : .configurationChange,
                     data: [UInt8](UnsafeRawBufferPointer(rebasing: raw[9...])))
    }

    static func encode(_ state: HardState) -> [UInt8] {
        var out: [UInt8] = []
        append(state.term, to: &out)
        append(state.vote, to: &out)
        append(state.commit, to: &out)
        return out
    }

    static func decodeHardState(_ bytes: [UInt8]) throws -> HardState {
        guard bytes.count == 24 else { throw RaftLogError.corrupt("hard state") }
        return bytes.withUnsafeBytes { HardState(term: read($0, at: 0), vote: read($0, at: 8), commit: read($0, at: 16)) }
    }

    /// index, term, the three member sets (count then IDs), then the data.
    static func encode(_ snapshot: Snapshot) -> [UInt8] {
        var out: [UInt8] = []
        append(snapshot.metadata.index, to: &out)
        append(snapshot.metadata.term, to: &out)
        let membership = snapshot.metadata.membership
        for set in [membership.voters, membership.outgoing, membership.learners] {
            append(UInt64(set.count), to: &out)
            for id in set.sorted() { append(id, to: &out) }
        }
        out.append(contentsOf: snapshot.data)
        return out
    }

    static func decodeSnapshot(_ bytes: [UInt8]) throws -> Snapshot {
        try bytes.withUnsafeBytes { raw in
            var offset = 16
            func next() throws -> UInt64 {
                guard offset + 8 <= raw.count else { throw RaftLogError.corrupt("snapshot metadata") }
                defer { offset += 8 }
                return read(raw, at: offset)
            }
            guard raw.count >= 16 else { throw RaftLogError.corrupt("snapshot metadata") }
            var sets: [Set<NodeID>] = []
            for _ in 0..<3 {
                let count = try next()
                guard count <= 1 << 16 else { throw RaftLogError.corrupt("snapshot membership") }
                sets.append(Set(try (0..<count).map { _ in try next() }))
            }
            let metadata = SnapshotMetadata(index: read(raw, at: 0), term: read(raw, at: 8),
                                            membership: Membership(voters: sets[0], outgoing: sets[1], learners: sets[2]))
            return Snapshot(metadata: metadata, data: [UInt8](UnsafeRawBufferPointer(rebasing: raw[offset...])))
        }
    }

    static func append(_ value: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    static func read(_ raw: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(raw[offset + i]) }
        return value
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
