import Testing
import BinaryCoding
import Raft
@testable import PeerTransport

@Suite struct MessageCodecTests {
    static var full: Message {
        var message = Message(kind: .append, from: 1, to: UInt64.max, term: 7)
        message.logTerm = 6
        message.index = 41
        message.commit = 40
        message.reject = true
        message.rejectHint = 39
        message.transferee = 3
        message.context = [0, 1, 2]
        message.entries = [Entry(term: 7, index: 42, data: [9, 9]),
                           Entry(term: 7, index: 43, kind: .configurationChange, data: ConfigurationChange([.addVoter(4)]).encoded()),
                           Entry(term: 7, index: 44)]
        message.snapshot = Snapshot(metadata: SnapshotMetadata(index: 30, term: 5,
                                                               membership: Membership(voters: [1, 2], outgoing: [1, 2, 3], learners: [9])),
                                    data: Array(repeating: 0xAB, count: 1000))
        return message
    }

    func roundTrip(_ message: Message) throws -> Message {
        return try encoded(message).withUnsafeBytes { try MessageCodec.decode($0) }
    }

    func encoded(_ message: Message) -> [UInt8] {
        var writer = ByteWriter()
        MessageCodec.encode(message, into: &writer)
        return writer.bytes
    }

    @Test func everyFieldRoundTrips() throws {
        #expect(try roundTrip(Self.full) == Self.full)
        for kind in MessageCodec.kinds {
            let bare = Message(kind: kind, from: 2, to: 3, term: 0)
            #expect(try roundTrip(bare) == bare)
        }
    }

    /// Every truncation of a valid message is refused with an error, never a crash or a wrong message.
    @Test func truncatedInputIsRefused() throws {
        let bytes = encoded(Self.full)
        for length in 0..<bytes.count {
            #expect(throws: ByteReader.Failure.self) {
                try bytes[..<length].withUnsafeBytes { try MessageCodec.decode($0) }
            }
        }
    }

    @Test func malformedInputIsRefused() throws {
        let bytes = encoded(Message(kind: .heartbeat, from: 1, to: 2, term: 3))
        var unknownKind = bytes
        unknownKind[0] = 200
        #expect(throws: ByteReader.Failure.invalid("message kind 200")) { try unknownKind.withUnsafeBytes { try MessageCodec.decode($0) } }
        var badFlag = bytes
        badFlag[65] = 7   // the reject flag follows the kind and eight integers
        #expect(throws: ByteReader.Failure.invalid("flag 7")) { try badFlag.withUnsafeBytes { try MessageCodec.decode($0) } }
        let trailing = bytes + [0]
        #expect(throws: ByteReader.Failure.self) { try trailing.withUnsafeBytes { try MessageCodec.decode($0) } }
        // A count claiming more entries than the bytes could hold is refused before anything is allocated.
        var hugeCount = bytes
        let entryCountOffset = 66 + 8   // after the flag and the empty context's length
        for i in 0..<8 { hugeCount[entryCountOffset + i] = 0xFF }
        #expect(throws: ByteReader.Failure.truncated) { try hugeCount.withUnsafeBytes { try MessageCodec.decode($0) } }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? bytes.withUnsafeBytes { try MessageCodec.decode($0) }
        }
    }
}
