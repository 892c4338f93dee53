extension Raft {
    /// Asks for a linearizable read point. The answer arrives as a `ReadState` in a later `Ready` (this
    /// member's, even when the leader answers): reads tagged `context` may be served once that index is applied.
    /// The leader confirms it is still leader with a heartbeat round (or, with `leaseReads`, trusts its lease).
    public mutating func readIndex(context: [UInt8]) throws {
        if role == .leader {
            handleReadIndex(context: context, from: id)
        } else {
            guard leader != 0 else { throw RaftError.proposalDropped }
            var forwarded = Message(kind: .readIndex, from: id, to: leader, term: 0)
            forwarded.context = context
            send(forwarded)
        }
    }

    mutating func handleReadIndex(context: [UInt8], from requester: NodeID) {
        // Until it commits an entry of its own term, a new leader does not know the commit point (§6.4).
        guard log.term(at: log.committed) == term else {
            var deferred = Message(kind: .readIndex, from: requester, to: id, term: 0)
            deferred.context = context
            deferredReads.append(deferred)
            return
        }
        if membership.isQuorum([id]) || (configuration.leaseReads && configuration.checkQuorum) {
            answerRead(ReadIndexQueue.Request(context: context, index: log.committed, requester: requester, round: 0))
            return
        }
        let round = reads.add(context: context, index: log.committed, requester: requester)
        broadcastHeartbeat(context: round)
    }

    /// A heartbeat answer echoing read round `context`: `member` heard from this leader after every read of that
    /// round or an earlier one was queued.
    mutating func acknowledgeRead(context: [UInt8], from member: NodeID) {
        let membership = membership, leader = id
        let confirmed = reads.acknowledge(round: context, from: member) { membership.isQuorum($0.union([leader])) }
        for request in confirmed { answerRead(request) }
    }

    private mutating func answerRead(_ request: ReadIndexQueue.Request) {
        if request.requester == id {
            readStates.append(ReadState(index: request.index, context: request.context))
        } else {
            var response = message(.readIndexResponse, to: request.requester)
            response.index = request.index
            response.context = request.context
            send(response)
        }
    }

    mutating func releaseDeferredReads() {
        guard !deferredReads.isEmpty, log.term(at: log.committed) == term else { return }
        let pending = deferredReads
        deferredReads = []
        for read in pending { handleReadIndex(context: read.context, from: read.from) }
    }
}

/// Read-index requests waiting for a quorum to confirm the leader, in arrival order.
///
/// The requester's context is never used to match confirmations: contexts come from many members (and their
/// restarts) and may repeat. Each request is given a round number of this leader's own instead, sent with the
/// heartbeats; an acknowledgement of round r means the member heard from this leader after every request of
/// round r or less was queued, so it confirms all of them. Rounds are unique within a term, and heartbeat
/// answers of another term never reach this queue (the term rules drop them; the queue is reset per term).
struct ReadIndexQueue {
    struct Request {
        var context: [UInt8]
        var index: UInt64
        var requester: NodeID
        var round: UInt64
    }

    private var queue: [Request] = []
    private var lastRound: UInt64 = 0
    /// The highest round each member has acknowledged.
    private var acknowledgedRound: [NodeID: UInt64] = [:]

    /// The round of the newest waiting request, sent with each heartbeat so acknowledgements keep flowing; empty
    /// when nothing waits.
    var heartbeatContext: [UInt8] { queue.isEmpty ? [] : ReadIndexQueue.encode(round: lastRound) }

    /// Queues a request (whoever asked, whatever its context) and returns its round, to send in a heartbeat.
    mutating func add(context: [UInt8], index: UInt64, requester: NodeID) -> [UInt8] {
        lastRound += 1
        queue.append(Request(context: context, index: index, requester: requester, round: lastRound))
        return ReadIndexQueue.encode(round: lastRound)
    }

    /// Records `member`'s acknowledgement of `round`; returns the requests now confirmed by a quorum (those
    /// `isQuorum` accepts, given the members that acknowledged their round or a later one), oldest first.
    mutating func acknowledge(round context: [UInt8], from member: NodeID,
                              isQuorum: (Set<NodeID>) -> Bool) -> [Request] {
        guard let round = ReadIndexQueue.decode(round: context), round <= lastRound else { return [] }
        // Even an acknowledgement of nothing new may release requests: the membership may have changed since
        // (a voter removed lowers the quorum).
        acknowledgedRound[member] = max(round, acknowledgedRound[member, default: 0])
        var released = 0
        while released < queue.count {
            let needed = queue[released].round
            let confirming = Set(acknowledgedRound.filter { $0.value >= needed }.keys)
            guard isQuorum(confirming) else { break }
            released += 1
        }
        defer { queue.removeFirst(released) }
        return Array(queue[..<released])
    }

    static func encode(round: UInt64) -> [UInt8] { withUnsafeBytes(of: round.bigEndian, Array.init) }

    static func decode(round bytes: [UInt8]) -> UInt64? {
        guard bytes.count == 8 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
