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

    /// The header as a WatchResponse field, encoded once for every response of a drain.
    static func headerField(_ header: [UInt8]) -> [UInt8] {
        var field: [UInt8] = [headerTag]
        field.reserveCapacity(1 + varintSize(UInt64(header.count)) + header.count)
        appendVarint(UInt64(header.count), to: &field)
        field.append(contentsOf: header)
        return field
    }

    /// Events (each from `encoded`) as WatchResponse fields, encoded once for every watcher that gets them.
    static func eventFields(_ events: [[UInt8]]) -> [UInt8] {
        var fields: [UInt8] = []
        fields.reserveCapacity(events.reduce(0) { $0 + 1 + varintSize(UInt64($1.count)) + $1.count })
        for event in events {
            fields.append(eventTag)
            appendVarint(UInt64(event.count), to: &fields)
            fields.append(contentsOf: event)
        }
        return fields
    }

    /// Appends a WatchResponse for watcher `watchID` to `buffer`, framed for gRPC: the responses of one drain
    /// share one buffer, handed to the connection at once, and all but the watch ID is bytes encoded before.
    static func append(headerField: [UInt8], watchID: Int64, fragment: Bool, eventFields: [UInt8],
                       to buffer: inout ByteBuffer) {
        var size = headerField.count + eventFields.count
        if watchID != 0 { size += 1 + varintSize(UInt64(bitPattern: watchID)) }
        if fragment { size += 2 }
        buffer.reserveCapacity(minimumWritableBytes: GRPCFraming.reservedPrefix + size)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(size))
        buffer.writeBytes(headerField)
        if watchID != 0 {
            buffer.writeInteger(watchIDTag)
            writeVarint(UInt64(bitPattern: watchID), to: &buffer)
        }
        if fragment {
            buffer.writeInteger(fragmentTag)
            buffer.writeInteger(UInt8(1))
        }
        buffer.writeBytes(eventFields)
    }

    private static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        forEachVarintByte(value) { bytes.append($0) }
    }

    static func varintSize(_ value: UInt64) -> Int {
        max(1, (64 - value.leadingZeroBitCount + 6) / 7)
    }

    static func writeVarint(_ value: UInt64, to buffer: inout ByteBuffer) {
        forEachVarintByte(value) { buffer.writeInteger($0) }
    }

    private static func forEachVarintByte(_ value: UInt64, _ emit: (UInt8) -> Void) {
        var rest = value
        while rest >= 0x80 {
            emit(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        emit(UInt8(rest))
    }
}
