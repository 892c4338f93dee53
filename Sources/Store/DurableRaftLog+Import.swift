#if canImport(Glibc)
import Glibc
#endif
import Raft
import Storage

extension DurableRaftLog {
    /// Moves a member's log from its earlier home, a RocksDB database at `path` (members created before the log
    /// had segment files of its own), into segment files at `directory`, then removes the database.
    ///
    /// The segments are written beside `directory` and renamed into place once synced, so a crash at any point
    /// leaves either the old log or the whole new one; the database goes only after that.
    /// `membership` is the configuration of a log that never recorded a snapshot point, as for `init`.
    static func importRocksDBLog(from path: String, into directory: String, membership: Membership) throws {
        guard access(path + "/CURRENT", F_OK) == 0 else { return }
        if access(directory, F_OK) != 0 {
            let staging = directory + ".import"
            if access(staging, F_OK) == 0 {
                for name in try LogSegment.fileNames(in: staging) { unlink(staging + "/" + name) }
                rmdir(staging)
            }
            try copyLog(from: path, into: staging, membership: membership)
            guard rename(staging, directory) == 0 else { throw RaftLogError.io("renaming", staging, errno) }
            try LogSegment.syncParent(of: directory)
        }
        try Database.destroy(path: path)
    }

    private static func copyLog(from path: String, into staging: String, membership: Membership) throws {
        let database = try Database(path: path, columnFamilies: ["raft"])
        let family = try database.columnFamily("raft")
        let hardState = try database.get(RaftLogCodec.hardStateKey, in: family).map(RaftLogCodec.decodeHardState) ?? HardState()
        let snapshot = try database.get(RaftLogCodec.snapshotKey, in: family).map(RaftLogCodec.decodeSnapshot)
            ?? Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, membership: membership), data: [])
        let log = try DurableRaftLog(directory: staging, membership: snapshot.metadata.membership)
        try log.save(hardState: hardState, entries: [], snapshot: snapshot.metadata.index > 0 ? snapshot : nil, sync: true)
        let first = snapshot.metadata.index + 1
        let cursor = database.cursor(in: family, lowerBound: RaftLogCodec.entryKey(first),
                                     upperBound: [RaftLogCodec.entryPrefix + 1])
        cursor.seekToFirst()
        var batch: [Entry] = []
        var expected = first
        while cursor.isValid {
            let index = try cursor.withKey(RaftLogCodec.index(ofEntryKey:))
            guard index == expected else { throw RaftLogError.corrupt("log: entry \(index) where \(expected) was expected") }
            batch.append(try cursor.withValue { try RaftLogCodec.decodeEntry(index: index, $0) })
            if batch.count == 1024 {
                try log.save(hardState: nil, entries: batch, snapshot: nil, sync: false)
                batch = []
            }
            expected += 1
            cursor.next()
        }
        try cursor.check()
        try log.save(hardState: nil, entries: batch, snapshot: nil, sync: true)
    }
}
