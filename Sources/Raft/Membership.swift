import BinaryCoding

/// Who votes and who only follows. During a joint-consensus change (§6 of the Raft thesis) two voter sets
/// are in force: every decision (election, commit, leadership check, read) needs a majority of each.
public struct Membership: Sendable, Hashable {
    /// The voters of the (incoming) configuration.
    public var voters: Set<NodeID>
    /// The voters of the outgoing configuration while a joint change is in progress; empty otherwise.
    public var outgoing: Set<NodeID>
    /// Members that receive the log but neither vote nor count towards a quorum.
    public var learners: Set<NodeID>

    public init(voters: Set<NodeID>, outgoing: Set<NodeID> = [], learners: Set<NodeID> = []) {
        self.voters = voters
        self.outgoing = outgoing
        self.learners = learners
    }

    public var isJoint: Bool { !outgoing.isEmpty }

    /// The three member sets, each as a count then the IDs in order (in snapshots on disk and on the wire).
    public func encode(into writer: inout ByteWriter) {
        for set in [voters, outgoing, learners] {
            writer.u64(UInt64(set.count))
            for id in set.sorted() { writer.u64(id) }
        }
    }

    public init(from reader: inout ByteReader) throws {
        var sets: [Set<NodeID>] = []
        for _ in 0..<3 {
            let count = try reader.count(minimumBytesEach: 8)
            sets.append(Set(try (0..<count).map { _ in try reader.u64() }))
        }
        self.init(voters: sets[0], outgoing: sets[1], learners: sets[2])
    }

    /// Everyone the leader replicates to.
    public var members: Set<NodeID> { voters.union(outgoing).union(learners) }

    /// Whether `id` votes in any configuration in force.
    public func isVoter(_ id: NodeID) -> Bool { voters.contains(id) || outgoing.contains(id) }

    /// Whether `granted` holds a majority of every configuration in force.
    func isQuorum(_ granted: Set<NodeID>) -> Bool {
        Membership.majority(of: voters, in: granted) && (outgoing.isEmpty || Membership.majority(of: outgoing, in: granted))
    }

    /// Whether `refused` makes a majority impossible in some configuration in force.
    func isDefeated(_ refused: Set<NodeID>) -> Bool {
        Membership.majority(of: voters, in: refused) || Membership.majority(of: outgoing, in: refused)
    }

    /// The highest index a quorum of every configuration has, given each member's `match`.
    func committedIndex(_ match: (NodeID) -> UInt64) -> UInt64 {
        func quorumIndex(_ set: Set<NodeID>) -> UInt64 {
            guard !set.isEmpty else { return .max }
            let sorted = set.map(match).sorted(by: >)
            return sorted[set.count / 2]
        }
        return min(quorumIndex(voters), quorumIndex(outgoing))
    }

    private static func majority(of set: Set<NodeID>, in granted: Set<NodeID>) -> Bool {
        !set.isEmpty && set.intersection(granted).count > set.count / 2
    }

    /// The configuration after `change`: entering a joint configuration, or leaving one.
    func applying(_ change: ConfigurationChange) throws -> Membership {
        if change.operations.isEmpty {
            guard isJoint else { throw ConfigurationChange.Refusal.notJoint }
            return Membership(voters: voters, learners: learners)
        }
        guard !isJoint else { throw ConfigurationChange.Refusal.alreadyJoint }
        var next = Membership(voters: voters, outgoing: voters, learners: learners)
        for operation in change.operations {
            switch operation {
            case .addVoter(let id):
                next.learners.remove(id)
                next.voters.insert(id)
            case .addLearner(let id):
                guard !next.voters.contains(id) else { throw ConfigurationChange.Refusal.voterToLearner }
                next.learners.insert(id)
            case .remove(let id):
                next.voters.remove(id)
                next.learners.remove(id)
            }
        }
        guard !next.voters.isEmpty else { throw ConfigurationChange.Refusal.noVoterLeft }
        if next.voters == voters {
            // Only learners changed: no joint phase is needed.
            next.outgoing = []
        }
        return next
    }
}

/// A membership change, carried in a log entry of kind `.configurationChange`. A change with operations enters
/// a joint configuration (old and new voters must both agree); the leader then proposes the empty change that
/// leaves it. Changes that touch only learners take effect at once.
public struct ConfigurationChange: Sendable, Hashable {
    public enum Operation: Sendable, Hashable {
        /// Adds a voter, or promotes a learner.
        case addVoter(NodeID)
        /// Adds a learner (a voter must be removed first to become one).
        case addLearner(NodeID)
        case remove(NodeID)
    }

    public enum Refusal: Error, Sendable, Hashable {
        case alreadyJoint, notJoint, voterToLearner, noVoterLeft, malformed
    }

    public var operations: [Operation]

    public init(_ operations: [Operation]) {
        self.operations = operations
    }

    /// Leaves the joint configuration in force.
    public static let leaveJoint = ConfigurationChange([])

    /// One byte of kind and eight of node ID per operation.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter(reservingCapacity: 9 * operations.count)
        for operation in operations {
            switch operation {
            case .addVoter(let node): writer.byte(1); writer.u64(node)
            case .addLearner(let node): writer.byte(2); writer.u64(node)
            case .remove(let node): writer.byte(3); writer.u64(node)
            }
        }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var operations: [Operation] = []
        do {
            try bytes.withUnsafeBytes { raw in
                var reader = ByteReader(raw)
                while !reader.isAtEnd {
                    let kind = try reader.byte()
                    let id = try reader.u64()
                    switch kind {
                    case 1: operations.append(.addVoter(id))
                    case 2: operations.append(.addLearner(id))
                    case 3: operations.append(.remove(id))
                    default: throw Refusal.malformed
                    }
                }
            }
        } catch is ByteReader.Failure {
            throw Refusal.malformed
        }
        self.operations = operations
    }
}
