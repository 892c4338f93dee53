import EtcdProto
import GRPC
import MVCC
import NIOCore
import SwiftProtobuf

/// Builds a stream's WatchResponse messages from pre-encoded parts. An event published to many watchers on one
/// stream is encoded once and its bytes reused for each of them; the response around it (header, watch ID,
/// fragment flag) is a few bytes written by hand in etcd's field numbers. Used on the stream's event loop.
struct WatchResponseEncoder {
    private struct EventKey: Hashable {
        var revision: Int64
        var key: [UInt8]
        var isPut: Bool
        var withPrevKV: Bool

        /// The revision, the key's length and its last 8 bytes as one word: hashing every byte of the key one
        /// by one cost more than encoding saved once a thousand watchers shared each event.
        func hash(into hasher: inout Hasher) {
            hasher.combine(revision)
            hasher.combine(key.suffix(8).reduce(UInt64(key.count)) { $0 << 8 | UInt64($1) })
        }
    }

    /// Recently encoded events; cleared when it grows past `cacheLimit` (events are reused within a publish).
    private var events: [EventKey: [UInt8]] = [:]
    private let cacheLimit = 4096

    /// The wire form of one event (mvccpb.Event).
    mutating func encoded(_ event: WatchEvent) throws -> [UInt8] {
        let key = EventKey(revision: event.kv.modRevision, key: event.kv.key, isPut: event.kind == .put,
                           withPrevKV: event.prevKV != nil)
        if let bytes = events[key] { return bytes }
        let bytes: [UInt8] = try event.wire.serializedBytes()
        if events.count >= cacheLimit { events.removeAll(keepingCapacity: true) }
        events[key] = bytes
        return bytes
    }

    // WatchResponse field tags: header = 1 (bytes), watch_id = 2 (varint), fragment = 7 (varint), events = 11 (bytes).
    private static let headerTag: UInt8 = 1 << 3 | 2
    private static let watchIDTag: UInt8 = 2 << 3
    private static let fragmentTag: UInt8 = 7 << 3
    private static let eventTag: UInt8 = 11 << 3 | 2

    /// Appends a WatchResponse carrying `events` (each from `encoded`) for watcher `watchID` to `buffer`, framed
    /// for gRPC: the responses of one drain share one buffer, handed to the connection at once.
    func append(header: [UInt8], watchID: Int64, events: [[UInt8]], fragment: Bool, to buffer: inout ByteBuffer) {
        var size = 1 + Self.varintSize(UInt64(header.count)) + header.count
        if watchID != 0 { size += 1 + Self.varintSize(UInt64(bitPattern: watchID)) }
        if fragment { size += 2 }
        for event in events { size += 1 + Self.varintSize(UInt64(event.count)) + event.count }
        buffer.reserveCapacity(minimumWritableBytes: GRPCFraming.reservedPrefix + size)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(size))
        buffer.writeInteger(Self.headerTag)
        Self.writeVarint(UInt64(header.count), to: &buffer)
        buffer.writeBytes(header)
        if watchID != 0 {
            buffer.writeInteger(Self.watchIDTag)
            Self.writeVarint(UInt64(bitPattern: watchID), to: &buffer)
        }
        if fragment {
            buffer.writeInteger(Self.fragmentTag)
            buffer.writeInteger(UInt8(1))
        }
        for event in events {
            buffer.writeInteger(Self.eventTag)
            Self.writeVarint(UInt64(event.count), to: &buffer)
            buffer.writeBytes(event)
        }
    }

    static func varintSize(_ value: UInt64) -> Int {
        max(1, (64 - value.leadingZeroBitCount + 6) / 7)
    }

    static func writeVarint(_ value: UInt64, to buffer: inout ByteBuffer) {
        var rest = value
        while rest >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        buffer.writeInteger(UInt8(rest))
    }
}
