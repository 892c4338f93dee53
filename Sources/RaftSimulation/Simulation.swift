import Raft

/// A whole Raft cluster driven on one thread by a seeded schedule of faults: message drop, delay, duplication
/// and reordering, partitions (also one-way) and heals, crashes that lose everything not yet persisted,
/// restarts from persisted state, uneven tick rates, leadership transfers and log compaction. After every step
/// it checks Raft's safety properties; at the end, that the healed cluster makes progress. The same seed always
/// replays the same schedule.
public final class Simulation {
    final class Node {
        let id: NodeID
        let disk: MemoryRaftLog
        var raft: Raft?
        /// Digest of the applied state and the index it covers.
        var digest: UInt64 = 0
        var applied: UInt64 = 0
        /// Ticks once every `tickEvery` steps (uneven clocks).
        let tickEvery: Int
        var restarts = 0
        /// Reads whose read point is known, waiting to be applied.
        var pendingReads: [(index: UInt64, knownCommittedAtInvoke: UInt64)] = []
        /// Reads asked for, as the store's shell keeps them (one context counter per member and start, asked
        /// again on a leader change or after a while); each is the highest index committed when it was invoked.
        var readsAsked: ReadIndexRequests<UInt64>
        /// The peers whose address this node knows, as the store's transport does: at each start the initial
        /// members (given on its command line) and those of the membership it recovered (the store's member
        /// records), then every peer that connects to it (its hello) and every member of a membership it
        /// applied or installed with a snapshot. Messages to others are dropped.
        var knownPeers: Set<NodeID>
        /// Peers removed from the membership and then forgotten (`PeerTransport.removePeer`): their hellos no
        /// longer teach their address, until a membership adds them again or the node restarts.
        var forgotten: Set<NodeID> = []

        /// Contexts repeat across members here on purpose (the shell's also carry the member's ID): the leader
        /// must answer every requester however their contexts collide. They never repeat within a member.
        static func readRequests(restarts: Int, retryTicks: Int) -> ReadIndexRequests<UInt64> {
            ReadIndexRequests(member: 0, incarnation: UInt64(restarts), retryTicks: retryTicks)
        }

        init(id: NodeID, disk: MemoryRaftLog, tickEvery: Int, retryTicks: Int, knownPeers: Set<NodeID>) {
            self.id = id
            self.disk = disk
            self.tickEvery = tickEvery
            self.knownPeers = knownPeers
            readsAsked = Node.readRequests(restarts: 0, retryTicks: retryTicks)
        }
    }

    struct InFlight {
        var deliverAt: Int
        var message: Message
    }

    public let seed: UInt64
    let options: SimulationOptions
    var random: SimulationRandom
    var nodes: [NodeID: Node] = [:]
    var network: [InFlight] = []
    /// (from, to) pairs that cannot communicate.
    var cut: Set<[NodeID]> = []
    var now = 0
    var faulty = true
    var stats = SimulationStats()
    var trace: [String] = []
    var nextProposal: UInt64 = 1
    /// Snapshot sends that finished or failed, reported to their senders (as a transport does) once the
    /// current Ready is done.
    var snapshotReports: [(from: NodeID, to: NodeID, succeeded: Bool)] = []
    /// Lost connections the transport reports (`Raft.reportPeerDown`): most survivors of a crash hear of it
    /// within a few steps, and live members are sometimes told of a leader that is in fact alive.
    var peerDownReports: [(deliverAt: Int, to: NodeID, about: NodeID)] = []
    /// Peers a sender's transport could not send to (unknown address, full link), reported once its Ready is done.
    var unreachableReports: [(from: NodeID, to: NodeID)] = []
    /// Messages in flight per link, for `linkCapacity`.
    var inFlightPerLink: [[NodeID]: Int] = [:]
    /// Removed members each node's transport forgets a while after applying the removal, as the shell does
    /// (unless a later membership has them again by then).
    var pendingForgets: [(at: Int, node: NodeID, peer: NodeID, restarts: Int)] = []
    /// The members given on every node's command line.
    let initialMembers: Set<NodeID>
    /// Nodes a removal was proposed for (whether or not it committed): never proposed for adding again.
    var removedEver: Set<NodeID> = []

