import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// Hummingbird 2 serving the same fan-out: each watch a streamed response body fed from its own AsyncStream
/// (Hummingbird's way to stream: a task per response writing what its sequence yields).
enum HummingbirdFanoutServer {
    final class Hub: Sendable {
        private let streams = NIOLockedValueBox<[AsyncStream<ByteBuffer>.Continuation]>([])

        func add() -> AsyncStream<ByteBuffer> {
            // Bounded like Podium's streams: a stream that falls this far behind loses events (and they show
            // as missing in the load's count).
            let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream(bufferingPolicy: .bufferingNewest(20_000))
            streams.withLockedValue { $0.append(continuation) }
            return stream
        }

        func publish(_ buffer: ByteBuffer) {
            for continuation in streams.withLockedValue({ $0 }) { continuation.yield(buffer) }
        }
    }

    static func run(port: Int) async throws {
        let hub = Hub()
        let router = Router()
        router.get("watch") { _, _ -> Response in
            let stream = hub.add()
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(asyncSequence: stream))
        }
        router.get("start") { request, _ -> String in
            let source = EventSource(query: request.uri.query ?? "")
            Task { await source.run { hub.publish($0) } }
            return "started"
        }
        router.get("cpu") { _, _ -> String in String(processCPUSeconds()) }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        print("hummingbird fan-out server on 127.0.0.1:\(port)")
        try await app.runService()
    }
}
