import CSHA256

/// SHA-256 (FIPS 180-4), incremental. Used to check that a snapshot arrived or was stored intact; the
/// compression function is in C (`CSHA256`), small enough to carry rather than pulling a crypto library into
/// the store for one hash.
public struct SHA256: Sendable {
    private var state: [UInt32] = [0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A,
                                   0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19]
    /// Bytes of an incomplete block (fewer than 64).
    private var pending: [UInt8] = []
    private var totalBytes: UInt64 = 0

    public init() {
        pending.reserveCapacity(64)
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(buffer: UnsafeRawBufferPointer($0)) }
        guard done == nil else { return }
        update(buffer: Array(bytes))
    }

    private mutating func update(buffer bytes: [UInt8]) {
        bytes.withUnsafeBytes { update(buffer: $0) }
    }

    private mutating func update(buffer bytes: UnsafeRawBufferPointer) {
        totalBytes &+= UInt64(bytes.count)
        var offset = 0
        if !pending.isEmpty {
            let taken = min(64 - pending.count, bytes.count)
            pending.append(contentsOf: bytes[0..<taken])
            offset = taken
            guard pending.count == 64 else { return }
            compress(pending)
            pending.removeAll(keepingCapacity: true)
        }
        let wholeBlocks = (bytes.count - offset) / 64
        if wholeBlocks > 0, let base = bytes.baseAddress {
            state.withUnsafeMutableBufferPointer { state in
                // `state` holds exactly the eight words the C function updates.
                podium_sha256_blocks(state.baseAddress!, base.advanced(by: offset).assumingMemoryBound(to: UInt8.self),
                                     wholeBlocks)
            }
            offset += wholeBlocks * 64
        }
        pending.append(contentsOf: bytes[offset...])
    }

    /// The 32-byte digest of everything given so far.
    public func finalize() -> [UInt8] {
        var copy = self
        let bitLength = copy.totalBytes &* 8
        var tail = copy.pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        copy.compress(tail)
        return copy.state.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (24 - 8 * $0)) } }
    }

    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// Compresses whole 64-byte blocks.
    private mutating func compress(_ blocks: [UInt8]) {
        blocks.withUnsafeBufferPointer { blocks in
            state.withUnsafeMutableBufferPointer { state in
                // Both buffers are non-empty: eight state words, at least one block.
                podium_sha256_blocks(state.baseAddress!, blocks.baseAddress!, blocks.count / 64)
            }
        }
    }
}
