import Dispatch
import Logging
import NIOCore
import MVCC
import PeerTransport
import Raft
import Synchronization

/// The thin shell around `Raft`: owns it on one event-loop thread, feeds it ticks, messages and requests, and
/// carries out each `Ready`: send, fsync the log, send what had to wait for the fsync, apply, advance.
/// Called once with a write's result, on the Raft loop's thread: hand heavy work elsewhere.
public typealias WriteCompletion = @Sendable (Result<MVCCResponse, any Error>) -> Void
/// Called once when a linearizable read may proceed (or why it may not), on the Raft loop's thread.
public typealias ReadCompletion = @Sendable (Result<Void, any Error>) -> Void

final class RaftLoop: @unchecked Sendable {
    // @unchecked Sendable: the mutable state below the inbox is touched only on `eventLoop`; the inbox and status
    // are behind their own locks.
    enum Input: Sendable {
        case messages([Message])
        case unreachable(NodeID)
        /// The connection to a peer closed and it refused a new one (its process is most likely gone).
        case peerDown(NodeID)
        case propose(requestID: UInt64, data: [UInt8], completion: WriteCompletion, deadline: ContinuousClock.Instant)
        case read(completion: ReadCompletion, deadline: ContinuousClock.Instant)
        case transferLeadership(to: NodeID, completion: @Sendable (Result<Void, any Error>) -> Void)
        case proposeConfigurationChange(ConfigurationChange, completion: @Sendable (Result<Void, any Error>) -> Void)
        /// The store was copied for snapshot message number `sequence`, at `appliedIndex` (the data carries recent
        /// outcomes after the store's bytes, see `RecentOutcomes`): label it and send it.
        case snapshotMade(Message, sequence: UInt64, data: [UInt8], appliedIndex: UInt64)
        /// Snapshot number `sequence` for `peer`, holding the state at `index`, reached its Raft loop (or could not
        /// be made or sent).
        case snapshotSent(to: NodeID, sequence: UInt64, succeeded: Bool, index: UInt64)
    }

    struct Inbox {
        var inputs: [Input] = []
        var scheduled = false
        var stopped = false
        /// Writes submitted and not yet answered, and the bytes of their commands (see `propose`).
        var pendingWrites = 0
        var pendingWriteBytes = 0
    }

    struct Write {
        var completion: WriteCompletion
        var deadline: ContinuousClock.Instant
        /// This member's term when it proposed (as leader) or forwarded (to the leader of that term) the write:
        /// the only term its entry can have (see `failOvertakenWrites`).
        var proposedTerm: UInt64 = 0
        /// The proposal, kept while forwarded (nil when proposed as leader): a leader that does not append it
        /// sends it back (`Ready.refusedProposals`), and it is proposed again.
        var forwardedData: [UInt8]?

        func fail(_ error: StoreError) { completion(.failure(error)) }
    }

    /// A membership change proposed here, answered once it is applied here (or refused, or out of time).
    struct ConfigurationChangeRequest {
        var data: [UInt8]
        var completion: @Sendable (Result<Void, any Error>) -> Void
        var deadline: ContinuousClock.Instant
    }

    struct Read {
        var completion: ReadCompletion
        var deadline: ContinuousClock.Instant

        func fail(_ error: StoreError) { completion(.failure(error)) }
    }

