import ArgumentParser
import Foundation
import MVCC
import Store

/// `podium snapshot`: inspect and restore snapshot files (as written by `etcdctl snapshot save`).
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Inspect or restore a store snapshot file.",
        subcommands: [SnapshotStatus.self, SnapshotRestore.self])
}

/// Reads and checks a snapshot file; nothing is trusted before its SHA-256 matches.
func readSnapshot(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CommandFailure("cannot read snapshot file \(path)")
    }
    let bytes = [UInt8](data)
    do {
        try StoreSnapshot.verify(bytes)
    } catch {
        throw CommandFailure("refusing \(path): \(error)")
    }
    return bytes
}

struct SnapshotStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Check a snapshot file's integrity and print what it holds.")

    @Argument(help: "The snapshot file.")
    var file: String

    func run() throws {
        let summary = try StoreSnapshot.summary(try readSnapshot(file))
        print("""
            integrity: ok (SHA-256)
            revision: \(summary.revision)
            compacted-revision: \(summary.compactedRevision)
            applied-index: \(summary.appliedIndex)
            records: \(summary.records)
            """)
    }
}

/// Makes the data directory of one member of a new cluster from a snapshot; run it once per member, with the
/// same file and the same --initial-cluster, then start the members with `podium store`.
struct SnapshotRestore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Create a new cluster member's data directory from a snapshot file.")

    @Argument(help: "The snapshot file (from `etcdctl snapshot save`).")
    var file: String

    @Option(help: "This member's name in --initial-cluster.")
    var name = "default"

    @Option(name: .customLong("data-dir"), help: "The new data directory (must not exist; default: NAME.podium).")
    var dataDirectory: String?

    @Option(name: .customLong("initial-cluster"), help: "The new cluster's members: NAME=PEER_URL,...")
    var initialCluster: String?

    @Option(name: .customLong("initial-advertise-peer-urls"), help: "This member's peer URLs.")
    var initialAdvertisePeerURLs = "http://localhost:2380"

    @Option(name: .customLong("initial-cluster-token"), help: "The new cluster's token.")
    var initialClusterToken = "etcd-cluster"

    @Option(name: .customLong("bump-revision"), help: "How far the revision jumps ahead (0: keep it), so watchers of the old cluster never see it go back.")
    var bumpRevision: Int64 = 1_000_000

    func run() throws {
        let dataDirectory = self.dataDirectory ?? "\(name).podium"
        if FileManager.default.fileExists(atPath: dataDirectory),
           !((try? FileManager.default.contentsOfDirectory(atPath: dataDirectory))?.isEmpty ?? true) {
            throw CommandFailure("data directory \(dataDirectory) exists and is not empty")
        }
        let bytes = try readSnapshot(file)
        let advertised = try HostPort.list(initialAdvertisePeerURLs)
        let cluster = try InitialCluster(initialCluster ?? "\(name)=\(advertised.joined(separator: ","))")
        try cluster.check(name, advertises: advertised)
        let memberIDs = cluster.members.map { ClusterIdentity.memberID(peerURLs: $0.peerURLs, token: initialClusterToken) }
        let identity = ClusterIdentity(clusterID: ClusterIdentity.clusterID(memberIDs: memberIDs, token: initialClusterToken),
                                       memberID: ClusterIdentity.memberID(peerURLs: advertised, token: initialClusterToken))
        do {
            let store = try MVCCStore(directory: dataDirectory + "/mvcc")
            try store.restore(snapshot: bytes)
            try store.prepareForNewCluster(revisionBump: bumpRevision)
            try identity.save(in: dataDirectory)
            print("""
                restored \(file) into \(dataDirectory)
                member \(name) (\(String(identity.memberID, radix: 16))) of new cluster \(String(identity.clusterID, radix: 16))
                revision: \(store.revision) (compacted below it)
                """)
        } catch {
            throw CommandFailure("restoring into \(dataDirectory) failed: \(error)")
        }
    }
}
