import StoreClient

/// Asks the store for a progress notification every few seconds, so that idle watches learn how far the store
/// has got and can send bookmarks with a resource version that is true for them (every change up to it has
/// been delivered). One ticker per API server; each request costs the store one message per watch stream.
public final class WatchProgressTicker: Sendable {
    let client: StoreClient
    let task: Task<Void, Never>

    public init(client: StoreClient, interval: Duration = .seconds(5)) {
        self.client = client
        task = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                client.requestWatchProgress()
            }
        }
    }

    deinit {
        task.cancel()
    }
}
