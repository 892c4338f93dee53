import EtcdProto
import Foundation
import NIOCore
@testable import Bench
import Testing

@Suite struct LatencyHistogramTests {
    @Test func percentilesAreWithinTheBucketPrecision() {
        var histogram = LatencyHistogram()
        for value in 1...100_000 { histogram.record(UInt64(value) * 1_000) }
        #expect(histogram.count == 100_000)
        #expect(histogram.min == 1_000 && histogram.max == 100_000_000)
        for (fraction, exact) in [(0.5, 50_000_000.0), (0.9, 90_000_000.0), (0.99, 99_000_000.0), (0.999, 99_900_000.0)] {
            let reported = Double(histogram.value(atFraction: fraction))
            #expect(reported >= exact && reported <= exact * (1 + 1.0 / 64), "p\(fraction): \(reported) vs \(exact)")
        }
        #expect(histogram.value(atFraction: 1) == 100_000_000)
        #expect(abs(histogram.mean - 50_000_500) < 1)
    }

    @Test func smallValuesAreExactAndMergingAddsCounts() {
        var low = LatencyHistogram()
        var high = LatencyHistogram()
        for value in 0..<128 { low.record(UInt64(value)) }
        for _ in 0..<128 { high.record(1 << 40) }
        #expect(low.value(atFraction: 0.5) == 63)
        low.merge(high)
        #expect(low.count == 256 && low.max == 1 << 40 && low.min == 0)
        #expect(low.value(atFraction: 0.5) == 127)
        let top = low.value(atFraction: 0.75)
        #expect(top >= 1 << 40 && top <= 1 << 40)
        #expect(LatencyHistogram().value(atFraction: 0.99) == 0)
    }
}

@Suite struct WatchResponseScannerTests {
    @Test func readsWhatTheWorkloadsNeedAsSwiftProtobufWroteIt() throws {
        var response = Etcdserverpb_WatchResponse()
        response.header.revision = 99
        response.watchID = 7
        response.created = true
        response.cancelReason = "because"
        for revision in [41, 300_000] as [Int64] {
            var event = Mvccpb_Event()
            event.kv.key = Data("k".utf8)
            event.kv.modRevision = revision
            event.kv.version = 3
            event.kv.value = Data([0, 0, 0, 0, 0, 0, 1, 2, 9, 9])
            event.prevKv.modRevision = 1
            response.events.append(event)
        }
        var events = [WatchResponseScanner.Event(modRevision: 1)]
        let scanned = try WatchResponseScanner(ByteBuffer(bytes: try response.serializedBytes() as [UInt8]), events: &events)
        #expect(scanned.watchID == 7 && scanned.created && !scanned.canceled && scanned.cancelReason == "because")
        #expect(events.map(\.modRevision) == [41, 300_000])
        #expect(events.map(\.stamp) == [258, 258])
        #expect(throws: (any Error).self) { try WatchResponseScanner(ByteBuffer(bytes: [0x5A, 0x10, 0x01]), events: &events) }
    }
}
