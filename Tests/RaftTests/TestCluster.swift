import Raft

/// A hand-driven cluster for scenario tests: messages wait in a queue until delivered, so each test decides
/// exactly what reaches whom. Ready handling is that of a real server (persist, send, apply, advance).
struct TestCluster {
    var nodes: [NodeID: Raft] = [:]
    var disks: [NodeID: MemoryRaftLog] = [:]
    var applied: [NodeID: [Entry]] = [:]
    var readStates: [NodeID: [ReadState]] = [:]
    var refused: [NodeID: [Entry]] = [:]
    var refusedForGood: [NodeID: [Entry]] = [:]
    var queue: [Message] = []
    /// Nodes cut off from everyone: their messages in both directions are dropped.
    var isolated: Set<NodeID> = []
    var membership: Membership

    init(size: Int, configure: (inout RaftConfiguration) -> Void = { _ in }) {
        membership = Membership(voters: Set((1...UInt64(size)).map { $0 }))
        for id in membership.voters.sorted() {
            add(id, log: [], term: 0, configure: configure)
        }
    }

    /// Starts (or restarts) `id` from a disk holding `log` (terms of entries 1, 2, ...) at `term`.
    mutating func add(_ id: NodeID, log terms: [UInt64], term: UInt64, configure: (inout RaftConfiguration) -> Void = { _ in }) {
        let disk = MemoryRaftLog(membership: membership)
        disk.append(terms.enumerated().map { Entry(term: $0.element, index: UInt64($0.offset + 1), data: [UInt8($0.offset)]) })
        disk.setHardState(HardState(term: term, vote: 0, commit: 0))
        disks[id] = disk
        restart(id, configure: configure)
    }

    mutating func restart(_ id: NodeID, configure: (inout RaftConfiguration) -> Void = { _ in }) {
        var configuration = RaftConfiguration(id: id)
        configuration.randomSeed = 42
        configure(&configuration)
        // Disks are created by `add` for every node before it is started.
        nodes[id] = Raft(configuration: configuration, storage: disks[id]!)
        applied[id] = []
    }

    subscript(id: NodeID) -> Raft {
        get { nodes[id]! }   // Only ever called with IDs of nodes the test created.
        set { nodes[id] = newValue }
    }

    /// Handles every node's Ready: persist, queue messages, apply.
    mutating func processReady() {
        for id in nodes.keys.sorted() {
            // Every ID in `nodes` has a disk: both are set together.
            var raft = nodes[id]!
            let disk = disks[id]!
            while raft.hasReady {
                let ready = raft.ready()
                if let snapshot = ready.snapshot { disk.install(snapshot) }
                disk.append(ready.entries)
                if let hardState = ready.hardState { disk.setHardState(hardState) }
                for message in ready.messages + ready.messagesAfterPersist where !isolated.contains(message.from) && !isolated.contains(message.to) {
                    queue.append(message)
                }
                for entry in ready.committedEntries where entry.kind == .configurationChange {
                    if let change = try? ConfigurationChange(decoding: entry.data) { raft.applyConfigurationChange(change) }
                }
                applied[id, default: []] += ready.committedEntries
                readStates[id, default: []] += ready.readStates
                refused[id, default: []] += ready.refusedProposals
                refusedForGood[id, default: []] += ready.refusedChanges
                raft.advance(ready)
            }
            nodes[id] = raft
        }
    }

    /// Delivers queued messages (and those they cause) until none is left, dropping those `drop` picks.
    mutating func deliverAll(drop: (Message) -> Bool = { _ in false }, limit: Int = 10_000) {
        processReady()
        var delivered = 0
        while !queue.isEmpty && delivered < limit {
            let message = queue.removeFirst()
            delivered += 1
            if drop(message) || nodes[message.to] == nil { continue }
            nodes[message.to]!.step(message)   // Checked just above.
            processReady()
        }
    }

    mutating func tick(_ id: NodeID, times: Int = 1) {
        for _ in 0..<times { nodes[id]?.tick() }
        processReady()
    }

    mutating func tickAll(times: Int) {
        for _ in 0..<times {
            for id in nodes.keys.sorted() { nodes[id]?.tick() }
            deliverAll()
        }
    }

    /// Makes `id` campaign and delivers everything.
    mutating func elect(_ id: NodeID) throws {
        try nodes[id]?.campaign()
        deliverAll()
    }

    /// The terms of `id`'s log.
    func terms(_ id: NodeID) -> [UInt64] {
        let raft = nodes[id]!   // Only ever called with IDs of nodes the test created.
        return (raft.firstLogIndex...max(raft.lastIndex, raft.firstLogIndex)).compactMap { index in
            index <= raft.lastIndex ? raft.term(at: index) : nil
        }
    }

    var leaders: [NodeID] { nodes.filter { $0.value.role == .leader }.map(\.key).sorted() }
}
