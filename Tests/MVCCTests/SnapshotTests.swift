import Testing
import BinaryCoding
import MVCC
import MVCCModel

@Suite struct SnapshotTests {
    /// Builds a store and a model in step from a seeded workload.
    static func populated(seed: UInt64, commands: Int, in directory: TemporaryDirectory, name: String)
        throws -> (MVCCStore, ReferenceModel, Workload) {
        var workload = Workload(seed: seed)
        var model = ReferenceModel(options: workload.options)
        let store = try MVCCStore(directory: directory.child(name), options: workload.options)
        for index in UInt64(1)...UInt64(commands) {
            let command = workload.command(for: model)
            _ = model.apply(command, index: index)
            _ = try store.apply(command, index: index)
        }
        return (store, model, workload)
    }

    @Test(arguments: [11, 12, 13] as [UInt64])
    func aRestoredStoreEqualsTheOriginal(seed: UInt64) throws {
        let directory = TemporaryDirectory()
        let (source, model, workload) = try Self.populated(seed: seed, commands: 600, in: directory, name: "source")
        // The target had other data first: all of it must go.
        let (target, _, _) = try Self.populated(seed: seed + 100, commands: 200, in: directory, name: "target")
        let bytes = try source.snapshotBytes()
        let summary = try StoreSnapshot.summary(bytes)
        #expect(summary.appliedIndex == 600 && summary.revision == source.revision)
        try target.restore(snapshot: bytes)
        #expect(!target.isIncomplete)
        #expect(target.appliedIndex == 600 && target.revision == source.revision
                && target.compactedRevision == source.compactedRevision)
        var checks = SeededRandom(seed: seed)
        let problems = try StateCheck.differences(store: target, model: model, random: &checks, history: true)
        #expect(problems.isEmpty, "\(problems)")
        // It goes on from there like the original.
        var next = workload
        var nextModel = model
        let command = next.command(for: nextModel)
        #expect(try target.apply(command, index: 601) == nextModel.apply(command, index: 601))
    }

    @Test func damagedSnapshotsAreRefused() throws {
        let directory = TemporaryDirectory()
        let (source, _, _) = try Self.populated(seed: 5, commands: 100, in: directory, name: "source")
        let bytes = try source.snapshotBytes()
        var flipped = bytes
        flipped[flipped.count / 2] ^= 0x40
        #expect(throws: StoreSnapshot.Failure.checksumMismatch) { try StoreSnapshot.verify(flipped) }
        #expect(throws: StoreSnapshot.Failure.checksumMismatch) { try StoreSnapshot.verify(Array(bytes.dropLast(10)) + [UInt8](repeating: 0, count: 10)) }
        #expect(throws: StoreSnapshot.Failure.notASnapshot) { try StoreSnapshot.verify(Array("hello, this is not a snapshot at all, no".utf8)) }
        #expect(throws: StoreSnapshot.Failure.truncated) { try StoreSnapshot.verify(Array(bytes.prefix(8))) }
        // A refused snapshot leaves the target untouched.
        let (target, _, _) = try Self.populated(seed: 6, commands: 50, in: directory, name: "target")
        let before = target.revision
        #expect(throws: StoreSnapshot.Failure.checksumMismatch) { try target.restore(snapshot: flipped) }
        #expect(target.revision == before && target.appliedIndex == 50 && !target.isIncomplete)
    }

    @Test func watchersCatchUpAcrossARestore() throws {
        let directory = TemporaryDirectory()
        let source = try MVCCStore(directory: directory.child("source"))
        let target = try MVCCStore(directory: directory.child("target"))
        for index in UInt64(1)...5 {
            let command = MVCCCommand.put(PutRequest(key: Array("k\(index)".utf8), value: [UInt8(index)]))
            _ = try source.apply(command, index: index)
            if index <= 2 { _ = try target.apply(command, index: index) }
        }
        let watcher = target.watch(WatchRequest(range: .prefix(Array("k".utf8))))
        try target.restore(snapshot: try source.snapshotBytes())
        var seen: [Int64] = []
        for _ in 0..<10 {
            guard case .events(let events) = try watcher.poll() else { break }
            seen += events.map(\.revision)
        }
        #expect(seen == [4, 5, 6], "the watcher, at revision 4, must see revisions 4...6 from the restored history")
    }

    @Test func sha256MatchesKnownDigests() {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
        #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func sha256FedInUnevenPiecesMatchesOneShot() {
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for pieceLength in [1, 3, 63, 64, 65, 1000] {
            var hasher = SHA256()
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + pieceLength, bytes.count)
                hasher.update(bytes[offset..<end])
                offset = end
            }
            #expect(hasher.finalize() == SHA256.hash(bytes), "pieces of \(pieceLength)")
        }
        // A sequence without contiguous storage takes the same path.
        #expect(SHA256.hash(bytes.lazy.map { $0 }) == SHA256.hash(bytes))
    }
}

extension SnapshotTests {
    @Test func snapshotsAre512ByteBlocksPlusTheirDigest() throws {
        let directory = TemporaryDirectory()
        for commands in [1, 37, 300] {
            let (store, _, _) = try Self.populated(seed: UInt64(commands), commands: commands, in: directory, name: "s\(commands)")
            var chunks = 0
            var total = 0
            try store.writeSnapshot(chunkBytes: 1000) { chunk in
                chunks += 1
                total += chunk.count
            }
            #expect(total % 512 == 32, "etcdctl refuses a snapshot whose size is not 512·n + 32")
            #expect(commands < 300 || chunks > 1, "large snapshots come in several chunks")
        }
    }
}

extension SnapshotTests {
    /// A Snapshot call reads the copy a chunk at a time as its client takes it: the reader holds no more than a
    /// chunk, knows the size up front, keeps reading the state it started from while writes go on, and what it
    /// reads is the same snapshot as one made at once.
    @Test func aSnapshotReadAChunkAtATimeIsTheSnapshotOfItsStart() throws {
        let directory = TemporaryDirectory()
        let (store, _, _) = try Self.populated(seed: 5, commands: 400, in: directory, name: "paced")
        let whole = try store.snapshotBytes()
        let reader = try store.snapshotReader(measuringSize: true)
        #expect(reader.totalBytes == whole.count)
        var read: [UInt8] = []
        var largest = 0
        var first = true
        while let chunk = try reader.next(maxBytes: 2000) {
            largest = max(largest, chunk.count)
            read += chunk
            if first {
                // Writes after the reader opened are not in what it reads.
                first = false
                _ = try store.apply(.put(PutRequest(key: Array("after".utf8), value: [1])), index: 401)
            }
        }
        #expect(read == whole)
        #expect(largest <= 2000 + 2048, "a chunk is about the size asked for (one record and the padding more at most)")
    }
}
