import NIOCore

/// Reads the few fields of a WatchResponse the watch workloads need straight from the wire bytes, without
/// building messages: the load generator must stay cheaper than the server it measures (a fan-out run delivers
/// hundreds of thousands of events a second to one client thread).
struct WatchResponseScanner {
    struct Event {
        var modRevision: Int64 = 0
        /// The first 8 bytes of the value, big-endian (the workloads' send time stamp), if it has 8.
        var stamp: UInt64?
    }

    var watchID: Int64 = 0
    var created = false
    var canceled = false
    var cancelReason = ""
    var events: [Event] = []

    enum Failure: Error { case malformed }

    init(_ message: ByteBuffer) throws {
        try message.withUnsafeReadableBytes { bytes in
            var reader = WireReader(remaining: bytes[...])
            while let (field, wireType) = try reader.tag() {
                switch (field, wireType) {
                case (2, 0): watchID = Int64(bitPattern: try reader.varint())
                case (3, 0): created = try reader.varint() != 0
                case (4, 0): canceled = try reader.varint() != 0
                case (6, 2): cancelReason = String(decoding: try reader.lengthDelimited(), as: UTF8.self)
                case (11, 2): events.append(try Self.event(try reader.lengthDelimited()))
                default: try reader.skip(wireType)
                }
            }
        }
    }

    /// mvccpb.Event: kv = 2; inside KeyValue, mod_revision = 3 and value = 5.
    static func event(_ bytes: Slice<UnsafeRawBufferPointer>) throws -> Event {
        var event = Event()
        var reader = WireReader(remaining: bytes)
        while let (field, wireType) = try reader.tag() {
            guard field == 2, wireType == 2 else {
                try reader.skip(wireType)
                continue
            }
            var kv = WireReader(remaining: try reader.lengthDelimited())
            while let (kvField, kvType) = try kv.tag() {
                switch (kvField, kvType) {
                case (3, 0): event.modRevision = Int64(bitPattern: try kv.varint())
                case (5, 2):
                    let value = try kv.lengthDelimited()
                    if value.count >= 8 { event.stamp = value.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }
                default: try kv.skip(kvType)
                }
            }
        }
        return event
    }
}

/// Protocol-buffer wire format, just enough to scan: tags, varints, length-delimited fields, skipping.
struct WireReader {
    var remaining: Slice<UnsafeRawBufferPointer>

    mutating func tag() throws -> (field: Int, wireType: Int)? {
        guard !remaining.isEmpty else { return nil }
        let key = try varint()
        return (Int(key >> 3), Int(key & 7))
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = remaining.popFirst() {
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
            guard shift < 64 else { break }
        }
        throw WatchResponseScanner.Failure.malformed
    }

    mutating func lengthDelimited() throws -> Slice<UnsafeRawBufferPointer> {
        let length = Int(try varint())
        guard length >= 0, length <= remaining.count else { throw WatchResponseScanner.Failure.malformed }
        let field = remaining.prefix(length)
        remaining = remaining.dropFirst(length)
        return field
    }

    mutating func skip(_ wireType: Int) throws {
        switch wireType {
        case 0: _ = try varint()
        case 1: try drop(8)
        case 2: _ = try lengthDelimited()
        case 5: try drop(4)
        default: throw WatchResponseScanner.Failure.malformed
        }
    }

    private mutating func drop(_ count: Int) throws {
        guard remaining.count >= count else { throw WatchResponseScanner.Failure.malformed }
        remaining = remaining.dropFirst(count)
    }
}
