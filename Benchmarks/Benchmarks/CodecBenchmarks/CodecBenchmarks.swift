import Bench
import Benchmark
import EtcdProto
import Foundation
import GRPC
import NIOCore

/// The per-request codec work on the server's hot path: decoding a Put from its gRPC message, encoding the
/// response with its gRPC prefix in place, and a watch response; plus the bench client's latency histogram.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .mallocCountTotal],
                                           warmupIterations: 1, scalingFactor: .kilo,
                                           maxDuration: .seconds(3), maxIterations: 100)

    var put = Etcdserverpb_PutRequest()
    put.key = Data("bench/key/0001".utf8)
    put.value = Data(repeating: 0x76, count: 256)
    // Benchmarks cannot throw: a message that does not encode stops the run.
    guard let framedPut = try? put.grpcMessage() else { fatalError("cannot encode a put") }

    Benchmark("decode PutRequest (256 B value) from a gRPC message") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? Etcdserverpb_PutRequest(grpcMessage: framedPut))
        }
    }

    Benchmark("encode PutResponse with its gRPC prefix") { benchmark in
        var response = Etcdserverpb_PutResponse()
        response.header.clusterID = 0x1234_5678_9ABC
        response.header.memberID = 0x42
        response.header.raftTerm = 7
        for index in benchmark.scaledIterations {
            response.header.revision = Int64(index)
            blackHole(try? response.grpcMessage())
        }
    }

    Benchmark("encode WatchResponse with one 256 B event") { benchmark in
        var response = Etcdserverpb_WatchResponse()
        response.watchID = 3
        var event = Mvccpb_Event()
        event.kv.key = put.key
        event.kv.value = put.value
        event.kv.version = 1
        response.events = [event]
        for index in benchmark.scaledIterations {
            response.events[0].kv.modRevision = Int64(index)
            blackHole(try? response.grpcMessage())
        }
    }

    Benchmark("latency histogram: record") { benchmark in
        var histogram = LatencyHistogram()
        for index in benchmark.scaledIterations { histogram.record(UInt64(index &* 7919 % 50_000_000)) }
        blackHole(histogram.count)
    }
}
