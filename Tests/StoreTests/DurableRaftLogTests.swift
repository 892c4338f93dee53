import Foundation
import Testing
@testable import BinaryCoding
import Raft
import Storage
import TestSupport
@testable import Store

@Suite struct DurableRaftLogTests {
    let directory = TemporaryDirectory()
    let membership = Membership(voters: [1, 2, 3])

    func open(_ name: String = "log", segmentSize: Int = 1 << 20) throws -> DurableRaftLog {
        try DurableRaftLog(directory: directory.child(name), membership: membership, segmentSize: segmentSize)
    }

    func segmentFiles(_ name: String = "log") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.child(name)).filter { $0.hasSuffix(".seg") }.sorted()
    }

    /// Writes `bytes` over the file at `offset`, as a crash or a failing disk might have left it.
    func overwrite(_ path: String, at offset: UInt64, with bytes: [UInt8]) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: offset)
        handle.write(Data(bytes))
        try handle.close()
    }

    /// Where the records of the log's last segment end: its first zero record header.
    func endOfRecords(_ path: String) throws -> UInt64 {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var offset = 0
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            if length == 0 { break }
            offset += 8 + length
        }
        return UInt64(offset)
    }

    func entries(_ terms: [UInt64], from first: UInt64) -> [Entry] {
        terms.enumerated().map { Entry(term: $0.element, index: first + UInt64($0.offset), data: Array("v\(first + UInt64($0.offset))".utf8)) }
    }

    @Test func recordChecksumsAreCRC32C() {
        #expect(Array("123456789".utf8).withUnsafeBytes { CRC32C.checksum($0) } == 0xE306_9283)
        // The processor's instruction and the eight-bytes-at-a-time tables agree with the byte-at-a-time definition
        // at every length and alignment.
        let bytes = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for start in 0..<9 {
            for end in start...bytes.count {
                var reference: UInt32 = ~0
                for byte in bytes[start..<end] {
                    reference ^= UInt32(byte)
                    for _ in 0..<8 { reference = reference & 1 == 1 ? (reference >> 1) ^ 0x82F6_3B78 : reference >> 1 }
                }
                #expect(bytes[start..<end].withUnsafeBytes { CRC32C.checksum($0) } == ~reference)
                var tables = CRC32C()
                bytes[start..<end].withUnsafeBytes { tables.updateByTables($0) }
                #expect(tables.value == ~reference, "the table-driven path")
            }
        }
    }

    @Test func aNewLogIsEmpty() throws {
        let log = try open()
        #expect(log.firstIndex == 1 && log.lastIndex == 0)
        #expect(log.term(at: 0) == 0 && log.term(at: 1) == nil)
        #expect(log.hardState == HardState())
        #expect(log.snapshot.metadata.membership == membership)
    }

    @Test func savedStateSurvivesReopen() throws {
        do {
            let log = try open()
            try log.save(hardState: HardState(term: 2, vote: 3, commit: 2), entries: entries([1, 1, 2], from: 1), snapshot: nil, sync: true)
            #expect(log.lastIndex == 3 && log.term(at: 3) == 2)
        }
        let log = try open()
        #expect(log.hardState == HardState(term: 2, vote: 3, commit: 2))
        #expect(log.lastIndex == 3)
        #expect(log.entries(1..<4, maxBytes: .max) == entries([1, 1, 2], from: 1))
        #expect(log.entries(1..<4, maxBytes: 1).count == 1, "at least one entry, then the byte budget")
        #expect(log.entries(2..<4, maxBytes: 4).map(\.index) == [2, 3])
    }

    @Test func aConflictingAppendReplacesTheSuffix() throws {
        do {
            let log = try open()
            try log.save(hardState: nil, entries: entries([1, 1, 1, 1], from: 1), snapshot: nil, sync: true)
            try log.save(hardState: nil, entries: entries([3], from: 3), snapshot: nil, sync: true)
            #expect(log.lastIndex == 3 && log.term(at: 3) == 3 && log.term(at: 4) == nil)
            #expect(log.entries(1..<4, maxBytes: .max).map(\.term) == [1, 1, 3], "the in-memory tail is replaced too")
        }
        let log = try open()
        #expect(log.lastIndex == 3)
        #expect(log.entries(1..<4, maxBytes: .max).map(\.term) == [1, 1, 3])
    }

    @Test func compactionAndSnapshotsMoveTheFirstIndex() throws {
        do {
            let log = try open()
            try log.save(hardState: nil, entries: entries([1, 1, 2, 2, 2], from: 1), snapshot: nil, sync: true)
            try log.compact(to: 3, data: [7], membership: membership)
            #expect(log.firstIndex == 4 && log.term(at: 3) == 2 && log.term(at: 2) == nil)
            #expect(log.entries(4..<6, maxBytes: .max).map(\.index) == [4, 5])
        }
        do {
            let log = try open()
            #expect(log.firstIndex == 4 && log.lastIndex == 5 && log.snapshot.data == [7])
            let installed = Snapshot(metadata: SnapshotMetadata(index: 10, term: 4, membership: Membership(voters: [1, 2], learners: [3])),
                                     data: [1, 2, 3])
            try log.save(hardState: HardState(term: 4, vote: 0, commit: 10), entries: entries([4], from: 11), snapshot: installed, sync: true)
            #expect(log.firstIndex == 11 && log.lastIndex == 11 && log.term(at: 10) == 4)
        }
        let log = try open()
        #expect(log.snapshot.metadata == SnapshotMetadata(index: 10, term: 4, membership: Membership(voters: [1, 2], learners: [3])))
        #expect(log.snapshot.data == [1, 2, 3])
        #expect(log.firstIndex == 11 && log.lastIndex == 11)
    }

    @Test func aRecordCutShortAtTheEndIsDroppedAndWrittenOver() throws {
        do {
            let log = try open()
            try log.save(hardState: HardState(term: 1, vote: 1, commit: 0), entries: entries([1, 1], from: 1), snapshot: nil, sync: true)
        }
        let path = directory.child("log") + "/" + (try segmentFiles()).last!
        let end = try endOfRecords(path)
        // A record's header and the start of its payload reached the disk, the rest did not.
        try overwrite(path, at: end, with: [0, 0, 0, 200, 1, 2, 3, 4, 2, 4, 0, 0, 0, 0, 0, 0, 0, 3])
        do {
            let log = try open()
            #expect(log.lastIndex == 2 && log.hardState.vote == 1)
            try log.save(hardState: nil, entries: entries([2], from: 3), snapshot: nil, sync: true)
        }
        let log = try open()
        #expect(log.entries(1..<4, maxBytes: .max) == entries([1, 1, 2], from: 1))
    }

    @Test func whatFollowsTheLastRecordIsZeroedWhenOpened() throws {
        do {
            let log = try open()
            try log.save(hardState: HardState(term: 1, vote: 1, commit: 0), entries: entries([1, 1], from: 1), snapshot: nil, sync: true)
        }
        let path = directory.child("log") + "/" + (try segmentFiles()).last!
        let end = try endOfRecords(path)
        // The later pages of a record reached the disk, its first did not: zeros, then the rest of it.
        try overwrite(path, at: end + 4096, with: [UInt8](repeating: 0xA5, count: 300))
        do {
            let log = try open()
            #expect(log.lastIndex == 2)
        }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.count == 1 << 20, "the segment keeps its allocated size")
        #expect(bytes[Int(end)...].allSatisfy { $0 == 0 })
    }

    /// 40 entries of 300 bytes in segments of 4 KiB.
    func writeSeveralSegments() throws {
        let log = try open(segmentSize: 4096)
        for index in UInt64(1)...40 {
            try log.save(hardState: nil, entries: [Entry(term: 1, index: index, data: [UInt8](repeating: 7, count: 300))],
                         snapshot: nil, sync: false)
        }
    }

    @Test func damageBeforeTheLastSegmentIsReportedAsCorruption() throws {
        try writeSeveralSegments()
        let files = try segmentFiles()
        #expect(files.count > 2)
        try overwrite(directory.child("log") + "/" + files[1], at: 100, with: [0xFF, 0xFF])
        #expect(throws: RaftLogError.self) { try open(segmentSize: 4096) }
    }

    @Test func aMissingSegmentIsReportedAsCorruption() throws {
        try writeSeveralSegments()
        try FileManager.default.removeItem(atPath: directory.child("log") + "/" + (try segmentFiles())[1])
        #expect(throws: RaftLogError.self) { try open(segmentSize: 4096) }
    }

    @Test func compactedSegmentsAreRemovedAndTheRestRecovers() throws {
        let payload = [UInt8](repeating: 9, count: 500)
        func entry(_ index: UInt64) -> Entry { Entry(term: index / 50 + 1, index: index, data: payload + Array("\(index)".utf8)) }
        do {
            let log = try open(segmentSize: 8192)
            for index in UInt64(1)...200 {
                try log.save(hardState: HardState(term: index / 50 + 1, vote: 2, commit: index - 1), entries: [entry(index)],
                             snapshot: nil, sync: index % 10 == 0)
            }
            let before = try segmentFiles().count
            try log.compact(to: 150, data: [], membership: membership)
            #expect(try segmentFiles().count < before, "segments holding only entries up to 150 are gone")
            #expect(log.firstIndex == 151 && log.lastIndex == 200)
        }
        let log = try open(segmentSize: 8192)
        #expect(log.snapshot.metadata.index == 150 && log.term(at: 150) == 4)
        #expect(log.hardState == HardState(term: 5, vote: 2, commit: 199))
        #expect(log.entries(151..<201, maxBytes: .max) == (UInt64(151)...200).map(entry))
        // Reads across segments honour the byte budget (at least one entry).
        #expect(log.entries(151..<201, maxBytes: 1200).count == 2)
    }

    @Test func readsSpanTheFilesAndTheTailHeldInMemory() throws {
        let count = UInt64(RecentEntries.countLimit * 2)
        let log = try open()
        for index in UInt64(1)...count {
            try log.save(hardState: nil, entries: entries([1], from: index), snapshot: nil, sync: false)
        }
        let all = log.entries(1..<(count + 1), maxBytes: .max)
        #expect(all.count == Int(count))
        #expect(all == (UInt64(1)...count).flatMap { entries([1], from: $0) })
    }

    @Test func aDiscardedLogKeepsOnlyTheTermAndVote() throws {
        do {
            let log = try open()
            try log.save(hardState: HardState(term: 3, vote: 2, commit: 2), entries: entries([1, 2, 3], from: 1), snapshot: nil, sync: true)
            try log.compact(to: 1, data: [], membership: membership)
            try log.discardLog(membership: membership)
            #expect(log.firstIndex == 1 && log.lastIndex == 0)
        }
        let log = try open()
        #expect(log.firstIndex == 1 && log.lastIndex == 0 && log.snapshot.metadata.index == 0)
        #expect(log.hardState == HardState(term: 3, vote: 2, commit: 0))
        #expect(try segmentFiles().count == 1)
    }

    @Test func aLogKeptInRocksDBIsMovedIntoSegments() throws {
        let old = directory.child("old")
        do {
            let database = try Database(path: old, columnFamilies: ["raft"])
            let family = try database.columnFamily("raft")
            let batch = WriteBatch()
            var state = ByteWriter()
            RaftLogCodec.write(HardState(term: 4, vote: 3, commit: 6), into: &state)
            batch.put(RaftLogCodec.hardStateKey, state.bytes, in: family)
            let point = Snapshot(metadata: SnapshotMetadata(index: 5, term: 3, membership: membership), data: [])
            batch.put(RaftLogCodec.snapshotKey, RaftLogCodec.encode(point), in: family)
            for entry in entries([3, 4, 4], from: 6) {
                var encoded = ByteWriter()
                encoded.flag(false)
                encoded.u64(entry.term)
                encoded.raw(entry.data)
                batch.put(RaftLogCodec.entryKey(entry.index), encoded.bytes, in: family)
            }
            try database.write(batch, sync: true)
        }
        try DurableRaftLog.importRocksDBLog(from: old, into: directory.child("log"), membership: Membership(voters: [9]))
        #expect(!FileManager.default.fileExists(atPath: old))
        let log = try open()
        #expect(log.hardState == HardState(term: 4, vote: 3, commit: 6))
        #expect(log.snapshot.metadata == SnapshotMetadata(index: 5, term: 3, membership: membership))
        #expect(log.entries(6..<9, maxBytes: .max) == entries([3, 4, 4], from: 6))
    }

    /// A three-member cluster on durable logs: members restarted from disk rejoin and lose nothing committed.
    @Test func membersRestartFromTheirDurableLogs() throws {
        var logs: [NodeID: DurableRaftLog] = [:]
        var members: [NodeID: Raft] = [:]
        var applied: [NodeID: [[UInt8]]] = [:]
        func start(_ id: NodeID) throws {
            members[id] = nil
            logs[id] = nil
            let log = try open("member\(id)")
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
