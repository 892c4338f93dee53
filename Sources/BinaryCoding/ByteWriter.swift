/// Builds the big-endian binary encodings Podium uses on disk and between members: fixed-width integers,
/// one-byte flags, and length-prefixed byte strings.
public struct ByteWriter {
    public private(set) var bytes: [UInt8]

    public init(reservingCapacity capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func byte(_ value: UInt8) { bytes.append(value) }
    public mutating func flag(_ value: Bool) { bytes.append(value ? 1 : 0) }

    public mutating func u64(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }

    public mutating func u32(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Replaces four bytes written earlier: for a header whose fields (a length, a checksum) are known only once
    /// what follows it is written.
    public mutating func setU32(_ value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value.bigEndian) { raw in
            for i in 0..<4 { bytes[offset + i] = raw[i] }
        }
    }

    /// Empties the writer, keeping its buffer for the next encoding.
    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    /// A length (8 bytes) and the bytes.
    public mutating func data(_ value: [UInt8]) {
        u64(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// The bytes as they are, with no length: for a trailing field whose end is the end of the encoding.
    public mutating func raw(_ value: [UInt8]) { bytes.append(contentsOf: value) }
}
