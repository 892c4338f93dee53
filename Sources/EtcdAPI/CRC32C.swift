/// CRC-32C (Castagnoli), the checksum etcd's HashKV reports.
struct CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    private(set) var value: UInt32 = 0

    mutating func update(_ bytes: some Sequence<UInt8>) {
        var crc = ~value
        for byte in bytes { crc = Self.table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        value = ~crc
    }

    mutating func update(_ number: Int64) {
        withUnsafeBytes(of: number.bigEndian) { update($0) }
    }
}
