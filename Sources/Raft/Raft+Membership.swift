extension Raft {
    /// Proposes a membership change. One change at a time: it is refused while the previous one is not yet
    /// applied. A change of voters goes through a joint configuration, which the leader leaves by itself.
    public mutating func proposeConfigurationChange(_ change: ConfigurationChange) throws {
        try propose([Entry(term: 0, index: 0, kind: .configurationChange, data: change.encoded())])
    }

    /// Applies a committed membership change; the application calls it when it applies the change's entry
    /// (this one call is allowed between `ready()` and `advance(_:)`). Returns the membership now in force,
    /// which the application keeps with its state so snapshots carry it.
    @discardableResult
    public mutating func applyConfigurationChange(_ change: ConfigurationChange) -> Membership {
        // Changes are validated against the same membership before they are proposed, so a committed one
        // always applies; should one not, the membership stays as it is on every member alike.
        guard let next = try? membership.applying(change) else { return membership }
        switchTo(next)
        return membership
    }

    /// Whether a committed membership change is waiting to be applied.
    var hasUnappliedConfigurationChange: Bool {
        guard log.committed > log.applied else { return false }
        return log.entries(from: log.applied + 1, to: log.committed + 1, maxBytes: .max)?
            .contains { $0.kind == .configurationChange } ?? false
    }

    /// Makes `next` the membership in force: tracks new members, forgets removed ones, and steps down a leader
    /// that is no longer a voter.
    mutating func switchTo(_ next: Membership) {
        membership = next
        for member in progress.keys.sorted() where !next.members.contains(member) {
            // A last heartbeat tells a removed member that its removal is committed (when it has the entry), so
            // it can apply it and stop rather than wait for a leader that no longer talks to it.
            if role == .leader && member != id {
                var farewell = message(.heartbeat, to: member)
                farewell.commit = min(progress[member]?.match ?? 0, log.committed)
                send(farewell)
            }
            progress[member] = nil
        }
        for member in next.members {
            if progress[member] == nil {
                progress[member] = newProgress()
                progress[member]?.recentActive = true
            }
        }
        guard role == .leader else { return }
        if !next.isVoter(id) {
            becomeFollower(term: term, leader: 0)
            return
        }
        if transferee != 0 && !next.isVoter(transferee) { transferee = 0 }
        // The quorum changed: the commit point may move, and new members need the log.
        _ = maybeCommit()
        broadcastAppend()
    }

    /// Lets proposals into the leader's log: a membership change is admitted only when no other is pending and
    /// it applies to the current membership; a refused one becomes an empty entry (keeping the batch's shape)
    /// and is returned among the refused.
    mutating func admit(_ entries: [Entry]) -> (entries: [Entry], refused: [Entry]) {
        var refused: [Entry] = []
        var index = log.lastIndex
        let admitted = entries.map { entry -> Entry in
            index += 1
            guard entry.kind == .configurationChange else { return entry }
            let applies = (try? ConfigurationChange(decoding: entry.data)).flatMap { try? membership.applying($0) } != nil
            guard pendingConfigurationIndex <= log.applied, applies else {
                refused.append(entry)
                return Entry(term: 0, index: 0)
            }
            pendingConfigurationIndex = index
            return entry
        }
        return (admitted, refused)
    }
}
