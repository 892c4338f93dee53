import Dispatch
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The load: `streams` watch connections to one server, then the events started; counts every line each stream
/// gets, times a sample of them by their send stamps, and reads the server's CPU time before and after.
enum FanoutLoad {
    final class Tally: Sendable {
        let lines = NIOLockedValueBox(0)
        let latencies = NIOLockedValueBox<[UInt64]>([])
    }

    final class LineCounter: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked Sendable: used on its channel's event loop only.
        typealias InboundIn = HTTPClientResponsePart
        let tally: Tally
        let sampled: Bool
        var partial = ByteBuffer()
        var body = ByteBuffer()
        var reply: EventLoopPromise<String>?

        init(tally: Tally, sampled: Bool) {
            self.tally = tally
            self.sampled = sampled
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: break
            case .body(var chunk):
                if reply != nil {
                    body.writeBuffer(&chunk)
                    return
                }
                partial.writeBuffer(&chunk)
                var count = 0
                while let newline = partial.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                    let length = newline - partial.readerIndex
                    if sampled, let line = partial.getString(at: partial.readerIndex, length: min(length, 48)),
                       let start = line.range(of: #""t":"#)?.upperBound {
                        let digits = line[start...].prefix { $0.isNumber }
                        if let stamp = UInt64(digits) {
                            let now = DispatchTime.now().uptimeNanoseconds
                            if now > stamp { tally.latencies.withLockedValue { $0.append(now - stamp) } }
                        }
                    }
                    partial.moveReaderIndex(forwardBy: length + 1)
                    count += 1
                }
                partial.discardReadBytes()
                if count > 0 { tally.lines.withLockedValue { $0 += count } }
            case .end:
                reply?.succeed(body.readString(length: body.readableBytes) ?? "")
                reply = nil
            }
        }
    }

    static func connect(_ port: Int, group: EventLoopGroup, handler: LineCounter) async throws -> Channel {
        try await ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.pipeline.addHTTPClientHandlers().flatMap { channel.pipeline.addHandler(handler) }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }

    static func get(_ path: String, port: Int, group: EventLoopGroup) async throws -> String {
        let handler = LineCounter(tally: Tally(), sampled: false)
        let channel = try await connect(port, group: group, handler: handler)
        let promise = channel.eventLoop.makePromise(of: String.self)
        try await channel.eventLoop.submit { handler.reply = promise }.get()
        try await send(path, on: channel)
        let text = try await promise.futureResult.get()
        try await channel.close()
        return text
    }

    static func send(_ path: String, on channel: Channel) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "127.0.0.1")
        try await channel.writeAndFlush(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)))
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil))
    }

    static func run(port: Int, streams: Int, rate: Double, duration: Double, size: Int) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let tally = Tally()
        var channels: [Channel] = []
        for index in 0..<streams {
            let channel = try await connect(port, group: group, handler: LineCounter(tally: tally, sampled: index < 20))
            try await send("/watch", on: channel)
            channels.append(channel)
        }
        try await Task.sleep(for: .milliseconds(500))
        let cpuBefore = Double(try await get("/cpu", port: port, group: group)) ?? 0
        let started = ContinuousClock.now
        _ = try await get("/start?rate=\(rate)&duration=\(duration)&size=\(size)", port: port, group: group)
        let expected = Int(rate * duration) * streams
        let deadline = started + .seconds(duration + 15)
        while tally.lines.withLockedValue({ $0 }) < expected, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let elapsed = ContinuousClock.now - started
        let cpuAfter = Double(try await get("/cpu", port: port, group: group)) ?? 0
        let received = tally.lines.withLockedValue { $0 }
        let latencies = tally.latencies.withLockedValue { $0 }.sorted()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1e6
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let cpu = cpuAfter - cpuBefore
        print("streams=\(streams) rate=\(rate) duration=\(duration) size=\(size)")
        print("delivered \(received) of \(expected) in \(String(format: "%.2f", seconds)) s")
        print("server cpu \(String(format: "%.2f", cpu)) s: \(String(format: "%.2f", received > 0 ? cpu / Double(received) * 1e6 : 0)) µs per delivered event")
        print("delivery ms: p50 \(String(format: "%.1f", percentile(0.5))) p99 \(String(format: "%.1f", percentile(0.99))) max \(String(format: "%.1f", percentile(1.0)))")
        for channel in channels { channel.close(promise: nil) }
        try await group.shutdownGracefully()
    }
}