    // What the checks know.
    /// The term and digest of every index applied anywhere (so: committed), with the payload's term.
    var committed: [UInt64: (term: UInt64, digest: UInt64)] = [:]
    var highestCommitted: UInt64 = 0
    var leaderOfTerm: [UInt64: NodeID] = [:]
    /// Every (index, term) ever persisted anywhere, with its content and the term of the entry before it.
    var entryIdentity: [EntryKey: (data: [UInt8], kind: Entry.Kind, previousTerm: UInt64)] = [:]

    public init(seed: UInt64, options: SimulationOptions = SimulationOptions()) {
        self.seed = seed
        self.options = options
        random = SimulationRandom(seed: seed)
        let ids = (1...UInt64(options.nodes)).map { $0 }
        let spares = (0..<UInt64(options.spareNodes)).map { UInt64(options.nodes) + 1 + $0 }
        let membership = Membership(voters: Set(ids))
        initialMembers = Set(ids)
        for id in ids + spares {
            // A spare starts as a member started to join does: with the members it was told of, not itself (the
            // log holds changes, not the founding membership); the leader's log or a snapshot adds it.
            let disk = MemoryRaftLog(membership: membership)
            let node = Node(id: id, disk: disk, tickEvery: random.chance(0.3) ? 2 : 1,
                            retryTicks: options.readRetryTicks, knownPeers: Set(ids + [id]))
            nodes[id] = node
            start(node)
        }
    }

    /// Runs the schedule; throws the first violation found.
    public func run() throws -> SimulationStats {
        for _ in 0..<options.steps { try step() }
        heal()
        try checkLiveness()
        if now % 50 == 0 { try checkLogMatching() }
        return stats
    }

    // MARK: the schedule

    func step() throws {
        now += 1
        if faulty { injectFaults() }
        for id in nodes.keys.sorted() {
            guard let node = nodes[id], node.raft != nil, now % node.tickEvery == 0 else { continue }
            node.raft?.tick()
            // Checked non-nil just above.
            node.readsAsked.tick(raft: &node.raft!)
        }
        deliverPeerDownReports()
        forgetRemovedPeers()
        deliverMessages()
        if random.chance(options.proposeRate) { propose() }
        if random.chance(options.readRate) { startRead() }
        for id in nodes.keys.sorted() {
            try process(nodes[id]!)
            for (from, to, succeeded) in snapshotReports { nodes[from]?.raft?.reportSnapshot(to: to, succeeded: succeeded) }
            snapshotReports = []
            for (from, to) in unreachableReports { nodes[from]?.raft?.reportUnreachable(to) }
            unreachableReports = []
        }
        try checkLeaders()
        if now % 50 == 0 { try checkLogMatching() }
    }

    private func injectFaults() {
        let live = nodes.values.filter { $0.raft != nil }.map(\.id).sorted()
        let down = nodes.values.filter { $0.raft == nil }.map(\.id).sorted()
        // Never crash more than a minority, so the cluster can still make progress when healed.
        if random.chance(options.crashRate), down.count < (options.nodes - 1) / 2 + 1, let victim = random.pick(live) {
            crash(nodes[victim]!, reason: "crash")
        }
        if let id = random.pick(down), random.chance(options.restartRate) { start(nodes[id]!) }
        if random.chance(options.partitionRate) { partition() }
        if random.chance(options.falsePeerDownRate), let id = random.pick(live), let leader = nodes[id]?.raft?.leader,
           leader != 0, leader != id {
            peerDownReports.append((now, id, leader))
            log("\(id) is told its leader \(leader) is down (it is not)")
        }
        if !cut.isEmpty && random.chance(options.healRate) {
            cut = []
            log("heal")
        }
        if random.chance(options.transferRate), let leader = currentLeader(), let target = random.pick(nodes.keys.sorted()) {
            try? nodes[leader]?.raft?.transferLeadership(to: target)
            log("transfer \(leader) -> \(target)")
        }
        if random.chance(options.membershipChangeRate), let leader = currentLeader() { changeMembership(leader) }
        if random.chance(options.compactRate), let id = random.pick(live), let node = nodes[id], let raft = node.raft,
           node.applied > node.disk.firstIndex {
            node.disk.compact(to: node.applied, data: Simulation.encode(digest: node.digest, index: node.applied),
                              membership: raft.membership)
            log("compact \(id) to \(node.applied)")
        }
    }

