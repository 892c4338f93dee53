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

    enum Failure: Error { case malformed }

    /// Scans `message`; its events replace the contents of `events` (the caller's array, reused so that a
    /// response costs no allocation).
    init(_ message: ByteBuffer, events: inout [Event]) throws {
        events.removeAll(keepingCapacity: true)
        try message.withUnsafeReadableBytes { bytes in
            var reader = WireReader(bytes, from: 0, to: bytes.count)
            while let (field, wireType) = try reader.tag() {
                switch (field, wireType) {
                case (2, 0): watchID = Int64(bitPattern: try reader.varint())
                case (3, 0): created = try reader.varint() != 0
                case (4, 0): canceled = try reader.varint() != 0
                case (6, 2):
                    let reason = try reader.lengthDelimited()
                    cancelReason = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[reason.position..<reason.end]),
                                          as: UTF8.self)
                case (11, 2): events.append(try Self.event(try reader.lengthDelimited()))
                default: try reader.skip(wireType)
                }
            }
        }
    }

    /// mvccpb.Event: kv = 2; inside KeyValue, mod_revision = 3 and value = 5.
    static func event(_ bytes: WireReader) throws -> Event {
        var event = Event()
        var reader = bytes
        while let (field, wireType) = try reader.tag() {
            guard field == 2, wireType == 2 else {
                try reader.skip(wireType)
                continue
            }
            var kv = try reader.lengthDelimited()
            while let (kvField, kvType) = try kv.tag() {
                switch (kvField, kvType) {
                case (3, 0): event.modRevision = Int64(bitPattern: try kv.varint())
                case (5, 2):
                    let value = try kv.lengthDelimited()
                    if value.end - value.position >= 8 { event.stamp = value.bigEndianWord() }
                default: try kv.skip(kvType)
                }
            }
        }
        return event
    }
}

/// Protocol-buffer wire format, just enough to scan: tags, varints, length-delimited fields, skipping. Reads
/// `bytes[position..<end]` by index (a fan-out run scans millions of fields a second on one thread).
struct WireReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int
    let end: Int

    init(_ bytes: UnsafeRawBufferPointer, from position: Int, to end: Int) {
        self.bytes = bytes
        self.position = position
        self.end = end
    }

    mutating func tag() throws -> (field: Int, wireType: Int)? {
        guard position < end else { return nil }
        let key = try varint()
        return (Int(key >> 3), Int(key & 7))
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < end, shift < 64 {
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        throw WatchResponseScanner.Failure.malformed
    }

    /// The field's bytes, as a reader of their own; this reader moves past them.
    mutating func lengthDelimited() throws -> WireReader {
        let length = try varint()
        guard length <= UInt64(end - position) else { throw WatchResponseScanner.Failure.malformed }
        let field = WireReader(bytes, from: position, to: position + Int(length))
        position += Int(length)
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

    /// The first 8 bytes, big-endian; the caller checked there are 8.
    func bigEndianWord() -> UInt64 {
        (0..<8).reduce(0) { $0 << 8 | UInt64(bytes[position + $1]) }
    }

    private mutating func drop(_ count: Int) throws {
        guard end - position >= count else { throw WatchResponseScanner.Failure.malformed }
        position += count
    }
}
