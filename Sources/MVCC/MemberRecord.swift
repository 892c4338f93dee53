import BinaryCoding

/// What the cluster knows about one member besides its Raft role: its name and URLs. Replicated through the
/// log like any write (but outside the key space), so every member lists the same members, a restarted member
/// knows where members added since its start live, and snapshots carry it all.
public struct MemberRecord: Sendable, Hashable {
    public var id: UInt64
    /// Empty until the member has started and published itself.
    public var name: String
    public var peerURLs: [String]
    public var clientURLs: [String]

    public init(id: UInt64, name: String = "", peerURLs: [String] = [], clientURLs: [String] = []) {
        self.id = id
        self.name = name
        self.peerURLs = peerURLs
        self.clientURLs = clientURLs
    }

    /// A change to a member's record: nil fields are left as they are.
    public struct Update: Sendable, Hashable {
        public var id: UInt64
        public var name: String?
        public var peerURLs: [String]?
        public var clientURLs: [String]?
        /// The cluster's ID, recorded by the first member to publish itself, so members that join later learn it.
        public var clusterID: UInt64

        public init(id: UInt64, name: String? = nil, peerURLs: [String]? = nil, clientURLs: [String]? = nil,
                    clusterID: UInt64 = 0) {
            self.id = id
            self.name = name
            self.peerURLs = peerURLs
            self.clientURLs = clientURLs
            self.clusterID = clusterID
        }
    }

    func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.data(Array(name.utf8))
        writer.strings(peerURLs)
        writer.strings(clientURLs)
        return writer.bytes
    }

    init(id: UInt64, decoding bytes: [UInt8]) throws {
        self.id = id
        (name, peerURLs, clientURLs) = try bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            let name = String(decoding: try reader.data(), as: UTF8.self)
            return (name, try reader.strings(), try reader.strings())
        }
    }
}

extension ByteWriter {
    public mutating func strings(_ values: [String]) {
        u64(UInt64(values.count))
        for value in values { data(Array(value.utf8)) }
    }

    public mutating func optionalStrings(_ values: [String]?) {
        flag(values != nil)
        if let values { strings(values) }
    }
}

extension ByteReader {
    public mutating func strings() throws -> [String] {
        let count = try self.count(minimumBytesEach: 8)
        return try (0..<count).map { _ in String(decoding: try data(), as: UTF8.self) }
    }

    public mutating func optionalStrings() throws -> [String]? {
        try flag() ? try strings() : nil
    }
}
