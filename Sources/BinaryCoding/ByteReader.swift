/// Reads what `ByteWriter` wrote, checking every length against the bytes left, so malformed or hostile input
/// is refused with an error, never read out of bounds or used to allocate without limit.
public struct ByteReader {
    public enum Failure: Error, Equatable, Sendable {
        case truncated
        case invalid(String)
    }

    let bytes: UnsafeRawBufferPointer
    public private(set) var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func byte() throws -> UInt8 {
        guard remaining >= 1 else { throw Failure.truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func flag() throws -> Bool {
        switch try byte() {
        case 0: return false
        case 1: return true
        case let other: throw Failure.invalid("flag \(other)")
        }
    }

    public mutating func u64() throws -> UInt64 { try bigEndian() }

    public mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }

    public mutating func u32() throws -> UInt32 { try bigEndian() }

    private mutating func bigEndian<Value: FixedWidthInteger & UnsignedInteger>() throws -> Value {
        let width = Value.bitWidth / 8
        guard remaining >= width else { throw Failure.truncated }
        var value: Value = 0
        for i in 0..<width { value = value << 8 | Value(bytes[offset + i]) }
        offset += width
        return value
    }

    /// The next `count` bytes, without copying them; refused if fewer are left.
    public mutating func slice(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw Failure.truncated }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    /// A count of items each at least `minimumBytesEach` long: refused if they cannot fit in what is left.
    public mutating func count(minimumBytesEach: Int = 1) throws -> Int {
        let count = try u64()
        guard count <= UInt64(remaining / max(minimumBytesEach, 1)) else { throw Failure.truncated }
        return Int(count)
    }

    /// A length-prefixed byte string.
    public mutating func data() throws -> [UInt8] {
        let length = try count()
        defer { offset += length }
        return [UInt8](UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]))
    }

    /// Everything left.
    public mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return [UInt8](UnsafeRawBufferPointer(rebasing: bytes[offset...]))
    }

    /// One of `options`, by its one-byte position.
    public mutating func pick<T>(_ options: [T], _ what: String) throws -> T {
        let code = Int(try byte())
        guard code < options.count else { throw Failure.invalid("\(what) \(code)") }
        return options[code]
    }

    /// Refuses bytes left over after a complete encoding.
    public func expectEnd() throws {
        guard isAtEnd else { throw Failure.invalid("\(remaining) trailing bytes") }
    }
}
