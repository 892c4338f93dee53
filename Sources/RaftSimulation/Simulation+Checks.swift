import Raft

extension Simulation {
    /// State-machine safety: every member's state after applying index i is the same, and so is the term of the
    /// entry at i.
    func checkApplied(_ node: Node, index: UInt64, term: UInt64) throws {
        guard index > 0 else { return }
        if let known = committed[index] {
            guard known.digest == node.digest && known.term == term else {
                throw violation("node \(node.id) applied a different entry at \(index) (term \(term), expected \(known.term))")
            }
        } else {
            committed[index] = (term, node.digest)
            highestCommitted = max(highestCommitted, index)
            stats.committedEntries += 1
        }
    }

    /// Linearizable reads: a read point must cover every entry committed before the read was asked for.
    func completeReads(_ node: Node) throws {
        var waiting: [(index: UInt64, knownCommittedAtInvoke: UInt64)] = []
        for read in node.pendingReads {
            if read.index < read.knownCommittedAtInvoke {
                throw violation("node \(node.id) read at \(read.index), but \(read.knownCommittedAtInvoke) was committed before the read")
            }
            if node.applied >= read.index { stats.reads += 1 } else { waiting.append(read) }
        }
        node.pendingReads = waiting
    }

    /// Election safety (at most one leader per term) and leader completeness (a leader holds every committed
    /// entry it has not compacted).
    func checkLeaders() throws {
        for node in nodes.values {
            guard let raft = node.raft, raft.role == .leader else { continue }
            if let other = leaderOfTerm[raft.term] {
                if other != node.id { throw violation("two leaders in term \(raft.term): \(other) and \(node.id)") }
                continue
            }
            leaderOfTerm[raft.term] = node.id
            log("leader \(node.id) term \(raft.term)")
            for (index, known) in committed where index >= node.disk.firstIndex || index > node.disk.snapshot.metadata.index {
                guard let term = raft.term(at: index) else {
                    throw violation("leader \(node.id) (term \(raft.term)) lacks committed entry \(index)")
                }
                if term != known.term {
                    throw violation("leader \(node.id) has term \(term) at committed \(index), expected \(known.term)")
                }
            }
        }
    }

    /// Log matching, checked as entries reach disk: an (index, term) pair always carries the same content and
    /// follows the same term at index - 1. By induction, two logs that share an (index, term) share every entry
    /// before it.
    func checkPersisted(_ entries: [Entry], on node: Node) throws {
        for entry in entries {
            guard let previousTerm = node.disk.term(at: entry.index - 1) else { continue }
            let key = EntryKey(index: entry.index, term: entry.term)
            if let known = entryIdentity[key] {
                guard known.data == entry.data, known.kind == entry.kind, known.previousTerm == previousTerm else {
                    throw violation("node \(node.id) persisted a different entry \(entry.index) of term \(entry.term)")
                }
            } else {
                entryIdentity[key] = (entry.data, entry.kind, previousTerm)
            }
        }
    }

    /// Log matching, checked directly on the live logs (every 50 steps and at the end): where two logs hold an
    /// entry with the same index and term, they agree on every entry up to there.
    func checkLogMatching() throws {
        let live = nodes.values.compactMap { node in node.raft.map { (node.id, $0) } }.sorted { $0.0 < $1.0 }
        for (i, (a, left)) in live.enumerated() {
            for (b, right) in live[(i + 1)...] {
                let low = max(left.firstLogIndex, right.firstLogIndex)
                let high = min(left.lastIndex, right.lastIndex)
                guard low <= high, let l = left.entries(low..<(high + 1)), let r = right.entries(low..<(high + 1)) else { continue }
                guard let lastAgreeing = (0..<min(l.count, r.count)).last(where: { l[$0].term == r[$0].term }) else { continue }
                for k in 0...lastAgreeing where l[k] != r[k] {
                    throw violation("logs of \(a) and \(b) differ at \(l[k].index) below matching entry \(l[lastAgreeing].index)")
                }
            }
        }
    }

    /// After healing: a leader emerges, a new proposal reaches every member and every member's reads are
    /// answered and served, within a bounded time.
    func checkLiveness() throws {
        let deadline = now + options.livenessSteps
        var marker: [UInt8]?
        var markerIndex: UInt64?
        while now < deadline {
            try step()
            if marker == nil, let leader = currentLeader() {
                let payload = Array("liveness".utf8)
                if (try? nodes[leader]?.raft?.propose([payload])) != nil {
                    marker = payload
                }
            }
            if markerIndex == nil, marker != nil {
                markerIndex = nodes.values.compactMap { node -> UInt64? in
                    guard let raft = node.raft, raft.committedIndex > 0 else { return nil }
                    return (1...raft.committedIndex).reversed().first { raft.entries($0..<($0 + 1))?.first?.data == marker }
                }.first
            }
            // Every member of the configuration in force must catch up; removed nodes need not.
            if let markerIndex, let leader = currentLeader(), let members = nodes[leader]?.raft?.membership.members,
               members.allSatisfy({ (nodes[$0]?.applied ?? 0) >= max(markerIndex, highestCommitted) }),
               members.allSatisfy({ nodes[$0].map { $0.readsAsked.isEmpty && $0.pendingReads.isEmpty } ?? true }) {
                return
            }
            // A proposal lost to a leader change is proposed again.
            if markerIndex == nil, now % (options.electionTicks * 4) == 0 { marker = nil }
        }
        let states = nodes.values.sorted { $0.id < $1.id }.map { node in
            "\(node.id): \(node.raft.map { "\($0.role) term \($0.term) commit \($0.committedIndex)" } ?? "down") applied \(node.applied)"
                + " reads unanswered \(node.readsAsked.waiters.count) unserved \(node.pendingReads.count)"
        }
        throw violation("no progress \(options.livenessSteps) steps after healing: \(states.joined(separator: "; "))")
    }
}

/// The simulation's deterministic randomness: Raft's splitmix64 with helpers for picking faults.
struct SimulationRandom {
    private var generator: SplitMix64

    init(seed: UInt64) {
        generator = SplitMix64(seed: seed &* 0xA24B_AED4_963E_E407 &+ 0x9FB2_1C65_1E98_DF25)
    }

    mutating func next() -> UInt64 { generator.next() }

    mutating func chance(_ probability: Double) -> Bool {
        Double(next() >> 11) / Double(1 << 53) < probability
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    mutating func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[int(0...(items.count - 1))]
    }

    mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, int(0...i))
        }
    }
}

struct EntryKey: Hashable {
    var index: UInt64
    var term: UInt64
}
