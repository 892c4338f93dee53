import EtcdProto
import GRPC
import Foundation
import Logging
import StoreClient

/// Compacts the store's history every interval, as kube-apiserver does (its --etcd-compaction-interval): without
/// it every revision of every object stays on disk and in the store's indexes for ever, and each run of a busy
/// cluster makes the next one slower. Every API server runs one; `CompactionSchedule` makes one of them compact
/// per interval. Stops when released.
final class StoreCompactor: Sendable {
    private let task: Task<Void, Never>

    init(client: StoreClient, interval: Duration, logger: Logger) {
        task = Task {
            var schedule = CompactionSchedule()
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
                let outcome: CompactionSchedule.Outcome
                do {
                    outcome = try await Self.race(client, expecting: schedule.expectedVersion, revision: schedule.lastRevision)
                } catch {
                    logger.warning("store compaction: the store did not answer: \(error)")
                    continue
                }
                guard let target = schedule.record(outcome) else { continue }
                var request = Etcdserverpb_CompactionRequest()
                request.revision = target
                do {
                    _ = try await client.compact(request)
                    logger.info("compacted the store", metadata: ["revision": "\(target)"])
                } catch StoreClientError.status(let status) where status.code == .outOfRange {
                    // Already compacted that far (by an etcdctl, or a server of an older round): nothing lost.
                } catch {
                    logger.warning("store compaction to revision \(target) failed: \(error)")
                }
            }
        }
    }

    /// One tick's transaction: put `revision` to the key if its version is still `version`, else read it.
    static func race(_ client: StoreClient, expecting version: Int64, revision: Int64) async throws -> CompactionSchedule.Outcome {
        let key = Data(CompactionSchedule.key.utf8)
        var compare = Etcdserverpb_Compare()
        compare.key = key
        compare.target = .version
        compare.result = .equal
        compare.version = version
        var put = Etcdserverpb_PutRequest()
        put.key = key
        put.value = Data(String(revision).utf8)
        var write = Etcdserverpb_RequestOp()
        write.requestPut = put
        var range = Etcdserverpb_RangeRequest()
        range.key = key
        var read = Etcdserverpb_RequestOp()
        read.requestRange = range
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [compare]
        txn.success = [write]
        txn.failure = [read]
        let response = try await client.txn(txn)
        if response.succeeded { return .won(revision: response.header.revision) }
        let current = response.responses.first?.responseRange.kvs.first?.version ?? 0
        return .lost(version: current, revision: response.header.revision)
    }

    deinit {
        task.cancel()
    }
}
