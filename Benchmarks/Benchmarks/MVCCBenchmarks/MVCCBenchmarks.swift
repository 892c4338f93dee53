import Benchmark
import Foundation
import MVCC

/// A store in a fresh temporary directory, numbering entries as the Raft log would. Benchmarks cannot throw, so
/// a storage failure stops the run with its message.
final class StoreHarness: @unchecked Sendable {
    // @unchecked Sendable: used by one benchmark at a time, from one thread.
    let directory: String
    let store: MVCCStore
    var index: UInt64 = 0
    var counter = 0
    let value = [UInt8](repeating: 0x5A, count: 256)

    init(options: MVCCOptions = MVCCOptions()) {
        directory = NSTemporaryDirectory() + "podium-bench-\(UUID().uuidString)"
        do {
            store = try MVCCStore(directory: directory, options: options)
        } catch {
            fatalError("cannot open store: \(error)")
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    static func key(_ n: Int) -> [UInt8] { Array("key/\(String(n, radix: 16))".utf8) }

    func apply(_ command: MVCCCommand) {
        index += 1
        do {
            _ = try store.apply(command, index: index)
        } catch {
            fatalError("apply failed: \(error)")
        }
    }

    /// Puts to a key space of `keys` keys, round robin.
    func put(keys: Int) {
        counter += 1
        apply(.put(PutRequest(key: Self.key(counter % keys), value: value)))
    }

    func sync() {
        do { try store.sync() } catch { fatalError("sync failed: \(error)") }
    }

    func range(_ request: RangeRequest) -> RangeResponse {
        do { return try store.range(request) } catch { fatalError("range failed: \(error)") }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .mallocCountTotal],
                                           warmupIterations: 1, scalingFactor: .kilo,
                                           maxDuration: .seconds(5), maxIterations: 50)

    // Writes: each put is one applied entry (its own atomic batch); one fsync covers N of them, as group
    // commit does in the server.
    for perSync in [1, 16, 256] {
        Benchmark("put 256 B, fsync every \(perSync) puts") { benchmark, harness in
            for i in benchmark.scaledIterations {
                harness.put(keys: 100_000)
                if i % perSync == perSync - 1 { harness.sync() }
            }
        } setup: {
            StoreHarness()
        }
    }

    Benchmark("txn compare-and-put 256 B, no fsync") { benchmark, harness in
        for _ in benchmark.scaledIterations {
            harness.counter += 1
            let key = StoreHarness.key(harness.counter % 1000)
            harness.apply(.txn(TxnRequest(
                compare: [Compare(range: KeyRange(key: key), result: .greater, target: .version(-1))],
                success: [.put(PutRequest(key: key, value: harness.value))])))
        }
    } setup: {
        StoreHarness()
    }

    // Reads on a store of 10,000 keys with 5 versions each.
    let populated: @Sendable () -> StoreHarness = {
        let harness = StoreHarness()
        for _ in 0..<50_000 { harness.put(keys: 10_000) }
        return harness
    }
    Benchmark("range: one key") { benchmark, harness in
        for i in benchmark.scaledIterations {
            blackHole(harness.range(RangeRequest(range: KeyRange(key: StoreHarness.key(i % 10_000)))))
        }
    } setup: {
        populated()
    }
    Benchmark("range: one key at an old revision") { benchmark, harness in
        for i in benchmark.scaledIterations {
            blackHole(harness.range(RangeRequest(range: KeyRange(key: StoreHarness.key(i % 10_000)), revision: 20_000)))
        }
    } setup: {
        populated()
    }
    Benchmark("range: 100 keys", configuration: .init(scalingFactor: .one, maxIterations: 20_000)) { benchmark, harness in
        for i in benchmark.scaledIterations {
            // Keys are hex-numbered, so "key/10" up to "key/11" holds 100 keys ("key/10" ... "key/10ff" in part).
            let start = Array("key/\(String(0x10 + i % 0xE0, radix: 16))".utf8)
            blackHole(harness.range(RangeRequest(range: KeyRange(key: start, end: KeyRange.prefixEnd(start)), limit: 100)))
        }
    } setup: {
        populated()
    }
    for compacted in [false, true] {
        let name = "range: first 100 of 10,000 keys, counting all" + (compacted ? ", after compaction" : ", 5 versions each")
        Benchmark(name, configuration: .init(scalingFactor: .one, maxIterations: 2_000)) { benchmark, harness in
            for _ in benchmark.scaledIterations {
                blackHole(harness.range(RangeRequest(range: .prefix(Array("key/".utf8)), limit: 100)))
            }
        } setup: { () -> StoreHarness in
            let harness = populated()
            if compacted {
                harness.apply(.compact(revision: harness.store.revision))
                do { try harness.store.purgeCompacted() } catch { fatalError("purge failed: \(error)") }
            }
            return harness
        }
    }

    // Watch fan-out: one put, then every watcher's consumer drains its event. Throughput counts puts; events
    // delivered per second are that times the number of watchers.
    for watcherCount in [1, 100, 10_000] {
        let configuration = Benchmark.Configuration(scalingFactor: watcherCount == 1 ? .kilo : .one,
                                                    maxIterations: watcherCount >= 10_000 ? 200 : 5_000)
        Benchmark("watch fan-out: put + deliver to \(watcherCount) watchers", configuration: configuration) { benchmark, fanOut in
            for _ in benchmark.scaledIterations {
                fanOut.harness.apply(.put(PutRequest(key: FanOut.key, value: fanOut.harness.value)))
                for watcher in fanOut.watchers {
                    guard case .events(let events) = try? watcher.poll() else { fatalError("watcher missed an event") }
                    blackHole(events)
                }
            }
        } setup: {
            FanOut(watchers: watcherCount)
        }
    }
}

/// One store and many watchers on one key.
final class FanOut: @unchecked Sendable {
    // @unchecked Sendable: used by one benchmark at a time, from one thread.
    static let key = Array("hot".utf8)
    let harness = StoreHarness()
    let watchers: [Watcher]

    init(watchers count: Int) {
        watchers = (0..<count).map { [harness] _ in harness.store.watch(WatchRequest(range: KeyRange(key: FanOut.key))) }
    }
}
