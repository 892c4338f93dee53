/// Writes a `JSONValue` as YAML in the block style kube-apiserver answers `Accept: application/yaml` with (JSON
/// turned into YAML by go-yaml v2): two-space indentation, sequences under a key not indented further, keys
/// sorted, strings that would read back as another type double-quoted, strings YAML cannot take plain
/// single-quoted, and multi-line strings as literal blocks. Reading the output with `YAMLParser` gives the value
/// back.
public enum YAMLWriter {
    public static func bytes(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        switch value {
        case .object(let fields) where !fields.isEmpty:
            writeMapping(fields, indent: 0, to: &out)
        case .array(let items) where !items.isEmpty:
            writeSequence(items, indent: 0, to: &out)
        default:
            writeInline(value, indent: 0, to: &out)
            out.append(0x0A)
        }
        return out
    }

    public static func string(_ value: JSONValue) -> String {
        String(decoding: bytes(value), as: UTF8.self)
    }

    private static func spaces(_ count: Int, to out: inout [UInt8]) {
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: count))
    }

    /// A mapping whose first key goes where `out` is now (after a "- " or at the start of a line); later keys at
    /// `indent`.
    private static func writeMapping(_ fields: [String: JSONValue], indent: Int, to out: inout [UInt8]) {
        for (offset, key) in fields.keys.sorted().enumerated() {
            if offset > 0 { spaces(indent, to: &out) }
            if key.utf8.contains(0x0A) {
                JSONWriter.writeString(key, to: &out)
            } else {
                writeScalar(key, indent: indent, to: &out)
            }
            out.append(UInt8(ascii: ":"))
            // The key comes from the dictionary itself.
            writeValue(fields[key]!, indent: indent, to: &out)
        }
    }

    private static func writeSequence(_ items: [JSONValue], indent: Int, to out: inout [UInt8]) {
        for (offset, item) in items.enumerated() {
            if offset > 0 { spaces(indent, to: &out) }
            out.append(contentsOf: [UInt8(ascii: "-"), UInt8(ascii: " ")])
            switch item {
            case .object(let fields) where !fields.isEmpty:
                writeMapping(fields, indent: indent + 2, to: &out)
            case .array(let nested) where !nested.isEmpty:
                writeSequence(nested, indent: indent + 2, to: &out)
            default:
                writeInline(item, indent: indent, to: &out)
                out.append(0x0A)
            }
        }
    }

    /// A mapping value, after its key's ':'.
    private static func writeValue(_ value: JSONValue, indent: Int, to out: inout [UInt8]) {
        switch value {
        case .object(let fields) where !fields.isEmpty:
            out.append(0x0A)
            spaces(indent + 2, to: &out)
            writeMapping(fields, indent: indent + 2, to: &out)
        case .array(let items) where !items.isEmpty:
            out.append(0x0A)
            spaces(indent, to: &out)
            writeSequence(items, indent: indent, to: &out)
        default:
            out.append(UInt8(ascii: " "))
            writeInline(value, indent: indent, to: &out)
            out.append(0x0A)
        }
    }

    private static func writeInline(_ value: JSONValue, indent: Int, to out: inout [UInt8]) {
        switch value {
        case .object: out.append(contentsOf: [UInt8(ascii: "{"), UInt8(ascii: "}")])
        case .array: out.append(contentsOf: [UInt8(ascii: "["), UInt8(ascii: "]")])
        case .string(let text): writeScalar(text, indent: indent, to: &out)
        case .double(let number) where number.isNaN: out.append(contentsOf: ".nan".utf8)
        case .double(let number) where number.isInfinite: out.append(contentsOf: (number < 0 ? "-.inf" : ".inf").utf8)
        default: JSONWriter.write(value, to: &out)
        }
    }

    /// A string in the style go-yaml v2 picks for it.
    private static func writeScalar(_ text: String, indent: Int, to out: inout [UInt8]) {
        let bytes = Array(text.utf8)
        let printable = bytes.allSatisfy { $0 >= 0x20 || $0 == 0x0A || $0 == 0x09 } && !bytes.contains(0x7F)
        if !printable || YAMLParser.resolve(text) != .string(text) || bytes.allSatisfy({ $0 == 0x0A }) {
            JSONWriter.writeString(text, to: &out)
        } else if bytes.contains(0x0A) {
            writeLiteral(bytes, indent: indent, to: &out)
        } else if plainAllowed(bytes) {
            out.append(contentsOf: bytes)
        } else {
            out.append(UInt8(ascii: "'"))
            for byte in bytes {
                if byte == UInt8(ascii: "'") { out.append(byte) }
                out.append(byte)
            }
            out.append(UInt8(ascii: "'"))
        }
    }

    /// `|` (one final newline kept), `|-` (none) or `|+` (more), the lines indented two past the key.
    private static func writeLiteral(_ bytes: [UInt8], indent: Int, to out: inout [UInt8]) {
        var trailing = 0
        while trailing < bytes.count, bytes[bytes.count - 1 - trailing] == 0x0A { trailing += 1 }
        out.append(UInt8(ascii: "|"))
        if bytes.first(where: { $0 != 0x0A }) == UInt8(ascii: " ") { out.append(UInt8(ascii: "2")) }
        if trailing == 0 { out.append(UInt8(ascii: "-")) } else if trailing > 1 { out.append(UInt8(ascii: "+")) }
        let body = bytes[..<(bytes.count - trailing)]
        for lineText in body.split(separator: 0x0A, omittingEmptySubsequences: false) {
            out.append(0x0A)
            if !lineText.isEmpty {
                spaces(indent + 2, to: &out)
                out.append(contentsOf: lineText)
            }
        }
        if trailing > 1 { out.append(contentsOf: repeatElement(0x0A, count: trailing - 1)) }
    }

    /// Whether YAML reads `bytes` back as the same string without quotes.
    private static func plainAllowed(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first, let last = bytes.last else { return false }
        if first == UInt8(ascii: " ") || last == UInt8(ascii: " ") || first == 0x09 || last == 0x09 { return false }
        if "-?:,[]{}#&*!|>'\"%@`".utf8.contains(first) {
            let next = bytes.count > 1 ? bytes[1] : UInt8(ascii: " ")
            guard "-?:".utf8.contains(first), next != UInt8(ascii: " "), next != 0x09 else { return false }
        }
        if bytes.starts(with: "---".utf8) || bytes.starts(with: "...".utf8) { return false }
        for index in bytes.indices {
            let byte = bytes[index]
            let next = index + 1 < bytes.count ? bytes[index + 1] : UInt8(ascii: " ")
            if byte == UInt8(ascii: ":"), next == UInt8(ascii: " ") || next == 0x09 || index + 1 == bytes.count { return false }
            if byte == UInt8(ascii: "#"), index > 0, bytes[index - 1] == UInt8(ascii: " ") || bytes[index - 1] == 0x09 { return false }
            if byte == 0x09 { return false }
        }
        return true
    }
}
