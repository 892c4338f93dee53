import Raft

/// The binary form of Raft messages between members. Every integer is big-endian; variable-length parts are
/// length-prefixed, so a decoder never reads past what it was given and refuses anything malformed.
public enum MessageCodec {
    /// Refuses frames larger than this (a snapshot travels inline for now, so it bounds snapshot size too).
    public static let maxFrameBytes = 256 << 20

    public enum DecodingError: Error, Equatable {
        case truncated
        case unknownKind(UInt8)
        case invalid(String)
    }

    static let kinds: [Message.Kind] = [.append, .appendResponse, .vote, .voteResponse, .preVote, .preVoteResponse,
                                        .heartbeat, .heartbeatResponse, .snapshot, .timeoutNow, .propose, .readIndex,
                                        .readIndexResponse, .transferLeadership]

    public static func encode(_ message: Message, into out: inout [UInt8]) {
        // Kinds are listed above exhaustively, so every message kind has a code.
        out.append(UInt8(kinds.firstIndex(of: message.kind)!))
        for value in [message.from, message.to, message.term, message.logTerm, message.index, message.commit,
                      message.rejectHint, message.transferee] {
            put(value, &out)
        }
        out.append(message.reject ? 1 : 0)
        putBytes(message.context, &out)
        put(UInt64(message.entries.count), &out)
        for entry in message.entries { encode(entry, into: &out) }
        if let snapshot = message.snapshot {
            out.append(1)
            put(snapshot.metadata.index, &out)
            put(snapshot.metadata.term, &out)
            for set in [snapshot.metadata.membership.voters, snapshot.metadata.membership.outgoing,
                        snapshot.metadata.membership.learners] {
                put(UInt64(set.count), &out)
                for id in set.sorted() { put(id, &out) }
            }
            putBytes(snapshot.data, &out)
        } else {
            out.append(0)
        }
    }

    static func encode(_ entry: Entry, into out: inout [UInt8]) {
        put(entry.term, &out)
        put(entry.index, &out)
        out.append(entry.kind == .normal ? 0 : 1)
        putBytes(entry.data, &out)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> Message {
        var reader = Reader(bytes: bytes)
        let code = try reader.byte()
        guard Int(code) < kinds.count else { throw DecodingError.unknownKind(code) }
        var fields: [UInt64] = []
        for _ in 0..<8 { fields.append(try reader.uint64()) }
        var message = Message(kind: kinds[Int(code)], from: fields[0], to: fields[1], term: fields[2])
        message.logTerm = fields[3]
        message.index = fields[4]
        message.commit = fields[5]
        message.rejectHint = fields[6]
        message.transferee = fields[7]
        message.reject = try reader.flag()
        message.context = try reader.byteArray()
        let entryCount = try reader.count(minimumBytesEach: 21)
        message.entries.reserveCapacity(entryCount)
        for _ in 0..<entryCount {
            let term = try reader.uint64()
            let index = try reader.uint64()
            let kind: Entry.Kind = try reader.flag() ? .configurationChange : .normal
            message.entries.append(Entry(term: term, index: index, kind: kind, data: try reader.byteArray()))
        }
        if try reader.flag() {
            let index = try reader.uint64()
            let term = try reader.uint64()
            var sets: [Set<NodeID>] = []
            for _ in 0..<3 {
                let count = try reader.count(minimumBytesEach: 8)
                sets.append(Set(try (0..<count).map { _ in try reader.uint64() }))
            }
            let membership = Membership(voters: sets[0], outgoing: sets[1], learners: sets[2])
            message.snapshot = Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: membership),
                                        data: try reader.byteArray())
        }
        guard reader.isAtEnd else { throw DecodingError.invalid("\(reader.remaining) trailing bytes") }
        return message
    }

    private static func put(_ value: UInt64, _ out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    private static func putBytes(_ bytes: [UInt8], _ out: inout [UInt8]) {
        put(UInt64(bytes.count), &out)
        out.append(contentsOf: bytes)
    }

    /// Reads from a buffer, checking every length against what is left.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        var remaining: Int { bytes.count - offset }
        var isAtEnd: Bool { offset == bytes.count }

        mutating func byte() throws -> UInt8 {
            guard remaining >= 1 else { throw DecodingError.truncated }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func flag() throws -> Bool {
            switch try byte() {
            case 0: return false
            case 1: return true
            case let other: throw DecodingError.invalid("flag \(other)")
            }
        }

        mutating func uint64() throws -> UInt64 {
            guard remaining >= 8 else { throw DecodingError.truncated }
            var value: UInt64 = 0
            for i in 0..<8 { value = value << 8 | UInt64(bytes[offset + i]) }
            offset += 8
            return value
        }

        /// A count of items each at least `minimumBytesEach` long: refused if they cannot fit in what is left.
        mutating func count(minimumBytesEach: Int) throws -> Int {
            let count = try uint64()
            guard count <= UInt64(remaining / minimumBytesEach) else { throw DecodingError.truncated }
            return Int(count)
        }

        mutating func byteArray() throws -> [UInt8] {
            let length = try count(minimumBytesEach: 1)
            defer { offset += length }
            return [UInt8](UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]))
        }
    }
}
