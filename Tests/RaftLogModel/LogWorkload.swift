import Raft
import TestSupport

/// One change a member's Raft loop makes to its durable log.
public enum LogStep {
    case save(hardState: HardState?, entries: [Entry], snapshot: Snapshot?, sync: Bool)
    case compact(to: UInt64)
}

/// A seeded sequence of log changes as Raft makes them — appends of a few entries, a new leader's entries
/// replacing a suffix, commit-only hard states written without a sync, compactions, snapshots installed — each
/// applied to an in-memory model (`MemoryRaftLog`) as it is generated, so a run replays exactly from its seed.
public struct LogWorkload {
    public let model: MemoryRaftLog
    private var random: SeededRandom
    private var term: UInt64 = 1
    private var commit: UInt64 = 0

    public static let membership = Membership(voters: [1, 2, 3])

    public init(seed: UInt64) {
        random = SeededRandom(seed: seed)
        model = MemoryRaftLog(membership: Self.membership)
    }

    /// The data of entry `index` written in `term`: every entry's bytes say where it belongs.
    public static func data(index: UInt64, term: UInt64, size: Int) -> [UInt8] {
        let tag = Array("\(index)@\(term):".utf8)
        return tag + [UInt8](repeating: UInt8(truncatingIfNeeded: index &* 31 &+ term), count: size)
    }

    /// The next step, already applied to `model`.
    public mutating func next() -> LogStep {
        let last = model.lastIndex
        let roll = random.int(0...99)
        if roll < 25 && commit < last {
            // The commit point moves: written, not synced.
            commit = min(last, commit + UInt64(random.int(1...8)))
            return apply(.save(hardState: hardState, entries: [], snapshot: nil, sync: false))
        }
        if roll < 28 && commit > model.firstIndex + 20 {
            return apply(.compact(to: commit - UInt64(random.int(0...10))))
        }
        if roll < 30 {
            // A snapshot from the leader, past everything held.
            term += 1
            commit = last + UInt64(random.int(1...30))
            let point = Snapshot(metadata: SnapshotMetadata(index: commit, term: term, membership: Self.membership), data: [])
            return apply(.save(hardState: hardState, entries: [], snapshot: point, sync: true))
        }
        var first = last + 1
        if roll < 37 && last > commit {
            // A new leader's entries replace the uncommitted suffix.
            term += 1
            first = UInt64(random.int(Int(commit + 1)...Int(last)))
        }
        let count = random.int(1...(roll < 80 ? 3 : 40))
        let size = random.chance(0.05) ? random.int(2_000...20_000) : random.int(0...300)
        let entries = (0..<UInt64(count)).map { offset in
            Entry(term: term, index: first + offset, data: Self.data(index: first + offset, term: term, size: size))
        }
        return apply(.save(hardState: random.chance(0.5) ? hardState : nil, entries: entries, snapshot: nil, sync: true))
    }

    private var hardState: HardState { HardState(term: term, vote: 1, commit: commit) }

    private func apply(_ step: LogStep) -> LogStep {
        switch step {
        case .save(let state, let entries, let snapshot, _):
            if let snapshot { model.install(snapshot) }
            model.append(entries)
            if let state { model.setHardState(state) }
        case .compact(let index):
            model.compact(to: index, data: [], membership: Self.membership)
        }
        return step
    }
}
