import Testing
import Raft
import Storage
import TestSupport
@testable import Store

@Suite struct DurableRaftLogTests {
    let directory = TemporaryDirectory()
    let membership = Membership(voters: [1, 2, 3])

    func open(_ name: String = "log") throws -> (Database, DurableRaftLog) {
        let database = try Database(path: directory.child(name), columnFamilies: ["raft"])
        return (database, try DurableRaftLog(database: database, family: try database.columnFamily("raft"), membership: membership))
    }

    func entries(_ terms: [UInt64], from first: UInt64) -> [Entry] {
        terms.enumerated().map { Entry(term: $0.element, index: first + UInt64($0.offset), data: Array("v\(first + UInt64($0.offset))".utf8)) }
    }

    @Test func aNewLogIsEmpty() throws {
        let (_, log) = try open()
        #expect(log.firstIndex == 1 && log.lastIndex == 0)
        #expect(log.term(at: 0) == 0 && log.term(at: 1) == nil)
        #expect(log.hardState == HardState())
        #expect(log.snapshot.metadata.membership == membership)
    }

    @Test func savedStateSurvivesReopen() throws {
        do {
            let (_, log) = try open()
            try log.save(hardState: HardState(term: 2, vote: 3, commit: 2), entries: entries([1, 1, 2], from: 1), snapshot: nil, sync: true)
            #expect(log.lastIndex == 3 && log.term(at: 3) == 2)
        }
        let (_, log) = try open()
        #expect(log.hardState == HardState(term: 2, vote: 3, commit: 2))
        #expect(log.lastIndex == 3)
        #expect(log.entries(1..<4, maxBytes: .max) == entries([1, 1, 2], from: 1))
        #expect(log.entries(1..<4, maxBytes: 1).count == 1, "at least one entry, then the byte budget")
        #expect(log.entries(2..<4, maxBytes: 4).map(\.index) == [2, 3])
    }

    @Test func aConflictingAppendReplacesTheSuffix() throws {
        do {
            let (_, log) = try open()
            try log.save(hardState: nil, entries: entries([1, 1, 1, 1], from: 1), snapshot: nil, sync: true)
            try log.save(hardState: nil, entries: entries([3], from: 3), snapshot: nil, sync: true)
            #expect(log.lastIndex == 3 && log.term(at: 3) == 3 && log.term(at: 4) == nil)
        }
        let (_, log) = try open()
        #expect(log.lastIndex == 3)
        #expect(log.entries(1..<4, maxBytes: .max).map(\.term) == [1, 1, 3])
    }

    @Test func compactionAndSnapshotsMoveTheFirstIndex() throws {
        do {
            let (_, log) = try open()
            try log.save(hardState: nil, entries: entries([1, 1, 2, 2, 2], from: 1), snapshot: nil, sync: true)
            try log.compact(to: 3, data: [7], membership: membership)
            #expect(log.firstIndex == 4 && log.term(at: 3) == 2 && log.term(at: 2) == nil)
            #expect(log.entries(4..<6, maxBytes: .max).map(\.index) == [4, 5])
        }
        do {
            let (_, log) = try open()
            #expect(log.firstIndex == 4 && log.lastIndex == 5 && log.snapshot.data == [7])
            let installed = Snapshot(metadata: SnapshotMetadata(index: 10, term: 4, membership: Membership(voters: [1, 2], learners: [3])),
                                     data: [1, 2, 3])
            try log.save(hardState: HardState(term: 4, vote: 0, commit: 10), entries: entries([4], from: 11), snapshot: installed, sync: true)
            #expect(log.firstIndex == 11 && log.lastIndex == 11 && log.term(at: 10) == 4)
        }
        let (_, log) = try open()
        #expect(log.snapshot.metadata == SnapshotMetadata(index: 10, term: 4, membership: Membership(voters: [1, 2], learners: [3])))
        #expect(log.snapshot.data == [1, 2, 3])
        #expect(log.firstIndex == 11 && log.lastIndex == 11)
    }

    @Test func aGapInTheLogIsReportedAsCorruption() throws {
        do {
            let (database, log) = try open()
            try log.save(hardState: nil, entries: entries([1, 1, 1], from: 1), snapshot: nil, sync: true)
            let batch = WriteBatch()
            batch.delete(RaftLogCodec.entryKey(2), in: try database.columnFamily("raft"))
            try database.write(batch, sync: true)
        }
        #expect(throws: RaftLogError.self) { try open() }
    }

    /// A three-member cluster on durable logs: members restarted from disk rejoin and lose nothing committed.
    @Test func membersRestartFromTheirDurableLogs() throws {
        var logs: [NodeID: DurableRaftLog] = [:]
        var databases: [NodeID: Database] = [:]
        var members: [NodeID: Raft] = [:]
        var applied: [NodeID: [[UInt8]]] = [:]
        func start(_ id: NodeID) throws {
            members[id] = nil
            logs[id] = nil
            databases[id] = nil
            let (database, log) = try open("member\(id)")
            databases[id] = database
            logs[id] = log
            var configuration = RaftConfiguration(id: id)
            configuration.randomSeed = id
            members[id] = Raft(configuration: configuration, storage: log)
            applied[id] = []
        }
        func pump() throws {
            var queue: [Message] = []
            repeat {
                for id in members.keys.sorted() {
                    while let raft = members[id], raft.hasReady {
                        let ready = members[id]!.ready()   // present: checked by the loop condition
                        try logs[id]!.save(hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot, sync: true)
                        queue += ready.messages + ready.messagesAfterPersist
                        applied[id, default: []] += ready.committedEntries.filter { !$0.data.isEmpty }.map(\.data)
                        members[id]!.advance(ready)
                    }
                }
                let pending = queue
                queue = []
                for message in pending { members[message.to]?.step(message) }
            } while members.values.contains { $0.hasReady }
        }
        for id: NodeID in 1...3 { try start(id) }
        try members[1]!.campaign()
        try pump()
        try members[1]!.propose([[1], [2]])
        try pump()
        try start(2)   // restart from disk
        try members[1]!.propose([[3]])
        try pump()
        for _ in 0..<3 { for id in members.keys { members[id]!.tick() }; try pump() }
        #expect(applied[1] == [[1], [2], [3]])
        #expect(applied[2] == [[1], [2], [3]], "the restarted member re-applies its committed entries from disk")
        #expect(members[2]!.term == members[1]!.term && members[2]!.leader == 1)
    }
}