    /// The one thread Raft runs on. The member's peer connections live on it too, so a message travels from
    /// Raft to the socket, and from the socket to Raft, without changing threads.
    let eventLoop: EventLoop
    /// Dumps the store for members that need a snapshot, off the Raft loop.
    let snapshotQueue: DispatchQueue
    /// Purges compacted versions off the Raft loop: it walks the whole key space.
    let purgeQueue: DispatchQueue
    let configuration: MemberConfiguration
    let log: DurableRaftLog
    let mvcc: MVCCStore
    /// Set once, right after init, before anything can call into the loop.
    var transport: PeerTransport?
    let inbox = Mutex(Inbox())
    let status: Mutex<MemberStatus>
    private var raft: Raft
    private var timer: RepeatedTask?
    private var writes: [UInt64: Write] = [:]
    /// Proposals that arrived while no leader was known (an election is under way), and refused ones due again;
    /// proposed once a leader is known.
    private var awaitingLeader: [(requestID: UInt64, data: [UInt8], write: Write)] = []
    /// Forwarded proposals sent back unappended (a handover, another term, no leader there); proposed again at
    /// the next tick (not at once: a leader handing over leadership would refuse them again, for as long as the
    /// handover lasts).
    private var refusedWrites: [(requestID: UInt64, data: [UInt8], write: Write)] = []
    /// Membership changes proposed here and not yet applied.
    private var configurationChanges: [ConfigurationChangeRequest] = []
    /// Membership changes sent back unappended, but not refused for good: proposed again at the next tick.
    private var changesToRepropose: [[UInt8]] = []
    /// Reads that arrived since the last read index was asked for; they share the next one.
    private var newReads: [Read] = []
    /// Reads whose read index was asked for (or waits for a leader to be asked of).
    private var readsAsked: ReadIndexRequests<Read>
    /// Reads whose read point is known, waiting for this member to apply up to it.
    private var readsWaitingForApply: [(index: UInt64, reads: [Read])] = []
    private var appliedIndex: UInt64
    /// What recently applied commands produced: sent with snapshots, to answer writes a snapshot covers.
    private var recentOutcomes = RecentOutcomes()
    let leases: LeaseTimers
    /// Revokes this leader proposed for expired leases, by lease, with the tick they were proposed at (a
    /// revoke lost on the way is proposed again after an election timeout).
    private var revoking: [Int64: UInt64] = [:]
    private var ticks: UInt64 = 0
    private var wasLeader = false
    /// The term of the last entry applied (or of the snapshot installed).
    private var appliedTerm: UInt64 = 0
    /// The applied term waiting writes were last checked against (`failOvertakenWrites`).
    private var checkedTerm: UInt64 = 0
    /// The highest term of a snapshot installed by this process: entries of that term or earlier may have been
    /// applied inside it, unseen one by one.
    private var installedSnapshotTerm: UInt64 = 0
    /// Senders from outside the cluster already warned about.
    private var strangers: Set<NodeID> = []
    private var ignoredMessages: UInt64 = 0
    private var snapshotsSent: UInt64 = 0
    /// This member applied a membership that no longer holds it (one that held it before).
    private var removed = false
    /// The membership in force after the last Ready (a snapshot replaces it before its Ready is handled).
    private var lastMembership: Membership
    /// Memberships taken effect at applied indexes since the log's snapshot point, to label a compaction point
    /// with the membership in force there.
    private var membershipChanges: [(index: UInt64, membership: Membership)] = []
    /// Peers catching up by a snapshot, with the point it holds: the log is not cut past it until the peer has
    /// it (else the entries right after could be gone by the time it is installed, and it would need another),
    /// or until `snapshotHoldTicks` pass.
    private var snapshotHolds: [NodeID: (index: UInt64, since: UInt64)] = [:]
    /// The snapshot being made or sent to each peer, by number: reports of an older one (superseded by a newer
    /// snapshot to the same peer) are ignored.
    private var snapshotsInFlight: [NodeID: UInt64] = [:]
    private var lastSnapshotSequence: UInt64 = 0
    let logger: Logger

    init(configuration: MemberConfiguration, log: DurableRaftLog, mvcc: MVCCStore, eventLoop: EventLoop) throws {
        leases = LeaseTimers(leases: try mvcc.leases())
        self.configuration = configuration
        self.log = log
        self.mvcc = mvcc
        logger = Logger(label: "podium.store.\(configuration.id)")
        self.eventLoop = eventLoop
        purgeQueue = DispatchQueue(label: "podium.purge.\(configuration.id)", qos: .utility)
        snapshotQueue = DispatchQueue(label: "podium.snapshot.\(configuration.id)", qos: .utility)
        var raftConfiguration = RaftConfiguration(id: configuration.id)
        raftConfiguration.electionTicks = configuration.electionTicks
        // Appends in flight to one follower stay well inside what its peer connection queues (64 MiB): beyond
        // that the transport drops them, and a leader of large values would resend forever.
        raftConfiguration.maxInflightBytes = 32 << 20
        raftConfiguration.randomSeed = UInt64.random(in: 0...UInt64.max)
        raft = Raft(configuration: raftConfiguration, storage: log)
        readsAsked = ReadIndexRequests(member: configuration.id, incarnation: UInt64.random(in: 0...UInt64.max),
                                       retryTicks: configuration.readRetryTicks)
        appliedIndex = raft.appliedIndex
        lastMembership = raft.membership
        status = Mutex(MemberStatus(id: configuration.id, leader: 0, term: raft.term, role: .follower,
                                    committedIndex: raft.committedIndex, appliedIndex: raft.appliedIndex,
                                    membership: raft.membership))
    }

    func start() {
        let interval = configuration.tickInterval
        let nanoseconds = Int64(interval.components.seconds) * 1_000_000_000 + interval.components.attoseconds / 1_000_000_000
        onLoop {
            self.timer = self.eventLoop.scheduleRepeatedTask(initialDelay: .nanoseconds(nanoseconds),
                                                             delay: .nanoseconds(nanoseconds)) { [self] _ in
                raft.tick()
                readsAsked.tick(raft: &raft)
                ticks += 1
                awaitingLeader = refusedWrites + awaitingLeader
                refusedWrites = []
                reproposeChanges()
                expireLeases()
                expireRequests()
                proposeAwaiting()
                askReadIndex()
                processReady()
            }
        }
    }