    /// Has the leader propose a random membership change over the fixed pool of nodes. A node once removed is
    /// never added again: the store refuses a removed ID, as etcd does (see `MVCCStore.wasRemoved`).
    private func changeMembership(_ leader: NodeID) {
        guard let membership = nodes[leader]?.raft?.membership, !membership.isJoint else { return }
        let all = nodes.keys.sorted()
        let outsiders = all.filter { !membership.members.contains($0) && !removedEver.contains($0) }
        let change: ConfigurationChange.Operation?
        switch random.int(0...3) {
        case 0 where membership.voters.count > 2: change = random.pick(membership.voters.sorted()).map { .remove($0) }
        case 1: change = random.pick(outsiders).map { .addLearner($0) }
        case 2: change = random.pick(membership.learners.sorted()).map { .addVoter($0) }
        case 3: change = random.pick(outsiders).map { .addVoter($0) }
        default: change = nil
        }
        guard let change else { return }
        let accepted = (try? nodes[leader]?.raft?.proposeConfigurationChange(ConfigurationChange([change]))) != nil
        stats.membershipChanges += accepted ? 1 : 0
        if accepted, case .remove(let id) = change { removedEver.insert(id) }
        log("leader \(leader) proposes \(change)\(accepted ? "" : " (refused)")")
    }

    private func partition() {
        let ids = nodes.keys.sorted()
        var side = Set<NodeID>()
        for id in ids where random.chance(0.5) { side.insert(id) }
        let oneWay = random.chance(0.3)
        for a in ids where side.contains(a) {
            for b in ids where !side.contains(b) {
                cut.insert([a, b])
                if !oneWay { cut.insert([b, a]) }
            }
        }
        stats.partitions += 1
        log("partition \(side.sorted())\(oneWay ? " one-way" : "")")
    }

    func heal() {
        faulty = false
        cut = []
        for node in nodes.values where node.raft == nil { start(node) }
        log("heal all")
    }

    /// A removal's delayed `removePeer`, on a node still running the process that applied it and still not
    /// counting the peer a member.
    private func forgetRemovedPeers() {
        guard !pendingForgets.isEmpty else { return }
        var due: [(at: Int, node: NodeID, peer: NodeID, restarts: Int)] = []
        pendingForgets.removeAll { forget in
            if forget.at <= now { due.append(forget); return true }
            return false
        }
        for forget in due {
            guard let node = nodes[forget.node], node.restarts == forget.restarts, let raft = node.raft,
                  !raft.membership.members.contains(forget.peer) else { continue }
            node.knownPeers.remove(forget.peer)
            node.forgotten.insert(forget.peer)
            log("\(forget.node) forgets removed \(forget.peer)")
        }
    }

    private func deliverPeerDownReports() {
        guard !peerDownReports.isEmpty else { return }
        var due: [(deliverAt: Int, to: NodeID, about: NodeID)] = []
        peerDownReports.removeAll { report in
            if report.deliverAt <= now { due.append(report); return true }
            return false
        }
        for report in due { nodes[report.to]?.raft?.reportPeerDown(report.about) }
    }

