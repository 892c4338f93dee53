import Testing
import TestSupport
@testable import Storage

private func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

@Suite struct DatabaseTests {
    let directory = TemporaryDirectory()

    func open(_ name: String = "db", families: [String] = ["a", "b"]) throws -> Database {
        try Database(path: directory.child(name), columnFamilies: families)
    }

    @Test func putGetDeleteAcrossColumnFamilies() throws {
        let db = try open()
        let a = try db.columnFamily("a"), b = try db.columnFamily("b")
        let batch = WriteBatch()
        batch.put(bytes("k"), bytes("in a"), in: a)
        batch.put(bytes("k"), bytes("in b"), in: b)
        batch.put(bytes("empty"), [], in: a)
        #expect(batch.count == 3)
        try db.write(batch, sync: true)
        #expect(try db.get(bytes("k"), in: a) == bytes("in a"))
        #expect(try db.get(bytes("k"), in: b) == bytes("in b"))
        #expect(try db.get(bytes("empty"), in: a) == [])
        #expect(try db.get(bytes("missing"), in: a) == nil)

        let delete = WriteBatch()
        delete.delete(bytes("k"), in: a)
        try db.write(delete, sync: false)
        #expect(try db.get(bytes("k"), in: a) == nil)
        #expect(try db.get(bytes("k"), in: b) == bytes("in b"))
    }

    @Test func unknownColumnFamilyIsAnError() throws {
        let db = try open()
        #expect(throws: StorageError.unknownColumnFamily("nope")) { try db.columnFamily("nope") }
    }

    @Test func keysAndValuesAreBinarySafe() throws {
        let db = try open()
        let a = try db.columnFamily("a")
        let key: [UInt8] = [0, 1, 0, 0xFF, 0]
        let value: [UInt8] = [0, 0, 0]
        let batch = WriteBatch()
        batch.put(key, value, in: a)
        try db.write(batch, sync: false)
        #expect(try db.get(key, in: a) == value)
        #expect(try db.get([0, 1, 0, 0xFF], in: a) == nil)
    }

    @Test func deleteRangeRemovesHalfOpenInterval() throws {
        let db = try open()
        let a = try db.columnFamily("a")
        let batch = WriteBatch()
        for key in ["a", "b", "c", "d"] { batch.put(bytes(key), bytes(key), in: a) }
        batch.deleteRange(from: bytes("b"), to: bytes("d"), in: a)
        try db.write(batch, sync: false)
        #expect(try db.get(bytes("a"), in: a) != nil)
        #expect(try db.get(bytes("b"), in: a) == nil)
        #expect(try db.get(bytes("c"), in: a) == nil)
        #expect(try db.get(bytes("d"), in: a) != nil)
    }

    @Test func cursorsRespectBoundsBothWays() throws {
        let db = try open()
        let a = try db.columnFamily("a")
        let batch = WriteBatch()
        for key in ["a", "b", "c", "d", "e"] { batch.put(bytes(key), bytes(key.uppercased()), in: a) }
        try db.write(batch, sync: false)

        let cursor = db.cursor(in: a, lowerBound: bytes("b"), upperBound: bytes("e"))
        var forward: [String] = []
        cursor.seekToFirst()
        while cursor.isValid {
            forward.append(String(decoding: cursor.key, as: UTF8.self) + String(decoding: cursor.value, as: UTF8.self))
            cursor.next()
        }
        try cursor.check()
        #expect(forward == ["bB", "cC", "dD"])

        var backward: [String] = []
        cursor.seekToLast()
        while cursor.isValid {
            backward.append(String(decoding: cursor.key, as: UTF8.self))
            cursor.prev()
        }
        #expect(backward == ["d", "c", "b"])

        cursor.seek(bytes("bb"))
        #expect(cursor.key == bytes("c"))
        cursor.seekForPrev(bytes("bb"))
        #expect(cursor.key == bytes("b"))
        cursor.seek(bytes("z"))
        #expect(!cursor.isValid)
    }

