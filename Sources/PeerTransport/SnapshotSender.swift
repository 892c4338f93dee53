import BinaryCoding
import NIOCore
import NIOPosix
import Raft

/// Snapshot messages do not go through a peer's bounded message queue: their data (the whole store) is streamed
/// over a connection of its own in chunks, each written once the previous one is on its way, so the queue keeps
/// carrying heartbeats and appends meanwhile and a large store never overflows it. The receiving side
/// (`FrameDecoder`) gathers the chunks and hands Raft one complete message.
enum SnapshotFraming {
    /// The frame kind byte of a chunk (message kinds use 0 ... 13).
    static let chunkKind: UInt8 = 0xFE
    /// The most a receiver gathers for one snapshot.
    static let maxSnapshotBytes = 16 << 30
}

extension PeerTransport {
    /// Streams `message` (a Raft snapshot message with its data) to its destination; returns once the last byte
    /// is written to the socket, or throws if the peer cannot be reached or the connection fails.
    public func sendSnapshot(_ message: Message) async throws {
        guard let address = peerAddress(message.to) else { throw PeerTransportError.unknownPeer(message.to) }
        let data = message.snapshot?.data ?? []
        var metadataOnly = message
        metadataOnly.snapshot?.data = []
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(limits.connectTimeout)
            .connect(host: address.host, port: address.port)
            .get()
        do {
            var offset = 0
            while offset < data.count {
                let end = min(offset + limits.snapshotChunkBytes, data.count)
                var buffer = channel.allocator.buffer(capacity: 5 + end - offset)
                buffer.writeInteger(UInt32(1 + end - offset))
                buffer.writeInteger(SnapshotFraming.chunkKind)
                buffer.writeBytes(data[offset..<end])
                // Waiting for each write keeps at most one chunk in flight beyond the socket buffer.
                try await channel.writeAndFlush(buffer).get()
                offset = end
            }
            var last = channel.allocator.buffer(capacity: 256)
            last.writeFrame(metadataOnly)
            try await channel.writeAndFlush(last).get()
        } catch {
            try? await channel.close()
            throw error
        }
        try? await channel.close()
    }
}

public enum PeerTransportError: Error, Equatable {
    case unknownPeer(NodeID)
}