    private func deliverMessages() {
        var due: [InFlight] = []
        network.removeAll { flight in
            if flight.deliverAt <= now { due.append(flight); return true }
            return false
        }
        random.shuffle(&due)
        for flight in due {
            let message = flight.message
            inFlightPerLink[[message.from, message.to], default: 1] -= 1
            let delivered = nodes[message.to]?.raft != nil
            // The connection it came on began with the sender's hello (`PeerHello`): its address is known now,
            // unless the sender was removed and forgotten.
            if delivered, let receiver = nodes[message.to], !receiver.forgotten.contains(message.from) {
                receiver.knownPeers.insert(message.from)
            }
            nodes[message.to]?.raft?.step(message)
            if message.kind == .snapshot { snapshotReports.append((message.from, message.to, delivered)) }
        }
    }

    func enqueue(_ messages: [Message]) {
        for message in messages {
            if message.kind == .snapshot { stats.snapshotsSent += 1 }
            // The transport knows no address for the peer, or its queue for it is full: dropped, and said so.
            let link = [message.from, message.to]
            let known = nodes[message.from]?.knownPeers.contains(message.to) ?? false
            if !known || (message.kind != .snapshot && inFlightPerLink[link, default: 0] >= options.linkCapacity) {
                if message.kind == .snapshot {
                    snapshotReports.append((message.from, message.to, false))
                } else {
                    unreachableReports.append((message.from, message.to))
                }
                stats.transportDrops += 1
                log("transport drops \(message.kind) \(message.from) -> \(message.to): \(known ? "link full" : "no address")")
                continue
            }
            let reachable = !cut.contains([message.from, message.to]) && nodes[message.to]?.raft != nil
            if !reachable || (faulty && random.chance(options.dropRate)) {
                // A snapshot travels on a stream of its own, whose failure the transport reports.
                if message.kind == .snapshot { snapshotReports.append((message.from, message.to, false)) }
                continue
            }
            let delay = faulty ? random.int(0...options.maxDelay) : random.int(0...1)
            network.append(InFlight(deliverAt: now + 1 + delay, message: message))
            inFlightPerLink[link, default: 0] += 1
            if faulty && random.chance(options.duplicateRate) {
                network.append(InFlight(deliverAt: now + 1 + random.int(0...options.maxDelay), message: message))
                inFlightPerLink[link, default: 0] += 1
            }
        }
    }

    // MARK: nodes

    private func start(_ node: Node) {
        var configuration = RaftConfiguration(id: node.id)
        configuration.electionTicks = options.electionTicks
        configuration.randomSeed = seed &+ UInt64(node.restarts)
        configuration.maxMessageBytes = 64
        configuration.maxInflightMessages = 4
        node.raft = Raft(configuration: configuration, storage: node.disk)
        // A new process: a new transport, knowing what the command line and the store's records tell it.
        // Safe to force: set just above.
        node.knownPeers = initialMembers.union([node.id]).union(node.raft!.membership.members)
        node.forgotten = []
        let (digest, index) = Simulation.decode(node.disk.snapshot.data)
        node.digest = digest
        node.applied = index
        node.pendingReads = []
        node.readsAsked = Node.readRequests(restarts: node.restarts, retryTicks: options.readRetryTicks)
        log("start \(node.id) (term \(node.disk.hardState.term), applied \(index))")
    }

    private func crash(_ node: Node, reason: String) {
        node.raft = nil
        for other in nodes.keys.sorted() where other != node.id && random.chance(0.8) {
            peerDownReports.append((now + random.int(0...2), other, node.id))
        }
        node.restarts += 1
        stats.crashes += 1
        log("\(reason) \(node.id)")
    }