    @Test func snapshotsAndCursorsSeeOnePointInTime() throws {
        let db = try open()
        let a = try db.columnFamily("a")
        let first = WriteBatch()
        first.put(bytes("k"), bytes("1"), in: a)
        try db.write(first, sync: false)
        let snapshot = db.snapshot()
        let cursor = db.cursor(in: a)

        let second = WriteBatch()
        second.put(bytes("k"), bytes("2"), in: a)
        second.put(bytes("new"), bytes("x"), in: a)
        try db.write(second, sync: false)

        #expect(try db.get(bytes("k"), in: a, snapshot: snapshot) == bytes("1"))
        #expect(try db.get(bytes("new"), in: a, snapshot: snapshot) == nil)
        #expect(try db.get(bytes("k"), in: a) == bytes("2"))
        var seen: [[UInt8]] = []
        cursor.seekToFirst()
        while cursor.isValid { seen.append(cursor.key); cursor.next() }
        #expect(seen == [bytes("k")])
        let snapshotCursor = db.cursor(in: a, snapshot: snapshot)
        snapshotCursor.seek(bytes("k"))
        #expect(snapshotCursor.value == bytes("1"))
    }

    @Test func dataSurvivesReopen() throws {
        do {
            let db = try open()
            let batch = WriteBatch()
            batch.put(bytes("durable"), bytes("yes"), in: try db.columnFamily("b"))
            try db.write(batch, sync: true)
            let unsynced = WriteBatch()
            unsynced.put(bytes("later"), bytes("synced by syncWAL"), in: try db.columnFamily("b"))
            try db.write(unsynced, sync: false)
            try db.syncWAL()
        }
        let reopened = try open()
        #expect(try reopened.get(bytes("durable"), in: try reopened.columnFamily("b")) == bytes("yes"))
        #expect(try reopened.get(bytes("later"), in: try reopened.columnFamily("b")) == bytes("synced by syncWAL"))
    }

    @Test func secondOpenOfSameDirectoryReportsRocksDBsLockError() throws {
        let db = try open()
        do {
            _ = try open()
            Issue.record("a second open of a locked database succeeded")
        } catch StorageError.rocksdb(let message) {
            #expect(message.contains("lock"), "message: \(message)")
        }
        _ = db
    }

    @Test func openFailsClearlyWhenCreationIsNotAllowed() throws {
        var options = DatabaseOptions()
        options.createIfMissing = false
        #expect(throws: StorageError.self) {
            try Database(path: directory.child("absent"), columnFamilies: [], options: options)
        }
    }

    @Test func checkpointIsAnOpenableCopy() throws {
        let db = try open()
        let a = try db.columnFamily("a")
        let batch = WriteBatch()
        batch.put(bytes("k"), bytes("before"), in: a)
        try db.write(batch, sync: false)
        try db.checkpoint(to: directory.child("copy"))
        let after = WriteBatch()
        after.put(bytes("k"), bytes("after"), in: a)
        try db.write(after, sync: false)

        let copy = try Database(path: directory.child("copy"), columnFamilies: ["a", "b"])
        #expect(try copy.get(bytes("k"), in: try copy.columnFamily("a")) == bytes("before"))
        #expect(throws: StorageError.self) { try db.checkpoint(to: directory.child("copy")) }
    }

    @Test func propertiesAndCompactionWork() throws {
        let db = try open()
        let a = try db.columnFamily("a")
        let batch = WriteBatch()
        for i in 0..<100 { batch.put(bytes("key\(i)"), bytes("value"), in: a) }
        try db.write(batch, sync: false)
        db.compactRange(in: a)
        let estimate = db.property("rocksdb.estimate-num-keys", in: a)
        #expect(estimate.flatMap { Int($0) } == 100)
        #expect(db.property("rocksdb.no-such-property") == nil)
    }

    @Test func destroyRemovesTheDatabase() throws {
        do {
            let db = try open("doomed")
            let batch = WriteBatch()
            batch.put(bytes("k"), bytes("v"), in: try db.columnFamily("a"))
            try db.write(batch, sync: true)
        }
        try Database.destroy(path: directory.child("doomed"))
        let fresh = try open("doomed")
        #expect(try fresh.get(bytes("k"), in: try fresh.columnFamily("a")) == nil)
    }
}
