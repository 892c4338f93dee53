import BinaryCoding
import NIOCore
import Raft
import Synchronization

/// The first frame on every peer connection: who opened it, of which cluster, and where it listens. A member
/// that knows no address for a peer (one added while it was away, whose record is in entries it has not
/// applied yet) could otherwise hear from it without ever being able to answer: its answers would be dropped,
/// and a leader that never hears back never sends the entries or snapshot that would tell it. The cluster ID
/// lets it listen to such a peer (it is of this cluster) and refuse a member of another cluster that reached
/// its port. etcd's peers say the same in headers of their stream requests.
struct PeerHello: Sendable, Equatable {
    /// The frame kind byte (message kinds use 0 ... 14, snapshot chunks 0xFE). A proxy that learns a frame's
    /// sender from the 8 bytes after the kind byte reads this frame's sender the same way.
    static let kind: UInt8 = 0xFD

    var id: NodeID
    /// 0 while the sender does not know it yet (a member joining, before it has the member records).
    var clusterID: UInt64
    var host: String
    var port: Int

    /// Appends the hello as one frame.
    func write(to buffer: inout ByteBuffer) {
        var writer = ByteWriter()
        writer.byte(Self.kind)
        writer.u64(id)
        writer.u64(clusterID)
        writer.u64(UInt64(port))
        writer.raw(Array(host.utf8))
        buffer.writeInteger(UInt32(writer.bytes.count))
        buffer.writeBytes(writer.bytes)
    }

    /// Decodes a hello frame's bytes (kind byte included).
    init(decoding bytes: UnsafeRawBufferPointer) throws {
        var reader = ByteReader(bytes)
        guard try reader.byte() == Self.kind else { throw ByteReader.Failure.invalid("not a hello") }
        id = try reader.u64()
        clusterID = try reader.u64()
        let port = try reader.u64()
        guard port > 0, port <= 65_535 else { throw ByteReader.Failure.invalid("port \(port)") }
        self.port = Int(port)
        let host = reader.rest()
        guard !host.isEmpty, host.count <= 255 else { throw ByteReader.Failure.invalid("host of \(host.count) bytes") }
        self.host = String(decoding: host, as: UTF8.self)
    }

    init(id: NodeID, clusterID: UInt64, host: String, port: Int) {
        self.id = id
        self.clusterID = clusterID
        self.host = host
        self.port = port
    }
}

/// Who this member says it is, shared by its transport's connections: its address once known, and its
/// cluster's ID as of each new connection.
final class PeerAdvertisement: Sendable {
    let id: NodeID
    let clusterID: @Sendable () -> UInt64
    private let address = Mutex<(host: String, port: Int)?>(nil)

    init(id: NodeID, clusterID: @escaping @Sendable () -> UInt64) {
        self.id = id
        self.clusterID = clusterID
    }

    var current: PeerHello? {
        address.withLock { $0 }.map { PeerHello(id: id, clusterID: clusterID(), host: $0.host, port: $0.port) }
    }

    func set(host: String, port: Int) { address.withLock { $0 = (host, port) } }

    /// Writes the hello (if the address is known yet) as the first frame of a connection just made.
    func writeHello(on channel: Channel) {
        guard let hello = current else { return }
        var buffer = channel.allocator.buffer(capacity: 32 + hello.host.utf8.count)
        hello.write(to: &buffer)
        channel.write(buffer, promise: nil)
    }
}
