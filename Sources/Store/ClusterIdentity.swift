import Foundation
import Raft

/// A cluster's and its members' IDs. Derived, as etcd derives them, from what every member is started with
/// (peer URLs and the cluster token), so each member computes the same IDs without talking to the others;
/// then kept in the data directory, so a restarted member keeps them whatever flags it gets.
public struct ClusterIdentity: Sendable, Hashable, Codable {
    public var clusterID: UInt64
    public var memberID: NodeID

    public init(clusterID: UInt64, memberID: NodeID) {
        self.clusterID = clusterID
        self.memberID = memberID
    }

    /// A member's ID from its peer URLs and the cluster token.
    public static func memberID(peerURLs: [String], token: String) -> NodeID {
        let id = fnv1a(peerURLs.sorted().joined(separator: ",") + "/" + token)
        return id == 0 ? 1 : id
    }

    /// The cluster's ID from its initial members' IDs and the token.
    public static func clusterID(memberIDs: [NodeID], token: String) -> UInt64 {
        fnv1a(memberIDs.sorted().map { String($0, radix: 16) }.joined(separator: ",") + "/" + token)
    }

    /// 64-bit FNV-1a, then a final avalanche so that similar inputs give unrelated IDs.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        hash = (hash ^ (hash >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        hash = (hash ^ (hash >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return hash ^ (hash >> 33)
    }

    /// Where the identity is kept in a member's data directory.
    static func path(in dataDirectory: String) -> String { dataDirectory + "/identity.json" }

    /// The identity stored in `dataDirectory`, or nil for a new member.
    public static func load(from dataDirectory: String) throws -> ClusterIdentity? {
        let path = path(in: dataDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try JSONDecoder().decode(ClusterIdentity.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Stores the identity durably (written to a temporary file, synced, then renamed into place).
    public func save(in dataDirectory: String) throws {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let path = Self.path(in: dataDirectory)
        let temporary = path + ".tmp"
        let data = try JSONEncoder().encode(self)
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
