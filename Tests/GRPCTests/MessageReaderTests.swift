import NIOCore
import Testing

@testable import GRPC

@Suite struct MessageReaderTests {
    /// Messages of many sizes, framed back to back and cut into frames at every kind of boundary (inside a prefix,
    /// inside a message, between messages), come out whole and in order.
    @Test func messagesSplitAcrossFramesAreReassembled() throws {
        var generator = LinearCongruence(state: 7)
        for _ in 0..<200 {
            let sizes = (0..<Int(generator.next() % 12 + 1)).map { _ in Int(generator.next() % 700) }
            var wire = ByteBuffer()
            var expected: [[UInt8]] = []
            for (index, size) in sizes.enumerated() {
                let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ index) }
                expected.append(message)
                wire.writeInteger(UInt8(0))
                wire.writeInteger(UInt32(size))
                wire.writeBytes(message)
            }
            var reader = MessageReader(maxMessageBytes: 1 << 20)
            var received: [[UInt8]] = []
            while wire.readableBytes > 0 {
                let cut = min(wire.readableBytes, Int(generator.next() % 40) + 1 + (generator.next() % 4 == 0 ? 500 : 0))
                // Safe to force: `cut` is at most the readable bytes.
                reader.append(wire.readSlice(length: cut)!)
                while let message = try reader.next() { received.append(Array(message.readableBytesView)) }
            }
            #expect(received == expected)
            #expect(!reader.hasPartialMessage)
        }
    }

    @Test func limitsApplyToAMessageBegunInAnEarlierFrame() throws {
        var reader = MessageReader(maxMessageBytes: 100)
        reader.append(ByteBuffer(bytes: [0, 0, 0]))
        #expect(try reader.next() == nil)
        reader.append(ByteBuffer(bytes: [1, 0]))
        #expect(throws: MessageReader.Failure.self) { try reader.next() }
        var compressed = MessageReader(maxMessageBytes: 100)
        compressed.append(ByteBuffer(bytes: [1, 0]))
        #expect(try compressed.next() == nil)
        compressed.append(ByteBuffer(bytes: [0, 0, 1, 9]))
        #expect(throws: MessageReader.Failure.self) { try compressed.next() }
    }

    /// A prefix announcing a large message reserves a bounded buffer, not the whole message.
    @Test func anAnnouncedLengthIsNotAllocatedAhead() throws {
        var reader = MessageReader(maxMessageBytes: 1 << 30)
        var prefix = ByteBuffer()
        prefix.writeMultipleIntegers(UInt8(0), UInt32(1 << 30), UInt8(1))
        reader.append(prefix)
        #expect(try reader.next() == nil)
        #expect(reader.heldBytes <= MessageReader.reserveAheadBytes * 2)
        reader.append(ByteBuffer(repeating: 2, count: 1000))
        #expect(try reader.next() == nil)
        #expect(reader.heldBytes <= MessageReader.reserveAheadBytes * 2)
    }

    /// A stream whose frames keep ending inside a message does not grow the reader's buffer: what was handed
    /// out is not kept.
    @Test func whatWasHandedOutIsNotKept() throws {
        var reader = MessageReader(maxMessageBytes: 1 << 20)
        var wire = ByteBuffer()
        for _ in 0..<2000 { wire.writeMultipleIntegers(UInt8(0), UInt32(1000)); wire.writeBytes([UInt8](repeating: 3, count: 1000)) }
        var largest = 0
        var count = 0
        while wire.readableBytes > 0 {
            // Frames of 1,500 bytes: almost every one ends inside a message.
            reader.append(wire.readSlice(length: min(1500, wire.readableBytes))!)
            while try reader.next() != nil { count += 1 }
            largest = max(largest, reader.heldBytes)
        }
        #expect(count == 2000)
        #expect(largest <= 4096, "held \(largest) bytes at most")
    }

    /// Messages not taken yet stay in the reader, behind which later frames are kept in order.
    @Test func messagesLeftInTheReaderComeOutInOrderAfterLaterFrames() throws {
        var reader = MessageReader(maxMessageBytes: 1 << 20)
        var wire = ByteBuffer()
        for index in 0..<10 { wire.writeMultipleIntegers(UInt8(0), UInt32(1), UInt8(index)) }
        reader.append(wire.readSlice(length: 30)!)
        #expect(try reader.next() == ByteBuffer(bytes: [0]))
        reader.append(wire.readSlice(length: 17)!)
        reader.append(wire)
        var rest: [UInt8] = []
        while let message = try reader.next() { rest.append(contentsOf: message.readableBytesView) }
        #expect(rest == Array(1..<10))
        #expect(!reader.hasPartialMessage)
    }
}

/// A fixed sequence of pseudo-random numbers, so a failure replays.
struct LinearCongruence {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 33
    }
}
