import Raft

/// What the Cluster API reports about each member: its name and URLs. Learned from the member's configuration
/// (`--initial-cluster` and its own client URLs).
public struct MemberDirectory: Sendable {
    public struct Entry: Sendable, Hashable {
        public var id: NodeID
        public var name: String
        public var peerURLs: [String]
        public var clientURLs: [String]

        public init(id: NodeID, name: String, peerURLs: [String], clientURLs: [String]) {
            self.id = id
            self.name = name
            self.peerURLs = peerURLs
            self.clientURLs = clientURLs
        }
    }

    public var entries: [NodeID: Entry]

    public init(_ entries: [Entry]) {
        self.entries = Dictionary(entries.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
