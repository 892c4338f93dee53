extension Raft {
    mutating func stepLeader(_ message: Message) {
        switch message.kind {
        case .propose:
            // Refused while handing over leadership (the new leader should get them instead), and when forwarded
            // in another term: so a proposal forwarded in term t is appended in term t or not at all, and its
            // proposer knows it lost once an entry of a later term commits.
            guard transferee == 0, message.logTerm == 0 || message.logTerm == term else {
                refuseProposal(message)
                return
            }
            let admission = admit(message.entries)
            appendEntries(admission.entries)
            broadcastAppend()
            refuseProposal(message, entries: admission.refused, forGood: true)
        case .readIndex:
            handleReadIndex(context: message.context, from: message.from)
        case .transferLeadership:
            startTransfer(to: message.transferee)
        case .appendResponse:
            handleAppendResponse(message)
        case .heartbeatResponse:
            guard progress[message.from] != nil else { return }
            progress[message.from]?.recentActive = true
            progress[message.from]?.probeSent = false
            // An append may have been lost: make room for one more so the pipeline cannot wedge (a resend
            // past a gap is rejected and backs up to the follower's match).
            if progress[message.from]?.state == .replicate, progress[message.from]?.inflights.isFull == true {
                progress[message.from]?.inflights.freeOldest()
            }
            if let match = progress[message.from]?.match, match < log.lastIndex { sendAppend(to: message.from) }
            if !message.context.isEmpty { acknowledgeRead(context: message.context, from: message.from) }
        default:
            break
        }
    }

    private mutating func handleAppendResponse(_ message: Message) {
        guard var peer = progress[message.from] else { return }
        peer.recentActive = true
        if message.reject {
            var hint = message.rejectHint
            if message.logTerm > 0 {
                hint = log.lastIndex(atOrBelow: hint, withTermAtMost: message.logTerm)
            }
            if peer.maybeDecrease(rejected: message.index, hint: hint) {
                if peer.state == .replicate { peer.becomeProbe() }
                progress[message.from] = peer
                sendAppend(to: message.from)
            } else {
                progress[message.from] = peer
            }
            return
        }
        let wasPaused = peer.isPaused
        if peer.maybeUpdate(message.index) {
            switch peer.state {
            case .probe:
                peer.becomeReplicate()
            case .snapshot(let index) where peer.match >= index:
                peer.becomeProbe()
                peer.becomeReplicate()
            case .replicate:
                peer.inflights.free(through: message.index)
            default:
                break
            }
            progress[message.from] = peer
            if maybeCommit() {
                broadcastAppend()
            } else if wasPaused {
                sendAppend(to: message.from)
            }
            // Keep the pipeline full while there is more to send.
            while let current = progress[message.from], !current.isPaused, current.next <= log.lastIndex {
                guard sendAppend(to: message.from) else { break }
            }
            if message.from == transferee && progress[message.from]?.match == log.lastIndex {
                send(self.message(.timeoutNow, to: message.from))
            }
        } else {
            progress[message.from] = peer
        }
    }

    /// Commits the highest index a quorum of voters has on disk, if it is of the current term (§5.4.2: entries
    /// of earlier terms are committed only through one of the current term). Returns whether it moved.
    mutating func maybeCommit() -> Bool {
        let candidate = membership.committedIndex { progress[$0]?.match ?? 0 }
        guard candidate > log.committed, log.term(at: candidate) == term else { return false }
        log.commit(to: candidate)
        releaseDeferredReads()
        return true
    }

    /// Assigns this term and the next indices to `entries` and appends them to the leader's log (not yet
    /// persisted: the leader counts its own copy only once `advance` says it is on disk).
    mutating func appendEntries(_ entries: [Entry]) {
        var index = log.lastIndex
        let stamped = entries.map { entry -> Entry in
            index += 1
            var entry = entry
            entry.term = term
            entry.index = index
            return entry
        }
        log.append(stamped)
        // A single-voter cluster commits as soon as the entry is persisted; nothing to send.
    }

    mutating func broadcastAppend() {
        for member in progress.keys.sorted() where member != id {
            sendAppend(to: member)
        }
    }

    mutating func broadcastHeartbeat(context: [UInt8]) {
        for member in progress.keys.sorted() where member != id {
            var heartbeat = message(.heartbeat, to: member)
            // Never tell a follower to commit past what it is known to have.
            heartbeat.commit = min(progress[member]?.match ?? 0, log.committed)
            heartbeat.context = context
            send(heartbeat)
        }
    }

    /// Sends the follower its next entries, or the snapshot when they are compacted. Returns whether anything
    /// was sent.
    @discardableResult
    mutating func sendAppend(to member: NodeID) -> Bool {
        guard var peer = progress[member], !peer.isPaused else { return false }
        let previous = peer.next - 1
        if let previousTerm = log.term(at: previous),
           let entries = log.entries(from: peer.next, to: log.lastIndex + 1, maxBytes: configuration.maxMessageBytes) {
            var append = message(.append, to: member)
            append.index = previous
            append.logTerm = previousTerm
            append.entries = entries
            append.commit = log.committed
            peer.sent(lastIndex: entries.last?.index ?? previous, entryCount: entries.count, bytes: append.payloadSize)
            progress[member] = peer
            send(append)
            return true
        }
        // The entries it needs are compacted: send the snapshot, if it has been heard from lately.
        guard peer.recentActive else { return false }
        let snapshot = log.storage.snapshot
        var install = message(.snapshot, to: member)
        install.snapshot = snapshot
        peer.becomeSnapshot(index: snapshot.metadata.index)
        progress[member] = peer
        send(install)
        return true
    }

    // MARK: transport reports

    /// The transport could not deliver to `member` (connection lost, queue full): stop streaming to it and
    /// probe again once it answers.
    public mutating func reportUnreachable(_ member: NodeID) {
        guard role == .leader, progress[member]?.state == .replicate else { return }
        progress[member]?.becomeProbe()
    }

    /// The transport lost its connection to `member` and could not connect again at once: most likely its process
    /// or host is gone (kill -9 closes its sockets). A follower that loses its leader this way stops trusting it
    /// (so it grants other members' pre-votes, no longer shielding the leader) and campaigns without waiting for
    /// the election timeout: the first of the remaining voters (by ID) at once, the others a tick later per
    /// rank, so they rarely split the vote. It is only a hint: it always starts with a pre-vote, so a leader
    /// that is alive and heard by a quorum keeps its term (their votes are refused), and a partitioned but
    /// running leader is still found out by the election timeout.
    /// Not with `leaseReads`: a leader serving reads from its lease relies on followers refusing votes while it
    /// is heard from, and a connect that merely timed out could come from a partitioned leader still running.
    public mutating func reportPeerDown(_ member: NodeID) {
        guard role == .follower, member == leader, member != 0, isVoter, configuration.preVote,
              !configuration.leaseReads else { return }
        leader = 0
        let survivors = membership.voters.union(membership.outgoing).subtracting([member]).sorted()
        let rank = survivors.firstIndex(of: id) ?? 0
        // Retried after every survivor had its turn, so a retry never coincides with another's first campaign
        // (two pre-candidates grant each other, and then split the vote for a whole election timeout).
        // Late enough, too, for voters that did not see the connection close to have missed the leader's
        // heartbeats for `hintGraceTicks`.
        hintedCampaignRetry = max(survivors.count, hintGraceTicks + 1)
        if rank == 0 {
            startElection(transfer: false, hinted: true)
        } else {
            hintedCampaignIn = rank
        }
    }

    /// The transport delivered a snapshot to `member`, or failed to. Either way the leader goes back to probing,
    /// after waiting for an answer from the member: on success its answer to the snapshot moves it on, on failure
    /// the snapshot is sent again. `index` is the point the delivered snapshot held, when the caller sent a newer
    /// one than Raft's (its state machine's state at the time it was sent, rather than the log's last
    /// compaction point): probing resumes after it, since the entries between the two may be compacted by now.
    public mutating func reportSnapshot(to member: NodeID, succeeded: Bool, index: UInt64? = nil) {
        guard role == .leader, case .snapshot(let pending) = progress[member]?.state else { return }
        if succeeded, let index, index > pending { progress[member]?.becomeSnapshot(index: index) }
        progress[member]?.becomeProbe()
        progress[member]?.probeSent = true
    }

    /// The highest index `member` is known to hold, while this member leads (nil otherwise or for a stranger).
    public func matchIndex(of member: NodeID) -> UInt64? {
        guard role == .leader else { return nil }
        return progress[member]?.match
    }

    // MARK: local requests

    /// Proposes entries of application data, batched into one log append. On a follower they are forwarded to
    /// the leader; without a known leader, or while leadership is being transferred, they are refused.
    public mutating func propose(_ data: [[UInt8]]) throws {
        try propose(data.map { Entry(term: 0, index: 0, kind: .normal, data: $0) })
    }

    mutating func propose(_ entries: [Entry]) throws {
        switch role {
        case .leader:
            guard transferee == 0 else { throw RaftError.proposalDropped }
            let admission = admit(entries)
            if !admission.refused.isEmpty { throw RaftError.configurationChangeRefused }
            appendEntries(admission.entries)
            broadcastAppend()
        default:
            guard leader != 0 else { throw RaftError.proposalDropped }
            // In messages of at most `maxMessageBytes` of payload (an entry larger than that alone): one message
            // of everything that waited for a leader could be larger than the transport takes, and lost whole.
            var start = 0
            while start < entries.count {
                var end = start + 1
                var bytes = entries[start].payloadSize
                while end < entries.count && bytes + entries[end].payloadSize <= configuration.maxMessageBytes {
                    bytes += entries[end].payloadSize
                    end += 1
                }
                var forwarded = Message(kind: .propose, from: id, to: leader, term: 0)
                forwarded.entries = Array(entries[start..<end])
                // The term the proposer believes its leader leads (see `stepLeader`).
                forwarded.logTerm = term
                send(forwarded)
                start = end
            }
        }
    }

    /// Hands leadership to `member` (a voter): once its log is complete it is told to campaign at once.
    /// Proposals are refused meanwhile; the transfer is abandoned after an election timeout.
    public mutating func transferLeadership(to member: NodeID) throws {
        guard membership.isVoter(member) else { throw RaftError.notAVoter }
        if role == .leader {
            startTransfer(to: member)
        } else {
            guard leader != 0 else { throw RaftError.proposalDropped }
            var forwarded = Message(kind: .transferLeadership, from: id, to: leader, term: 0)
            forwarded.transferee = member
            send(forwarded)
        }
    }

    private mutating func startTransfer(to member: NodeID) {
        guard member != id, membership.isVoter(member), transferee != member else { return }
        transferee = member
        electionElapsed = 0
        if progress[member]?.match == log.lastIndex {
            send(message(.timeoutNow, to: member))
        } else {
            sendAppend(to: member)
        }
    }
}
