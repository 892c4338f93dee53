/// Contiguous bytes that can be handed to RocksDB without copying: `[UInt8]`, `ArraySlice<UInt8>` and
/// `UnsafeRawBufferPointer`.
public protocol ByteSequence {
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ByteSequence where Element == UInt8 {
    @inline(__always)
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
}

extension ArraySlice: ByteSequence where Element == UInt8 {
    @inline(__always)
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
}

extension UnsafeRawBufferPointer: ByteSequence {
    @inline(__always)
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(self)
    }
}

extension UnsafeRawBufferPointer {
    /// The pointer RocksDB's C API takes. An empty buffer may have no base address; RocksDB never reads
    /// through a pointer whose length is zero, so any non-null pointer will do there.
    @inline(__always)
    var charPointer: UnsafePointer<CChar> {
        if let base = baseAddress { return base.assumingMemoryBound(to: CChar.self) }
        return emptyBytePointer
    }
}

// Immutable after initialisation and never written through.
nonisolated(unsafe) private let emptyBytePointer: UnsafePointer<CChar> = {
    let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    pointer.initialize(to: 0)
    return UnsafePointer(pointer)
}()
