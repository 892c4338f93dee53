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
            answerRead(ReadIndexQueue.Request(context: context, index: log.committed, requester: requester))
            return
        }
        reads.add(context: context, index: log.committed, requester: requester, leader: id)
        broadcastHeartbeat(context: context)
    }

    mutating func acknowledgeRead(context: [UInt8], from member: NodeID) {
        let membership = membership
        let confirmed = reads.acknowledge(context: context, from: member) { membership.isQuorum($0) }
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
struct ReadIndexQueue {
    struct Request {
        var context: [UInt8]
        var index: UInt64
        var requester: NodeID
        var acknowledged: Set<NodeID> = []
    }

    private var queue: [Request] = []

    /// The newest request's context, sent with each heartbeat so acknowledgements keep flowing.
    var lastContext: [UInt8] { queue.last?.context ?? [] }

    mutating func add(context: [UInt8], index: UInt64, requester: NodeID, leader: NodeID) {
        guard !queue.contains(where: { $0.context == context }) else { return }
        var request = Request(context: context, index: index, requester: requester)
        request.acknowledged.insert(leader)
        queue.append(request)
    }

    /// Records `member`'s heartbeat acknowledgement of `context`; returns the requests now confirmed: the
    /// acknowledged one and every earlier one (a later confirmation covers earlier reads).
    mutating func acknowledge(context: [UInt8], from member: NodeID, isQuorum: (Set<NodeID>) -> Bool) -> [Request] {
        guard let position = queue.firstIndex(where: { $0.context == context }) else { return [] }
        queue[position].acknowledged.insert(member)
        guard isQuorum(queue[position].acknowledged) else { return [] }
        let released = Array(queue[...position])
        queue.removeFirst(position + 1)
        return released
    }
}
