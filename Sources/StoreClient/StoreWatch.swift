import EtcdProto

/// What one watch of the store delivers: the events of one watch response, in revision order, and the store's
/// revision when it was sent. A batch with no events is a progress notification: every change up to `revision`
/// has been delivered (what the API server's watch cache turns into bookmarks).
public struct StoreWatchBatch: Sendable {
    public var events: [Mvccpb_Event]
    public var revision: Int64

    public init(events: [Mvccpb_Event], revision: Int64) {
        self.events = events
        self.revision = revision
    }
}

/// A watch of a key range that outlives the members it is served by: when its connection fails it is opened
/// again on the next endpoint, from the revision after the last one delivered, so its consumer sees every change
/// once and in order. It ends only by being cancelled (stop iterating, or cancel the iterating task), or with an
/// error the consumer must act on: `StoreClientError.compacted` (the revisions it needs are gone: relist) or
/// `.watchTooSlow` (it fell behind by more than its buffer: resume from the last revision seen).
public struct StoreWatch: AsyncSequence, Sendable {
    public typealias Element = StoreWatchBatch
    let batches: AsyncThrowingStream<StoreWatchBatch, Error>

    public func makeAsyncIterator() -> AsyncThrowingStream<StoreWatchBatch, Error>.AsyncIterator {
        batches.makeAsyncIterator()
    }
}
