import EtcdProto
import GRPC
import NIOCore

extension StoreClient {
    /// Watches the keys in [key, rangeEnd) (just `key` when `rangeEnd` is empty) from `revision` (0: from now),
    /// across member failures (see `StoreWatch`). At most `bufferedBatches` batches wait for the consumer; a
    /// consumer further behind gets `StoreClientError.watchTooSlow` after the ones buffered.
    public func watch(key: [UInt8], rangeEnd: [UInt8] = [], from revision: Int64 = 0, prevKV: Bool = false,
                      progressNotify: Bool = false, bufferedBatches: Int = 4096) -> StoreWatch {
        let (batches, consumer) = AsyncThrowingStream.makeStream(of: StoreWatchBatch.self, throwing: Error.self,
                                                                 bufferingPolicy: .bufferingOldest(bufferedBatches))
        let registration = WatchRegistration(key: key, rangeEnd: rangeEnd, from: revision, prevKV: prevKV,
                                             progressNotify: progressNotify, consumer: consumer)
        let task = Task { await self.keepWatching(registration) }
        consumer.onTermination = { _ in task.cancel() }
        return StoreWatch(batches: batches)
    }

    /// Asks the store for a progress notification on the current watch stream (see
    /// `SharedWatchStream.requestProgress`): how an idle watch learns how far the store has got.
    public func requestWatchProgress() {
        currentWatchStream()?.requestProgress()
    }

    /// Serves a watch on one stream after another until it is cancelled or meets an error its consumer must see.
    private func keepWatching(_ registration: WatchRegistration) async {
        let consumer = registration.consumer
        var backoff = configuration.initialBackoff
        while !Task.isCancelled {
            let outcome: WatchOutcome
            do {
                let connection = try await channel(before: .now() + configuration.requestTimeout)
                outcome = await watchStream(on: connection).run(registration)
                if case .streamEnded(let status) = outcome, status.code == .unavailable { drop(connection) }
            } catch {
                outcome = .streamEnded(GRPCStatus(.unavailable, "\(error)"))
            }
            switch outcome {
            case .cancelled:
                if registration.tooSlow { return consumer.finish(throwing: StoreClientError.watchTooSlow) }
                return consumer.finish()
            case .compacted(let revision):
                return consumer.finish(throwing: StoreClientError.compacted(revision: revision))
            case .refused(let why):
                return consumer.finish(throwing: StoreClientError.watchRefused(why))
            case .streamEnded:
                if registration.deliveredAny { backoff = configuration.initialBackoff }
                registration.deliveredAny = false
                do { try await Task.sleep(nanoseconds: UInt64(backoff.nanoseconds)) } catch { break }
                backoff = min(backoff * 2, configuration.maxBackoff)
            }
        }
        consumer.finish()
    }
}
