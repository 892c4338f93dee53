import NIOCore
import Testing

@testable import GRPC

@Suite struct HTTP2FrameReaderTests {
    /// Frames of many sizes after the preface, cut into reads at every kind of boundary (inside the preface, a
    /// frame header or a payload), come out whole, in order, with their fields.
    @Test func framesSplitAcrossReadsAreReassembled() throws {
        var generator = LinearCongruence(state: 11)
        for round in 0..<100 {
            var wire = ByteBuffer(bytes: HTTP2.clientPreface)
            var expected: [(UInt8, UInt8, UInt32, [UInt8])] = []
            for index in 0..<Int(generator.next() % 10 + 1) {
                let payload = (0..<Int(generator.next() % 3000)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) }
                let streamID = UInt32(2 * index + 1)
                let flags = UInt8(truncatingIfNeeded: generator.next())
                HTTP2.writeFrameHeader(.data, length: payload.count, flags: flags, streamID: streamID, to: &wire)
                wire.writeBytes(payload)
                expected.append((HTTP2.FrameType.data.rawValue, flags, streamID, payload))
            }
            var reader = HTTP2FrameReader(maxFrameSize: 1 << 14)
            var frames: [(UInt8, UInt8, UInt32, [UInt8])] = []
            while wire.readableBytes > 0 {
                let cut = min(wire.readableBytes, Int(generator.next() % 30) + 1 + (generator.next() % 3 == 0 ? 2000 : 0))
                // Safe to force: `cut` is at most the readable bytes.
                reader.append(wire.readSlice(length: cut)!)
                while let frame = try reader.next() {
                    frames.append((frame.type, frame.flags, frame.streamID, Array(frame.payload.readableBytesView)))
                }
            }
            #expect(frames.count == expected.count, "round \(round)")
            for (frame, want) in zip(frames, expected) {
                #expect(frame.0 == want.0 && frame.1 == want.1 && frame.2 == want.2 && frame.3 == want.3, "round \(round)")
            }
        }
    }

    @Test func aWrongPrefaceAndAnOversizedFrameAreRefused() throws {
        var wrong = HTTP2FrameReader(maxFrameSize: 1 << 14)
        wrong.append(ByteBuffer(bytes: Array("PRI * HTTP/1.1".utf8)))
        #expect(throws: HTTP2.ConnectionError.self) { try wrong.next() }

        var large = HTTP2FrameReader(maxFrameSize: 100, expectsPreface: false)
        var header = ByteBuffer()
        HTTP2.writeFrameHeader(.data, length: 101, streamID: 1, to: &header)
        large.append(header.readSlice(length: 4)!)  // Safe to force: 9 bytes were written.
        #expect(try large.next() == nil)
        large.append(header)
        #expect(throws: HTTP2.ConnectionError.self) { try large.next() }
    }
}
