extension Raft {
    /// Whether `ready()` has anything for the caller to do.
    public var hasReady: Bool {
        softState != lastSoftState || hardState != lastHardState || log.persistedIndex < log.lastIndex
            || log.pendingSnapshot != nil || log.committed > log.applied && !log.committedEntries(maxBytes: 1).isEmpty
            || !outbox.isEmpty || !outboxAfterPersist.isEmpty || !readStates.isEmpty || !refusedProposals.isEmpty || !refusedChanges.isEmpty
    }

    /// Collects what the caller must persist, send and apply. Hand it back with `advance(_:)` once done.
    public mutating func ready() -> Ready {
        let soft = softState
        let hard = hardState
        let unstable = log.persistedIndex < log.lastIndex
            ? log.entries(from: log.persistedIndex + 1, to: log.lastIndex + 1, maxBytes: .max) ?? [] : []
        let ready = Ready(softState: soft != lastSoftState ? soft : nil,
                          hardState: hard != lastHardState ? hard : nil,
                          entries: unstable,
                          snapshot: log.pendingSnapshot,
                          committedEntries: log.committedEntries(maxBytes: configuration.maxApplyBytes),
                          messages: outbox,
                          messagesAfterPersist: outboxAfterPersist,
                          readStates: readStates,
                          refusedProposals: refusedProposals,
                          refusedChanges: refusedChanges)
        outbox = []
        outboxAfterPersist = []
        readStates = []
        refusedProposals = []
        refusedChanges = []
        return ready
    }

    /// Tells Raft the caller has done what `ready` asked: its entries, hard state and snapshot are on disk and
    /// its committed entries are applied.
    public mutating func advance(_ ready: Ready) {
        if let hard = ready.hardState { lastHardState = hard }
        if let soft = ready.softState { lastSoftState = soft }
        if let last = ready.entries.last?.index ?? ready.snapshot?.metadata.index {
            log.persisted(through: last, snapshot: ready.snapshot != nil)
        }
        if let last = ready.committedEntries.last?.index { log.applied(to: last) }
        if role == .leader, progress[id]?.maybeUpdate(log.persistedIndex) == true, maybeCommit() {
            broadcastAppend()
        }
        // A joint configuration is left as soon as the leader has applied the change that entered it.
        if role == .leader, membership.isJoint, log.applied >= pendingConfigurationIndex, transferee == 0 {
            appendEntries(admit([Entry(term: 0, index: 0, kind: .configurationChange,
                                       data: ConfigurationChange.leaveJoint.encoded())]).entries)
            broadcastAppend()
        }
    }
}