    /// Does what each Ready asks, as a real server would, possibly crashing between sending the leader's
    /// early messages and persisting.
    private func process(_ node: Node) throws {
        while var raft = node.raft, raft.hasReady {
            let ready = raft.ready()
            enqueue(ready.messages)
            if faulty && !ready.entries.isEmpty && random.chance(options.crashRate * 2) {
                crash(node, reason: "crash before persisting")
                return
            }
            if let snapshot = ready.snapshot { node.disk.install(snapshot) }
            node.disk.append(ready.entries)
            try checkPersisted(ready.entries, on: node)
            if let hardState = ready.hardState { node.disk.setHardState(hardState) }
            enqueue(ready.messagesAfterPersist)
            if let snapshot = ready.snapshot {
                // The store's member records come with the snapshot: members added meanwhile become reachable.
                node.knownPeers.formUnion(snapshot.metadata.membership.members)
                (node.digest, node.applied) = Simulation.decode(snapshot.data)
                try checkApplied(node, index: node.applied, term: snapshot.metadata.term)
            }
            for entry in ready.committedEntries {
                guard entry.index == node.applied + 1 else {
                    throw violation("node \(node.id) applied \(entry.index) after \(node.applied)")
                }
                if entry.kind == .configurationChange, let change = try? ConfigurationChange(decoding: entry.data) {
                    let before = raft.membership
                    let membership = raft.applyConfigurationChange(change)
                    node.knownPeers.formUnion(membership.members)
                    node.forgotten.subtract(membership.members)
                    for gone in before.members.subtracting(membership.members).sorted() where gone != node.id {
                        pendingForgets.append((now + options.forgetRemovedAfter, node.id, gone, node.restarts))
                    }
                    log("\(node.id) applies \(change.operations.isEmpty ? "leave joint" : "\(change.operations)") -> voters \(membership.voters.sorted()) outgoing \(membership.outgoing.sorted()) learners \(membership.learners.sorted())")
                }
                node.digest = Simulation.mix(node.digest, entry)
                node.applied = entry.index
                try checkApplied(node, index: entry.index, term: entry.term)
            }
            for read in ready.readStates {
                guard let invokedAt = node.readsAsked.answer(read) else { continue }
                node.pendingReads += invokedAt.map { (read.index, $0) }
            }
            try completeReads(node)
            if ready.softState?.role == .leader { stats.elections += 1 }
            raft.advance(ready)
            node.readsAsked.reaskIfDue(raft: &raft)
            node.raft = raft
        }
    }

    private func propose() {
        guard let id = random.pick(nodes.keys.sorted()), let node = nodes[id], node.raft != nil else { return }
        var payload: [UInt8] = []
        withUnsafeBytes(of: nextProposal.bigEndian) { payload.append(contentsOf: $0) }
        nextProposal += 1
        try? node.raft?.propose([payload])
    }

    private func startRead() {
        guard let id = random.pick(nodes.keys.sorted()), let node = nodes[id], node.raft != nil else { return }
        // Checked non-nil just above.
        node.readsAsked.ask([highestCommitted], raft: &node.raft!)
    }

    func currentLeader() -> NodeID? {
        nodes.values.filter { $0.raft?.role == .leader }.map(\.id).sorted().last
    }

    func log(_ event: @autoclosure () -> String) {
        guard options.trace else { return }
        trace.append("[\(now)] \(event())")
    }

    func violation(_ what: String) -> Violation {
        Violation(seed: seed, step: now, what: what, trace: trace)
    }

    // MARK: the application's state

    static func mix(_ digest: UInt64, _ entry: Entry) -> UInt64 {
        var hash = digest ^ 0xCBF2_9CE4_8422_2325
        for byte in entry.data + withUnsafeBytes(of: entry.index.bigEndian, Array.init) {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        return hash
    }

    static func encode(digest: UInt64, index: UInt64) -> [UInt8] {
        withUnsafeBytes(of: digest.bigEndian, Array.init) + withUnsafeBytes(of: index.bigEndian, Array.init)
    }

    static func decode(_ data: [UInt8]) -> (digest: UInt64, index: UInt64) {
        guard data.count == 16 else { return (0, 0) }
        let digest = data[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let index = data[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (digest, index)
    }
}
