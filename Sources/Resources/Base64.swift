/// Standard base64 (with padding), as Go's encoding/json reads and writes []byte fields (Secret data).
public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = Int8(index) }
        return table
    }()

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var iterator = bytes.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next()
            let third = iterator.next()
            let chunk = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            out.append(second == nil ? UInt8(ascii: "=") : alphabet[Int(chunk >> 6 & 63)])
            out.append(third == nil ? UInt8(ascii: "=") : alphabet[Int(chunk & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let bytes = Array(text.utf8)
        guard bytes.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 4 * 3)
        var index = 0
        while index < bytes.count {
            var chunk: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let byte = bytes[index + offset]
                if byte == UInt8(ascii: "="), index + 4 == bytes.count, offset >= 2 {
                    padding += 1
                    chunk <<= 6
                    continue
                }
                guard padding == 0 else { return nil }
                let value = values[Int(byte)]
                guard value >= 0 else { return nil }
                chunk = chunk << 6 | UInt32(value)
            }
            out.append(UInt8(chunk >> 16 & 0xFF))
            if padding < 2 { out.append(UInt8(chunk >> 8 & 0xFF)) }
            if padding < 1 { out.append(UInt8(chunk & 0xFF)) }
            index += 4
        }
        return out
    }

    /// Where `text` stops being base64 (the offset Go's error names), or nil if it is valid.
    public static func firstInvalidByte(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        for (offset, byte) in bytes.enumerated() where values[Int(byte)] < 0 && byte != UInt8(ascii: "=") {
            return offset
        }
        if decode(text) == nil { return bytes.count - bytes.count % 4 }
        return nil
    }
}
