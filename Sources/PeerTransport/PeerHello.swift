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
        let host = reader.rest()
        // Port 0 and no host: a member that does not know its own address yet.
        guard port == 0 && host.isEmpty || port > 0 && port <= 65_535 && !host.isEmpty && host.count <= 255 else {
            throw ByteReader.Failure.invalid("address of port \(port) and a host of \(host.count) bytes")
        }
        self.port = Int(port)
        self.host = String(decoding: host, as: UTF8.self)
    }

    /// Whether the hello says where its member listens.
    var hasAddress: Bool { port != 0 }

    init(id: NodeID, clusterID: UInt64, host: String, port: Int) {
        self.id = id
        self.clusterID = clusterID
        self.host = host
        self.port = port
    }
}

/// Who this member says it is, shared by its transport's connections: its address and its cluster's ID, once
/// known. Each change has a new `version`: a connection made before a joining member learned its cluster's ID
/// says so again (a hello may come at any point of a connection), rather than staying unvouched for its life.
final class PeerAdvertisement: Sendable {
    let id: NodeID
    private struct State {
        var address: (host: String, port: Int)?
        var clusterID: UInt64
        var version = 0
    }
    private let state: Mutex<State>

    init(id: NodeID, clusterID: UInt64) {
        self.id = id
        state = Mutex(State(clusterID: clusterID))
    }

    var clusterID: UInt64 { state.withLock { $0.clusterID } }

    /// Counts the changes: a connection whose last hello was of another version writes the current one.
    var version: Int { state.withLock { $0.version } }

    /// The hello to send (without an address until it is known), and its version.
    private var current: (hello: PeerHello, version: Int) {
        state.withLock { state in
            (PeerHello(id: id, clusterID: state.clusterID, host: state.address?.host ?? "", port: state.address?.port ?? 0),
             state.version)
        }
    }

    func set(host: String, port: Int) {
        state.withLock { state in
            guard state.address?.host != host || state.address?.port != port else { return }
            state.address = (host, port)
            state.version += 1
        }
    }

    /// Sets the cluster's ID when it was not known; a known ID never changes.
    func set(clusterID: UInt64) {
        state.withLock { state in
            guard state.clusterID == 0, clusterID != 0 else { return }
            state.clusterID = clusterID
            state.version += 1
        }
    }

    /// Writes the current hello on `channel` (every connection starts with one); returns the version written.
    @discardableResult
    func writeHello(on channel: Channel) -> Int {
        let (hello, version) = current
        var buffer = channel.allocator.buffer(capacity: 32 + hello.host.utf8.count)
        hello.write(to: &buffer)
        channel.write(buffer, promise: nil)
        return version
    }
}
