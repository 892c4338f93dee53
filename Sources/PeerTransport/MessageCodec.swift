import BinaryCoding
import Raft

/// The binary form of Raft messages between members (see `ByteWriter`): a decoder never reads past what it was
/// given and refuses anything malformed.
public enum MessageCodec {
    /// Refuses frames larger than this (snapshot data travels in chunks, see `SnapshotFraming`).
    public static let maxFrameBytes = 256 << 20

    static let kinds: [Message.Kind] = [.append, .appendResponse, .vote, .voteResponse, .preVote, .preVoteResponse,
                                        .heartbeat, .heartbeatResponse, .snapshot, .timeoutNow, .propose, .readIndex,
                                        .readIndexResponse, .transferLeadership, .proposalRefused]

    public static func encode(_ message: Message, into writer: inout ByteWriter) {
        // Kinds are listed above exhaustively, so every message kind has a code.
        writer.byte(UInt8(kinds.firstIndex(of: message.kind)!))
        for value in [message.from, message.to, message.term, message.logTerm, message.index, message.commit,
                      message.rejectHint, message.transferee] {
            writer.u64(value)
        }
        writer.flag(message.reject)
        writer.data(message.context)
        writer.u64(UInt64(message.entries.count))
        for entry in message.entries {
            writer.u64(entry.term)
            writer.u64(entry.index)
            writer.flag(entry.kind == .configurationChange)
            writer.data(entry.data)
        }
        writer.flag(message.snapshot != nil)
        if let snapshot = message.snapshot {
            writer.u64(snapshot.metadata.index)
            writer.u64(snapshot.metadata.term)
            snapshot.metadata.membership.encode(into: &writer)
            writer.data(snapshot.data)
        }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> Message {
        var reader = ByteReader(bytes)
        let kind = try reader.pick(kinds, "message kind")
        var fields: [UInt64] = []
        for _ in 0..<8 { fields.append(try reader.u64()) }
        var message = Message(kind: kind, from: fields[0], to: fields[1], term: fields[2])
        message.logTerm = fields[3]
        message.index = fields[4]
        message.commit = fields[5]
        message.rejectHint = fields[6]
        message.transferee = fields[7]
        message.reject = try reader.flag()
        message.context = try reader.data()
        let entryCount = try reader.count(minimumBytesEach: 25)
        message.entries.reserveCapacity(entryCount)
        for _ in 0..<entryCount {
            let term = try reader.u64()
            let index = try reader.u64()
            let kind: Entry.Kind = try reader.flag() ? .configurationChange : .normal
            message.entries.append(Entry(term: term, index: index, kind: kind, data: try reader.data()))
        }
        if try reader.flag() {
            let index = try reader.u64()
            let term = try reader.u64()
            let membership = try Membership(from: &reader)
            message.snapshot = Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: membership),
                                        data: try reader.data())
        }
        try reader.expectEnd()
        return message
    }
}
