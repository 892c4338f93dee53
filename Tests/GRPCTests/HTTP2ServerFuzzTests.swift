import Foundation
import NIOCore
import Testing

@testable import GRPC

/// Random client traffic, mostly plausible and sometimes garbled (streams opened, written, reset and half-closed
/// in any order, windows and settings of any size, frames cut and corrupted, deadlines passing), against the
/// server's connection handler: it must never crash, and never hold more than its limits, whatever it is sent.
/// Each seed replays exactly. `tools/fuzz-wire` runs many more seeds (PODIUM_FUZZ_SEEDS, PODIUM_FUZZ_FIRST_SEED).
@Suite struct HTTP2ServerFuzzTests {
    static let environment = ProcessInfo.processInfo.environment
    static let seeds = environment["PODIUM_FUZZ_SEEDS"].flatMap(UInt64.init) ?? 300
    static let firstSeed = environment["PODIUM_FUZZ_FIRST_SEED"].flatMap(UInt64.init) ?? 1

    static let maxStreams = 8
    static func limits(_ limits: inout GRPCConnectionHandler.Limits) {
        limits.maxStreamBacklogBytes = 4096
        limits.maxConnectionBacklogBytes = 32 << 10
        limits.maxBufferedRequestBytes = 256 << 10
    }

    @Test func randomClientTrafficKeepsTheServerWithinItsLimits() throws {
        for seed in Self.firstSeed..<(Self.firstSeed + Self.seeds) {
            try Self.run(seed: seed)
        }
    }

    static func run(seed: UInt64) throws {
        var random = LinearCongruence(state: seed)
        func below(_ bound: Int) -> Int { Int(random.next() % UInt64(bound)) }
        let client = try WireClient(maxConcurrentStreams: maxStreams, adjust: limits)
        let windows: [Int?] = [nil, 0, 100, 65_535, 1 << 20]
        var wire = WireClient.preface(initialWindow: windows[below(windows.count)])
        let paths = [WireClient.unaryPath, WireClient.streamPath, WireClient.floodPath, WireClient.holdPath, "/x.Y/Z"]
        for _ in 0..<(1 + below(80)) {
            let streamID = UInt32(2 * below(12) + 1)
            var frame: ByteBuffer
            switch below(11) {
            case 0, 1:
                let timeout = below(3) == 0 ? "\(1 + below(3))S" : nil
                let block = try client.headerBlock(path: paths[below(paths.count)], timeout: timeout)
                let flags = HTTP2.Flags.endHeaders | (below(4) == 0 ? HTTP2.Flags.endStream : 0)
                frame = WireClient.frame(.headers, flags: flags, streamID: streamID, block)
            case 2, 3, 4:
                var payload = WireClient.message((0..<below(below(8) == 0 ? 70_000 : 300)).map { UInt8(truncatingIfNeeded: $0) })
                if below(5) == 0 { payload = payload.getSlice(at: 0, length: below(payload.readableBytes + 1)) ?? payload }
                frame = WireClient.frame(.data, flags: below(3) == 0 ? HTTP2.Flags.endStream : 0, streamID: streamID, payload)
            case 5:
                var block = try client.headerBlock(path: paths[below(paths.count)])
                let first = block.readSlice(length: below(block.readableBytes + 1)) ?? ByteBuffer()
                frame = WireClient.frame(.headers, streamID: streamID, first)
                var rest = WireClient.frame(.continuation, flags: below(4) == 0 ? 0 : HTTP2.Flags.endHeaders, streamID: streamID, block)
                frame.writeBuffer(&rest)
            case 6:
                frame = WireClient.resetStream(streamID, .cancel)
            case 7:
                frame = WireClient.windowUpdate(streamID: below(2) == 0 ? 0 : streamID, below(3) == 0 ? 0 : 1 + below(1 << 24))
            case 8:
                let settings: [HTTP2.Setting] = [.initialWindowSize, .maxFrameSize, .maxConcurrentStreams, .headerTableSize]
                frame = WireClient.settings((0..<below(3)).map { _ in (settings[below(settings.count)], below(1 << 20)) })
            case 9:
                frame = WireClient.frame(.ping, flags: UInt8(below(2)), streamID: 0, ByteBuffer(repeating: 1, count: 8))
            default:
                frame = ByteBuffer(bytes: (0..<below(40)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            }
            if below(30) == 0, frame.readableBytes > 0 {
                // A corrupted byte anywhere: header, flags, stream ID or payload.
                let index = frame.readerIndex + below(frame.readableBytes)
                frame.setInteger(UInt8(truncatingIfNeeded: random.next()), at: index)
            }
            wire.writeBuffer(&frame)
        }
        while wire.readableBytes > 0, client.channel.isActive {
            // Safe to force: at most the readable bytes are read.
            try client.deliver(wire.readSlice(length: min(wire.readableBytes, 1 + below(below(4) == 0 ? 20_000 : 200)))!)
            if below(6) == 0 { client.channel.embeddedEventLoop.advanceTime(by: .milliseconds(Int64(below(3000)))) }
            if below(8) == 0 { client.held.calls.forEach { $0.respond(ByteBuffer(bytes: [1])) } }
            _ = try client.written()
            guard client.channel.isActive else { break }
            let handler = try client.handler
            #expect(handler.openStreamCount <= maxStreams, "seed \(seed)")
            #expect(handler.bufferedRequestByteCount <= 256 << 10, "seed \(seed)")
            // Unary answers (up to a message each, for each stream) may wait beyond the connection's bound: it
            // refuses new calls, it cannot take back answers already made.
            #expect(handler.waitingResponseBytes <= maxStreams * (70_000 + 64 << 10) + (32 << 10), "seed \(seed)")
        }
    }
}
