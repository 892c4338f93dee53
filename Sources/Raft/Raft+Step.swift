extension Raft {
    /// Marks a campaign started by a leadership transfer: voters grant it even while they hear from a leader.
    static let transferCampaign: [UInt8] = Array("transfer".utf8)
    /// Marks a campaign started because the leader's connection was lost (`reportPeerDown`): voters that have
    /// not heard from the leader for `hintGraceTicks` grant it, though their election timeout has not run out.
    static let hintedCampaign: [UInt8] = Array("hinted".utf8)

    /// Ticks without a message from the leader after which a voter grants a hinted campaign: a few missed
    /// heartbeats, where leader stickiness waits a whole election timeout.
    var hintGraceTicks: Int { max(3 * configuration.heartbeatTicks, configuration.electionTicks / 3) }

    /// Advances the caller's clock by one tick.
    public mutating func tick() {
        electionElapsed += 1
        if role == .leader {
            tickLeader()
        } else if electionElapsed >= randomizedElectionTimeout && isVoter {
            electionElapsed = 0
            startElection(transfer: false)
        } else if let countdown = hintedCampaignIn {
            hintedCampaignIn = countdown > 1 ? countdown - 1 : nil
            // A hinted pre-vote is asked again while unanswered: a voter that still trusts the leader drops it
            // without a word, and grants it once the leader has been silent for `hintGraceTicks`.
            let mayCampaign = (role == .follower && leader == 0) || role == .preCandidate
            if countdown <= 1, mayCampaign, isVoter { startElection(transfer: false, hinted: true) }
        }
        // A member that cannot campaign keeps counting: once an election timeout passes without a leader it
        // must stop shielding the old leader from vote requests (or the voters could never elect a new one).
    }

    private mutating func tickLeader() {
        heartbeatElapsed += 1
        if electionElapsed >= configuration.electionTicks {
            electionElapsed = 0
            if configuration.checkQuorum {
                let active = Set(progress.keys.filter { $0 == id || progress[$0]?.recentActive == true })
                if !membership.isQuorum(active) {
                    // Cut off from a quorum: stop acting as leader so clients go elsewhere.
                    becomeFollower(term: term, leader: 0)
                    return
                }
                for member in progress.keys where member != id { progress[member]?.recentActive = false }
            }
            // A transfer that has not finished within an election timeout is abandoned.
            transferee = 0
        }
        if heartbeatElapsed >= configuration.heartbeatTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat(context: reads.heartbeatContext)
        }
    }

    /// Starts an election now (as after an election timeout), with a pre-vote first if configured.
    public mutating func campaign() throws {
        guard isVoter else { throw RaftError.notAVoter }
        guard role != .leader else { return }
        startElection(transfer: false)
    }

    mutating func startElection(transfer: Bool, hinted: Bool = false) {
        // A committed membership change not yet applied may change who votes: wait until it is in force.
        guard !hasUnappliedConfigurationChange else { return }
        campaignHinted = hinted
        // Asked again after `hintedCampaignRetry` ticks while it goes unanswered (see `tick`).
        if hinted { hintedCampaignIn = hintedCampaignRetry }
        if configuration.preVote && !transfer {
            becomePreCandidate()
            requestVotes(kind: .preVote, term: term + 1, transfer: false)
        } else {
            becomeCandidate()
            requestVotes(kind: .vote, term: term, transfer: transfer)
        }
    }

    private mutating func requestVotes(kind: Message.Kind, term campaignTerm: UInt64, transfer: Bool) {
        votes[id] = true
        if tallyVotes() == .won {
            wonElection(kind)
            return
        }
        for voter in membership.voters.union(membership.outgoing).sorted() where voter != id {
            var request = Message(kind: kind, from: id, to: voter, term: campaignTerm)
            request.index = log.lastIndex
            request.logTerm = log.lastTerm
            if transfer {
                request.context = Raft.transferCampaign
            } else if campaignHinted {
                request.context = Raft.hintedCampaign
            }
            send(request)
        }
    }

    enum ElectionOutcome { case won, lost, pending }

    func tallyVotes() -> ElectionOutcome {
        if membership.isQuorum(Set(votes.filter { $0.value }.keys)) { return .won }
        if membership.isDefeated(Set(votes.filter { !$0.value }.keys)) { return .lost }
        return .pending
    }

    private mutating func wonElection(_ kind: Message.Kind) {
        if kind == .preVote {
            becomeCandidate()
            requestVotes(kind: .vote, term: term, transfer: false)
        } else {
            becomeLeader()
        }
    }

    // MARK: step

    /// Processes a message from a peer.
    public mutating func step(_ message: Message) {
        // Forwarded requests carry no term: they are not claims about the cluster's state.
        if message.term != 0 && !stepTerm(message) { return }
        switch message.kind {
        case .vote, .preVote:
            handleVoteRequest(message)
            return
        case .proposalRefused:
            if message.reject {
                refusedChanges += message.entries
            } else {
                refusedProposals += message.entries
            }
            return
        default:
            break
        }
        switch role {
        case .leader: stepLeader(message)
        case .candidate, .preCandidate: stepCandidate(message)
        case .follower: stepFollower(message)
        }
    }

    /// Applies the rules about terms (§5.1 and the PreVote/CheckQuorum extensions). Returns whether the message
    /// should be processed further.
    private mutating func stepTerm(_ message: Message) -> Bool {
        if message.term > term {
            if message.kind == .vote || message.kind == .preVote {
                let forced = message.context == Raft.transferCampaign
                    || (message.context == Raft.hintedCampaign && role != .leader && !configuration.leaseReads
                        && electionElapsed >= hintGraceTicks)
                let hearingFromLeader = configuration.checkQuorum && leader != 0
                    && electionElapsed < configuration.electionTicks
                // Leader stickiness: while a leader is heard from, vote requests cannot depose it. A campaign
                // whose candidate lost the leader's connection is granted once the leader has been silent here
                // for a few heartbeats too: a leader killed -9 is replaced without waiting for every voter to
                // see its own connection close.
                if hearingFromLeader && !forced { return false }
            }
            switch message.kind {
            case .preVote:
                // A pre-vote never changes our term.
                break
            case .preVoteResponse where !message.reject:
                // Granted pre-votes come at term + 1; the term rises when the real election starts.
                break
            case .append, .heartbeat, .snapshot:
                becomeFollower(term: message.term, leader: message.from)
            default:
                becomeFollower(term: message.term, leader: 0)
            }
            return true
        }
        if message.term < term {
            if (configuration.checkQuorum || configuration.preVote) && (message.kind == .heartbeat || message.kind == .append) {
                // A stale leader: tell it our term so it steps down (it would otherwise keep a partitioned
                // member from ever winning a pre-vote against it).
                send(self.message(.appendResponse, to: message.from))
            } else if message.kind == .preVote {
                var response = self.message(.preVoteResponse, to: message.from)
                response.reject = true
                send(response)
            }
            return false
        }
        return true
    }

    private mutating func handleVoteRequest(_ request: Message) {
        let isPreVote = request.kind == .preVote
        let canVote = vote == request.from
            || (vote == 0 && leader == 0)
            || (isPreVote && request.term > term)
        var response = Message(kind: isPreVote ? .preVoteResponse : .voteResponse, from: id, to: request.from,
                               term: term)
        if canVote && log.isUpToDate(lastIndex: request.index, term: request.logTerm) {
            // A granted pre-vote answers at the requested term, so the candidate counts it.
            response.term = request.term
            if !isPreVote {
                electionElapsed = 0
                vote = request.from
            }
        } else {
            response.reject = true
        }
        send(response)
    }

    private mutating func stepCandidate(_ message: Message) {
        let expected: Message.Kind = role == .preCandidate ? .preVoteResponse : .voteResponse
        switch message.kind {
        case .propose:
            refuseProposal(message) // No leader to take it.
        case .append, .heartbeat, .snapshot:
            // A leader of our term exists: the election is over.
            becomeFollower(term: message.term, leader: message.from)
            handleLeaderMessage(message)
        case expected:
            votes[message.from] = !message.reject
            switch tallyVotes() {
            case .won: wonElection(role == .preCandidate ? .preVote : .vote)
            case .lost:
                let mayRetry = hintedCampaignRetry
                becomeFollower(term: term, leader: 0)
                // A voter that had not yet lost its own connection to the dead leader may have refused us:
                // once it has, it will grant. Try once more, after the others had their turn.
                if let mayRetry { hintedCampaignIn = mayRetry }
            case .pending: break
            }
        default:
            break
        }
    }

    private mutating func stepFollower(_ message: Message) {
        switch message.kind {
        case .propose:
            // Not passed on to our leader: appended there, it would be in a term its proposer does not know of.
            // Sent back, it is proposed again once the proposer knows the leader.
            refuseProposal(message)
        case .readIndex, .transferLeadership:
            guard leader != 0 else { return }
            var forwarded = message
            forwarded.to = leader
            send(forwarded)
        case .append, .heartbeat, .snapshot:
            electionElapsed = 0
            leader = message.from
            handleLeaderMessage(message)
        case .timeoutNow:
            // The leader hands over: campaign at once, skipping the pre-vote and the lease.
            if isVoter { startElection(transfer: true) }
        case .readIndexResponse:
            readStates.append(ReadState(index: message.index, context: message.context))
        default:
            break
        }
    }

    /// Tells a member whose forwarded proposal (`forwarded`, or those of its `entries` given) was not appended
    /// here, so it need not wait for it to commit; `forGood` when proposing it again would be refused again (a
    /// membership change not admitted). Each entry sent back carries, as its term, the term it was forwarded in
    /// (see `Ready.refusedProposals`).
    mutating func refuseProposal(_ forwarded: Message, entries: [Entry]? = nil, forGood: Bool = false) {
        let refused = entries ?? forwarded.entries
        guard !refused.isEmpty, forwarded.from != id else { return }
        var refusal = Message(kind: .proposalRefused, from: id, to: forwarded.from, term: 0)
        refusal.entries = refused.map { entry in
            var entry = entry
            entry.term = forwarded.logTerm
            return entry
        }
        refusal.reject = forGood
        send(refusal)
    }

    // MARK: follower handlers

    private mutating func handleLeaderMessage(_ message: Message) {
        switch message.kind {
        case .append: handleAppend(message)
        case .heartbeat: handleHeartbeat(message)
        default: handleSnapshot(message)
        }
    }

    private mutating func handleAppend(_ message: Message) {
        var response = self.message(.appendResponse, to: message.from)
        if message.index < log.committed {
            response.index = log.committed
        } else if let lastNew = log.maybeAppend(index: message.index, logTerm: message.logTerm, commit: message.commit,
                                                entries: message.entries) {
            response.index = lastNew
        } else {
            // Point the leader at the last entry that may match: at or before the rejected index, with a term
            // no newer than the leader's entry there.
            let hint = log.lastIndex(atOrBelow: min(message.index, log.lastIndex), withTermAtMost: message.logTerm)
            response.reject = true
            response.index = message.index
            response.rejectHint = hint
            response.logTerm = log.term(at: hint) ?? 0
        }
        send(response)
    }

    private mutating func handleHeartbeat(_ message: Message) {
        log.commit(to: min(message.commit, log.lastIndex))
        var response = self.message(.heartbeatResponse, to: message.from)
        response.context = message.context
        send(response)
    }

    private mutating func handleSnapshot(_ message: Message) {
        guard let snapshot = message.snapshot else { return }
        var response = self.message(.appendResponse, to: message.from)
        let point = snapshot.metadata
        if point.index <= log.committed {
            response.index = log.committed
        } else if log.matchTerm(point.index, point.term) {
            // We already have the entries the snapshot covers: just commit them.
            log.commit(to: point.index)
            response.index = log.committed
        } else {
            log.restore(snapshot)
            switchTo(point.membership)
            response.index = point.index
        }
        send(response)
    }
}