    func stop() {
        inbox.withLock { $0.stopped = true }
        onLoop { [self] in
            timer?.cancel()
            timer = nil
            transport = nil
            for write in Array(writes.values) + (awaitingLeader + refusedWrites).map(\.write) { write.fail(.stopped) }
            writes = [:]
            awaitingLeader = []
            refusedWrites = []
            for change in configurationChanges { change.completion(.failure(StoreError.stopped)) }
            configurationChanges = []
            for read in newReads + readsAsked.waiters + readsWaitingForApply.flatMap(\.reads) {
                read.fail(.stopped)
            }
            newReads = []
            _ = readsAsked.removeAll { _ in true }
            readsWaitingForApply = []
        }
        // Requests that were still in the inbox.
        let leftover = inbox.withLock { inbox in
            defer { inbox.inputs = [] }
            return inbox.inputs
        }
        for input in leftover { fail(input, StoreError.stopped) }
    }

    /// Runs `body` on the loop's thread and waits for it (directly when already there).
    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        if eventLoop.inEventLoop {
            body()
        } else {
            // The loop outlives the member (its group is shut down after `stop`), so this cannot hang.
            try? eventLoop.submit(body).wait()
        }
    }

    /// Queues a write unless too many are waiting to be answered (`MemberConfiguration.maxPendingWrites`):
    /// then it is refused at once with "too many requests". Callable from any thread.
    func propose(requestID: UInt64, data: [UInt8], deadline: ContinuousClock.Instant, completion: @escaping WriteCompletion) {
        let bytes = data.count
        let (maxWrites, maxBytes) = (configuration.maxPendingWrites, configuration.maxPendingWriteBytes)
        let admitted = inbox.withLock { inbox -> Bool in
            guard inbox.pendingWrites < maxWrites, inbox.pendingWriteBytes + bytes <= maxBytes else { return false }
            inbox.pendingWrites += 1
            inbox.pendingWriteBytes += bytes
            return true
        }
        guard admitted else {
            completion(.failure(StoreError.tooManyRequests))
            return
        }
        submit(.propose(requestID: requestID, data: data, completion: { result in
            self.inbox.withLock {
                $0.pendingWrites -= 1
                $0.pendingWriteBytes -= bytes
            }
            completion(result)
        }, deadline: deadline))
    }

    /// Queues an input; the first one after a drain schedules the next drain. Callable from any thread.
    func submit(_ input: Input) {
        let (schedule, stopped) = inbox.withLock { inbox -> (Bool, Bool) in
            guard !inbox.stopped else { return (false, true) }
            inbox.inputs.append(input)
            defer { inbox.scheduled = true }
            return (!inbox.scheduled, false)
        }
        if stopped { fail(input, StoreError.stopped) }
        if schedule { eventLoop.execute { self.drain() } }
    }

    private func fail(_ input: Input, _ error: StoreError) {
        switch input {
        case .propose(_, _, let completion, _): completion(.failure(error))
        case .read(let completion, _): completion(.failure(error))
        case .transferLeadership(_, let completion), .proposeConfigurationChange(_, let completion):
            completion(.failure(error))
        case .messages, .unreachable, .peerDown, .snapshotMade, .snapshotSent: break
        }
    }

    private func drain() {
        let inputs = inbox.withLock { inbox in
            defer {
                inbox.inputs = []
                inbox.scheduled = false
            }
            return inbox.inputs
        }
        for input in inputs { handle(input) }
        proposeAwaiting()
        askReadIndex()
        processReady()
    }

    /// Proposes what waited for a leader, all in one batch, once a leader is known.
    private func proposeAwaiting() {
        guard !awaitingLeader.isEmpty, raft.leader != 0 else { return }
        let batch = awaitingLeader
        awaitingLeader = []
        do {
            try raft.propose(batch.map(\.data))
            let forwarded = raft.role != .leader
            for pending in batch {
                var write = pending.write
                write.proposedTerm = raft.term
                write.forwardedData = forwarded ? pending.data : nil
                writes[pending.requestID] = write
            }
        } catch {
            // Refused (a leadership transfer is under way): wait for the next leader.
            awaitingLeader = batch
        }
    }

    private func handle(_ input: Input) {
        switch input {
        case .messages(let messages):
            // Only members of this cluster speak to it: a member of another cluster that reached our peer port
            // (a reused address, a misconfigured --initial-cluster) could otherwise depose our leader with its
            // term, or overwrite our log with its entries. IDs derive from peer URLs and the cluster token, so
            // another cluster's differ. A member joining an existing cluster knows nobody until the leader's log
            // or snapshot tells it the membership, so it listens to anyone until then; and a member added while this
            // one was away is listened to once its hello named this cluster (`PeerHello`).
            let members = raft.membership.members
            for message in messages {
                guard message.to == configuration.id,
                      members.isEmpty || members.contains(message.from) || transport?.isOfThisCluster(message.from) == true else {
                    ignoredMessages += 1
                    if strangers.insert(message.from).inserted {
                        logger.warning("ignoring Raft messages from outside the cluster",
                                       metadata: ["from": "\(String(message.from, radix: 16))", "to": "\(String(message.to, radix: 16))"])
                    }
                    continue
                }
                raft.step(message)
            }
        case .unreachable(let peer):
            raft.reportUnreachable(peer)
        case .peerDown(let peer):
            if peer == raft.leader { logger.info("lost the connection to the leader; campaigning", metadata: ["leader": "\(peer)"]) }
            raft.reportPeerDown(peer)
        case .propose(let requestID, let data, let completion, let deadline):
            awaitingLeader.append((requestID, data, Write(completion: completion, deadline: deadline)))
        case .read(let completion, let deadline):
            newReads.append(Read(completion: completion, deadline: deadline))
        case .transferLeadership(let member, let completion):
            completion(Result { try raft.transferLeadership(to: member) })
        case .proposeConfigurationChange(let change, let completion):
            do {
                try raft.proposeConfigurationChange(change)
                configurationChanges.append(ConfigurationChangeRequest(
                    data: change.encoded(), completion: completion,
                    deadline: .now + configuration.requestTimeout))
            } catch {
                completion(.failure(error))
            }
        case .snapshotMade(let message, let sequence, let data, let appliedIndex):
            guard snapshotsInFlight[message.to] == sequence else { return }
            sendSnapshot(message, sequence: sequence, data: data, appliedIndex: appliedIndex)
        case .snapshotSent(let peer, let sequence, let succeeded, let index):
            guard snapshotsInFlight[peer] == sequence else { return }
            finishSnapshot(to: peer, succeeded: succeeded, index: index)
        }
    }

    /// One read index serves every read that arrived since the last one (reads are batched, like writes).
    /// Without a leader they wait for one (until their deadline), and are asked again when the leader changes.
    private func askReadIndex() {
        guard !newReads.isEmpty else { return }
        readsAsked.ask(newReads, raft: &raft)
        newReads = []
    }

    /// The leader revokes expired leases through the log, like any other write.
    private func expireLeases() {
        guard raft.role == .leader else { return }
        for id in leases.expired() {
            if let proposedAt = revoking[id], ticks - proposedAt < UInt64(configuration.electionTicks) { continue }
            let data = CommandCodec.encode(requestID: UInt64.random(in: 1...UInt64.max), .leaseRevoke(id: id))
            guard (try? raft.propose([data])) != nil else { return }
            revoking[id] = ticks
        }
    }

    private func processReady() {
        while raft.hasReady {
            let ready = raft.ready()
            // A Ready that only moves the commit point (a quorum's acknowledgements arrived): its entries are on
            // disk here already, so the writes waiting for them are answered first, and telling the followers
            // and recording the commit index follow (neither is needed for the answer to be durable).
            let commitOnly = ready.entries.isEmpty && ready.snapshot == nil && !ready.committedEntries.isEmpty
            if commitOnly { applyCommitted(ready) }
            send(ready.messages)
            var snapshot = ready.snapshot
            if let received = snapshot {
                install(received)
                // The state itself is in the store now; the log keeps only where it cuts.
                snapshot?.data = []
            }
            if ready.hardState != nil || !ready.entries.isEmpty || snapshot != nil {
                // Only entries, a snapshot, the term and the vote must be on disk before anyone hears of them. A
                // commit index alone is written without an fsync (as etcd does): one lost in a crash is learned
                // again from the leader, and applying an entry twice is a no-op. That keeps a second fsync off
                // every write's path.
                let mustSync = !ready.entries.isEmpty || snapshot != nil
                    || ready.hardState.map { $0.term != log.hardState.term || $0.vote != log.hardState.vote } == true
                do {
                    try log.save(hardState: ready.hardState, entries: ready.entries, snapshot: snapshot, sync: mustSync)
                } catch {
                    // Acknowledging anything after a failed fsync could lose it: stop this member instead.
                    fatalError("persisting the raft log failed: \(error)")
                }
            }
            send(ready.messagesAfterPersist)
            if !commitOnly { applyCommitted(ready) }
            handleRefusals(ready.refusedProposals, refusedForGood: ready.refusedChanges)
            for state in ready.readStates {
                guard let reads = readsAsked.answer(state) else { continue }
                readsWaitingForApply.append((state.index, reads))
            }
            releaseReads()
            raft.advance(ready)
            // A new leader or term drops read requests on the way: ask again (which may make a new Ready).
            readsAsked.reaskIfDue(raft: &raft)
            // What arrived meanwhile (a vote request, a heartbeat, a lost connection) would otherwise wait for the
            // whole backlog of a member catching up; the drain its arrival scheduled goes on from here.
            if inbox.withLock({ !$0.inputs.isEmpty }) { break }
        }
        compactLogIfDue()
        failOvertakenWrites()
        let isLeader = raft.role == .leader
        if isLeader != wasLeader {
            wasLeader = isLeader
            revoking = [:]
            if isLeader {
                let electionTimeout = configuration.tickInterval * configuration.electionTicks
                leases.promote(extension: UInt64(electionTimeout.components.seconds) * 1_000_000_000
                               + UInt64(electionTimeout.components.attoseconds / 1_000_000_000))
            }
        }
        let raft = raft, applied = appliedIndex, ignoredMessages = ignoredMessages, snapshotsSent = snapshotsSent
        let removed = removed
        lastMembership = raft.membership
        status.withLock {
            $0 = MemberStatus(id: raft.id, leader: raft.leader, term: raft.term, role: raft.role,
                              committedIndex: raft.committedIndex, appliedIndex: applied, membership: raft.membership,
                              ignoredMessages: ignoredMessages, snapshotsSent: snapshotsSent, isRemoved: removed)
        }
    }

    private func applyCommitted(_ ready: Ready) {
        guard !ready.committedEntries.isEmpty else { return }
        apply(ready.committedEntries)
        do {
            try mvcc.flushAppliedWrites()
        } catch {
            fatalError("writing applied entries failed: \(error)")
        }
    }

    private func apply(_ entries: [Entry]) {
        // Commands are applied in runs (see `MVCCStore.apply(_:)`); a membership change ends a run, since it
        // takes effect at its own index.
        var run: [(requestID: UInt64, command: MVCCCommand, index: UInt64)] = []
        for entry in entries {
            if entry.kind == .configurationChange {
                applyRun(&run)
                if let change = try? ConfigurationChange(decoding: entry.data) {
                    let before = raft.membership
                    let after = raft.applyConfigurationChange(change)
                    completeConfigurationChange(matching: entry.data, with: .success(()))
                    membershipChanges.append((entry.index, after))
                    noteRemoval(before: before, after: after)
                    // Stop talking to members that left (once they are out of every configuration), after a moment:
                    // the leader's last heartbeat to them (see `Raft.switchTo`) leaves with the next Ready.
                    for gone in before.members.subtracting(after.members) where gone != configuration.id {
                        eventLoop.scheduleTask(in: .seconds(2)) { [weak self] in
                            guard let self, !self.raft.membership.members.contains(gone) else { return }
                            self.transport?.removePeer(gone)
                        }
                    }
                }
                appliedIndex = max(appliedIndex, entry.index)
                continue
            }
            // The leader's empty entry of a new term carries no command; an undecodable one is skipped alike by
            // every member, since every member holds the same bytes.
            guard !entry.data.isEmpty, let (requestID, command) = try? CommandCodec.decode(entry.data) else {
                if run.isEmpty { appliedIndex = max(appliedIndex, entry.index) }
                continue
            }
            run.append((requestID, command, entry.index))
        }
        applyRun(&run)
        if let last = entries.last {
            appliedIndex = max(appliedIndex, last.index)
            appliedTerm = max(appliedTerm, last.term)
        }
    }

    /// Applies a run of commands and completes their writes, in log order.
    private func applyRun(_ run: inout [(requestID: UInt64, command: MVCCCommand, index: UInt64)]) {
        guard !run.isEmpty else { return }
        let outcomes: [ApplyOutcome]
        do {
            outcomes = try mvcc.apply(run.map { ($0.command, $0.index) })
        } catch {
            fatalError("applying entries \(run[0].index)...\(run[run.count - 1].index) failed: \(error)")
        }
        for ((requestID, command, index), outcome) in zip(run, outcomes) {
            // After a snapshot the store may be ahead of Raft's apply point: never move backwards.
            appliedIndex = max(appliedIndex, index)
            if case .compact = command, case .applied(.success) = outcome { schedulePurge() }
            if case .memberUpdate(let update) = command {
                if update.id != configuration.id, let url = update.peerURLs?.first, let address = PeerAddress(url: url) {
                    transport?.setPeer(update.id, host: address.host, port: address.port)
                }
                learnClusterID()
            }
            if case .applied(let result) = outcome {
                leases.applied(command, result: result)
                if case .leaseRevoke(let id) = command { revoking[id] = nil }
                recentOutcomes.record(requestID: requestID, index: index, result: result)
            }
            guard let write = writes.removeValue(forKey: requestID) else { continue }
            switch outcome {
            case .applied(let result): write.completion(result.mapError { $0 })
            // In the store already (from a snapshot, or before a restart, when nobody waits): its outcome is
            // among the recent ones unless it is long past.
            case .alreadyApplied:
                if let result = recentOutcomes.outcome(of: requestID) {
                    write.completion(result.mapError { $0 })
                } else {
                    write.fail(.timeout)
                }
            }
        }
        run.removeAll(keepingCapacity: true)
    }

    /// Sends messages, except that a snapshot message first gets the store's state as its data: copied off the
    /// loop (it reads the whole store), then labelled and sent (`sendSnapshot`), then reported to Raft.
    private func send(_ messages: [Message]) {
        guard messages.contains(where: { $0.kind == .snapshot }) else {
            transport?.send(messages)
            return
        }
        transport?.send(messages.filter { $0.kind != .snapshot })
        for message in messages where message.kind == .snapshot {
            // The copy holds at least what is applied now: keep the log from being cut past it meanwhile.
            snapshotHolds[message.to] = (appliedIndex, ticks)
            lastSnapshotSequence += 1
            let sequence = lastSnapshotSequence
            snapshotsInFlight[message.to] = sequence
            // The outcomes applied so far: all at or before the point the copy will hold.
            let mvcc = mvcc, logger = logger, outcomes = recentOutcomes
            snapshotQueue.async { [weak self] in
                do {
                    var (data, appliedIndex) = try mvcc.snapshotWithAppliedIndex()
                    outcomes.attach(to: &data)
                    self?.submit(.snapshotMade(message, sequence: sequence, data: data, appliedIndex: appliedIndex))
                } catch {
                    logger.error("making a snapshot failed", metadata: ["error": "\(error)"])
                    self?.submit(.snapshotSent(to: message.to, sequence: sequence, succeeded: false, index: 0))
                }
            }
        }
    }

    /// Labels a snapshot message with the point its data holds — the store's applied index when it was copied,
    /// with the term and membership there — rather than the log's last compaction point, which can be far older:
    /// the follower then needs only the entries after the copy. Then streams it and reports the outcome.
    private func sendSnapshot(_ message: Message, sequence: UInt64, data: [UInt8], appliedIndex: UInt64) {
        // Made in an earlier term (this member lost and won leadership meanwhile): the follower would drop it.
        guard raft.role == .leader, message.term == raft.term, let transport else {
            finishSnapshot(to: message.to, succeeded: false, index: 0)
            return
        }
        var outgoing = message
        outgoing.snapshot?.data = data
        // Relabelled only with a point this shell applied itself, so the membership there is known: after a
        // restart the store can be ahead of what the log replayed so far.
        if let labelled = outgoing.snapshot?.metadata.index, appliedIndex > labelled, appliedIndex <= self.appliedIndex,
           let term = raft.term(at: appliedIndex) {
            outgoing.snapshot?.metadata.index = appliedIndex
            outgoing.snapshot?.metadata.term = term
            outgoing.snapshot?.metadata.membership = membership(at: appliedIndex)
        }
        let point = outgoing.snapshot?.metadata.index ?? 0
        snapshotHolds[message.to] = (point, ticks)
        snapshotsSent += 1
        let logger = logger, snapshotMessage = outgoing
        Task { [weak self] in
            let succeeded: Bool
            do {
                try await transport.sendSnapshot(snapshotMessage)
                succeeded = true
                logger.info("sent snapshot", metadata: ["to": "\(message.to)", "bytes": "\(data.count)", "index": "\(point)"])
            } catch {
                succeeded = false
                logger.warning("sending a snapshot failed", metadata: ["to": "\(message.to)", "error": "\(error)"])
            }
            self?.submit(.snapshotSent(to: message.to, sequence: sequence, succeeded: succeeded, index: point))
        }
    }

    /// Ends the snapshot in flight to `peer`: Raft hears the outcome, and a failed one no longer holds the log.
    private func finishSnapshot(to peer: NodeID, succeeded: Bool, index: UInt64) {
        snapshotsInFlight[peer] = nil
        raft.reportSnapshot(to: peer, succeeded: succeeded, index: index)
        if !succeeded { snapshotHolds[peer] = nil }
    }

    /// The membership in force once `index` is applied (`index` at or after the log's snapshot point).
    private func membership(at index: UInt64) -> Membership {
        var membership = log.snapshot.metadata.membership
        for change in membershipChanges where change.index <= index { membership = change.membership }
        return membership
    }

    /// Notes when a membership that held this member is replaced by one that does not.
    private func noteRemoval(before: Membership, after: Membership) {
        guard !removed, before.members.contains(configuration.id), !after.members.contains(configuration.id) else {
            return
        }
        removed = true
        logger.warning("this member has been removed from the cluster")
    }

    /// Replaces the store's state with a snapshot from the leader, before Raft's log records the snapshot point.
    private func install(_ snapshot: Snapshot) {
        let index = snapshot.metadata.index
        guard index > mvcc.appliedIndex else { return }
        do {
            // Outcomes that cannot be read only cost the answers they would give (those writes time out); the
            // store's bytes are checked on their own.
            let (store, outcomes) = (try? RecentOutcomes.detach(from: snapshot.data)) ?? (RecentOutcomes.storeBytes(of: snapshot.data), [])
            try mvcc.restore(snapshot: store)
            recentOutcomes.merge(outcomes)
        } catch {
            // Raft has taken the snapshot point already; going on without its state would diverge. Stopping lets
            // the member restart and receive the snapshot again.
            fatalError("installing the snapshot at \(index) failed: \(error)")
        }
        appliedIndex = max(appliedIndex, mvcc.appliedIndex)
        appliedTerm = max(appliedTerm, snapshot.metadata.term)
        installedSnapshotTerm = max(installedSnapshotTerm, snapshot.metadata.term)
        answerWritesInSnapshot()
        membershipChanges = []
        noteRemoval(before: lastMembership, after: snapshot.metadata.membership)
        leases.reset(leases: (try? mvcc.leases()) ?? [])
        // Members added (or moved) while this one was away are known only from the store's records: the entries
        // that told the others are inside the snapshot.
        for (peer, address) in mvcc.recordedPeerAddresses() where peer != configuration.id {
            transport?.setPeer(peer, host: address.host, port: address.port)
        }
        learnClusterID()
        logger.info("installed snapshot", metadata: ["index": "\(index)", "revision": "\(mvcc.revision)"])
    }

    /// A joining member learns its cluster's ID from the member records (applied or in a snapshot), and from
    /// then on says it in its hellos: peers vouch for it (see `PeerTransport.isOfThisCluster`).
    private func learnClusterID() {
        guard let transport, transport.clusterID == 0, let clusterID = mvcc.clusterID, clusterID != 0 else { return }
        transport.setClusterID(clusterID)
    }

    /// Writes waiting here whose entries the installed snapshot holds are answered with their outcome (the
    /// snapshot carries the leader's recent ones); they will not be applied here.
    private func answerWritesInSnapshot() {
        guard !writes.isEmpty else { return }
        let outcomes = Dictionary(recentOutcomes.all.map { ($0.requestID, $0.result) }, uniquingKeysWith: { $1 })
        for (id, write) in writes {
            guard let result = outcomes[id] else { continue }
            writes[id] = nil
            write.completion(result.mapError { $0 })
        }
    }

    /// Every `snapshotCount` applied entries, cuts the log: the store is made durable up to what it applied, and
    /// the log keeps only `snapshotCatchUpEntries` below that point.
    private func compactLogIfDue() {
        let snapshotIndex = log.snapshot.metadata.index
        guard appliedIndex >= snapshotIndex + configuration.snapshotCount + configuration.snapshotCatchUpEntries else { return }
        releaseSnapshotHolds()
        // A peer catching up keeps every entry after what it has (the snapshot's point, then its progress).
        let held = snapshotHolds.map { peer, hold in max(hold.index, raft.matchIndex(of: peer) ?? 0) }.min()
        let point = min(appliedIndex - configuration.snapshotCatchUpEntries, held ?? .max)
        guard point > snapshotIndex else { return }
        let membership = membership(at: point)
        do {
            // Entries up to `point` leave the log: the store must hold their effects durably first.
            try mvcc.sync()
            try log.compact(to: point, data: [], membership: membership)
        } catch {
            fatalError("compacting the raft log failed: \(error)")
        }
        membershipChanges.removeAll { $0.index <= point }
    }

    /// Proposals the leader did not append: forwarded writes and membership changes are proposed again at the
    /// next tick (each refusal answers one forwarding, so nothing can commit twice); a membership change
    /// refused for good is answered with the refusal rather than left to time out.
    private func handleRefusals(_ entries: [Entry], refusedForGood changes: [Entry]) {
        for change in changes {
            completeConfigurationChange(matching: change.data, with: .failure(RaftError.configurationChangeRefused))
        }
        for entry in entries {
            if entry.kind == .configurationChange {
                changesToRepropose.append(entry.data)
                continue
            }
            // A refusal of an earlier forwarding of the same write (since proposed again) is not this one's.
            guard let requestID = CommandCodec.requestID(of: entry.data), let write = writes[requestID],
                  let data = write.forwardedData, entry.term == write.proposedTerm else { continue }
            writes[requestID] = nil
            refusedWrites.append((requestID, data, write))
        }
    }

    private func reproposeChanges() {
        let changes = changesToRepropose
        changesToRepropose = []
        for data in changes {
            do {
                try raft.proposeConfigurationChange(try ConfigurationChange(decoding: data))
            } catch {
                completeConfigurationChange(matching: data, with: .failure(error))
            }
        }
    }

    /// Answers the oldest request for this change (identical requests are answered one per entry or refusal).
    private func completeConfigurationChange(matching data: [UInt8], with result: Result<Void, any Error>) {
        guard let first = configurationChanges.firstIndex(where: { $0.data == data }) else { return }
        configurationChanges.remove(at: first).completion(result)
    }

    /// A write proposed in term t (by this member as leader, or forwarded to the leader of term t, which
    /// appends forwarded proposals of its own term only) that is not applied once an entry of a later term is
    /// will never be applied: terms only grow along the log, so every entry of term t that commits precedes
    /// the later term's entries, and this member has applied them all. Waiting for the later term's entry, not
    /// just for a new leader, lets the writes a leadership transfer carried over (the transferee has every entry
    /// first) complete.
    ///
    /// Such a write has then certainly not taken effect. A forwarded one (its proposal is kept) is proposed
    /// again, to the new leader, within its deadline: a leader that lost its leadership before replicating it
    /// (a transfer that timed out on a loaded machine, then went through) no longer costs the client a "leader
    /// changed". Unless a snapshot installed meanwhile may hold it unseen (term t at most the snapshot's, and its
    /// outcome possibly not among those the snapshot carried): then, as with one this member proposed as leader,
    /// the client is told "leader changed" (as etcd's would be), its outcome unknown.
    private func failOvertakenWrites() {
        guard appliedTerm > checkedTerm else { return }
        checkedTerm = appliedTerm
        for (id, write) in writes where write.proposedTerm < appliedTerm {
            writes[id] = nil
            if let data = write.forwardedData, write.proposedTerm > installedSnapshotTerm {
                refusedWrites.append((id, data, write))
            } else {
                write.fail(.leaderChanged)
            }
        }
    }

    /// Drops the holds of peers that caught up (they have the snapshot's point and are within the entries the
    /// log keeps anyway: past the snapshot they still need everything written while it was installed), or that
    /// stopped catching up (this member no longer leads, or they took longer than `snapshotHoldTicks`).
    private func releaseSnapshotHolds() {
        guard !snapshotHolds.isEmpty else { return }
        for (peer, hold) in snapshotHolds {
            let caughtUp = raft.matchIndex(of: peer).map {
                $0 >= hold.index && $0 + configuration.snapshotCatchUpEntries >= appliedIndex
            } ?? true
            if caughtUp || ticks - hold.since > configuration.snapshotHoldTicks {
                snapshotHolds[peer] = nil
            }
        }
    }

    private func schedulePurge() {
        let mvcc = mvcc
        purgeQueue.async {
            do {
                try mvcc.purgeCompacted()
            } catch {
                // Reads and writes are unaffected (the versions are unreachable already); the next compaction
                // retries the purge from scratch.
                self.logger.error("purging compacted versions failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func releaseReads() {
        readsWaitingForApply.removeAll { pending in
            guard pending.index <= appliedIndex else { return false }
            for read in pending.reads { read.completion(.success(())) }
            return true
        }
    }

    private func expireRequests() {
        let now = ContinuousClock.now
        for (id, write) in writes where write.deadline <= now {
            writes[id] = nil
            write.fail(.timeout)
        }
        awaitingLeader.removeAll { pending in
            guard pending.write.deadline <= now else { return false }
            pending.write.fail(.noLeader)
            return true
        }
        refusedWrites.removeAll { pending in
            guard pending.write.deadline <= now else { return false }
            pending.write.fail(.timeout)
            return true
        }
        configurationChanges.removeAll { request in
            guard request.deadline <= now else { return false }
            request.completion(.failure(StoreError.timeout))
            return true
        }
        newReads.removeAll { read in
            guard read.deadline <= now else { return false }
            read.fail(.noLeader)
            return true
        }
        for (read, asked) in readsAsked.removeAll(where: { $0.deadline <= now }) {
            read.fail(asked ? .timeout : .noLeader)
        }
        readsWaitingForApply = readsWaitingForApply.compactMap { pending in
            let alive = pending.reads.filter { $0.deadline > now }
            for read in pending.reads where read.deadline <= now { read.fail(.timeout) }
            return alive.isEmpty ? nil : (pending.index, alive)
        }
    }
}
