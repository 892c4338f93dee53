/// Reads Kubernetes' protobuf encoding of an object (`application/vnd.kubernetes.protobuf`: the "k8s\0" magic,
/// then a runtime.Unknown holding the type and the object's own message) into the JSON form everything else
/// handles, field by field through the schema's protobuf numbers. kubectl 1.32 sends these bodies for create
/// and some deletes; nothing is written in this format.
public struct ProtobufObjectDecoder {
    public struct DecodingError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]
    static let maxDepth = 64

    public let schema: APISchema

    public init(schema: APISchema = .kubernetes) {
        self.schema = schema
    }

    /// The envelope's apiVersion and kind, and the raw message.
    public func envelope(_ bytes: [UInt8]) throws(DecodingError) -> (apiVersion: String, kind: String, raw: ArraySlice<UInt8>) {
        guard bytes.count >= 4, Array(bytes[0..<4]) == Self.magic else {
            throw DecodingError(message: "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
        }
        var reader = WireReader(bytes[4...])
        var apiVersion = "", kind = "", raw: ArraySlice<UInt8> = []
        while !reader.isAtEnd {
            let (number, wire) = try reader.tag()
            switch (number, wire) {
            case (1, 2):
                var meta = WireReader(try reader.lengthDelimited())
                while !meta.isAtEnd {
                    let (field, metaWire) = try meta.tag()
                    switch (field, metaWire) {
                    case (1, 2): apiVersion = String(decoding: try meta.lengthDelimited(), as: UTF8.self)
                    case (2, 2): kind = String(decoding: try meta.lengthDelimited(), as: UTF8.self)
                    default: try meta.skip(metaWire)
                    }
                }
            case (2, 2): raw = try reader.lengthDelimited()
            case (3, 2), (4, 2):
                let value = try reader.lengthDelimited()
                if number == 3, !value.isEmpty {
                    throw DecodingError(message: "content encoding \(String(decoding: value, as: UTF8.self)) is not supported")
                }
            default: try reader.skip(wire)
            }
        }
        return (apiVersion, kind, raw)
    }

    /// The object in an envelope, as JSON of schema type `typeName`, with apiVersion and kind from the envelope.
    public func decode(_ bytes: [UInt8], as typeName: String) throws(DecodingError) -> JSONValue {
        let (apiVersion, kind, raw) = try envelope(bytes)
        var object = try message(raw, type: typeName, depth: 0)
        if !apiVersion.isEmpty { object["apiVersion"] = .string(apiVersion) }
        if !kind.isEmpty { object["kind"] = .string(kind) }
        return object
    }

    func message(_ bytes: ArraySlice<UInt8>, type typeName: String, depth: Int) throws(DecodingError) -> JSONValue {
        guard depth < Self.maxDepth else { throw DecodingError(message: "protobuf message nested too deeply") }
        guard let objectType = schema[type: typeName] else { throw DecodingError(message: "no schema for \(typeName)") }
        var reader = WireReader(bytes)
        var fields: [String: JSONValue] = [:]
        while !reader.isAtEnd {
            let (number, wire) = try reader.tag()
            guard let field = objectType.byNumber[number] else {
                try reader.skip(wire)
                continue
            }
            switch field.type {
            case .list(let element):
                var items = fields[field.name]?.arrayValue ?? []
                if wire == 2, element.isPackable {
                    var packed = WireReader(try reader.lengthDelimited())
                    while !packed.isAtEnd { items.append(try value(&packed, wire: element.wireType, type: element, depth: depth)) }
                } else {
                    items.append(try value(&reader, wire: wire, type: element, depth: depth))
                }
                fields[field.name] = .array(items)
            case .map(let valueType):
                var entries = fields[field.name]?.objectValue ?? [:]
                guard wire == 2 else { throw mismatch(field, objectType) }
                var entry = WireReader(try reader.lengthDelimited())
                var key = "", entryValue: JSONValue?
                while !entry.isAtEnd {
                    let (entryNumber, entryWire) = try entry.tag()
                    switch entryNumber {
                    case 1: key = String(decoding: try entry.lengthDelimited(), as: UTF8.self)
                    case 2: entryValue = try value(&entry, wire: entryWire, type: valueType, depth: depth)
                    default: try entry.skip(entryWire)
                    }
                }
                entries[key] = entryValue ?? valueType.emptyValue
                fields[field.name] = .object(entries)
            default:
                guard wire == field.type.wireType else { throw mismatch(field, objectType) }
                fields[field.name] = try value(&reader, wire: wire, type: field.type, depth: depth)
            }
        }
        return .object(fields.filter { key, value in !(objectType.fields[key]?.omits(value) ?? false) })
    }

    private func mismatch(_ field: APISchema.Field, _ type: APISchema.ObjectType) -> DecodingError {
        DecodingError(message: "proto: wrong wireType for field \(type.shortName).\(field.name)")
    }

    private func value(_ reader: inout WireReader, wire: Int, type: APISchema.FieldType, depth: Int) throws(DecodingError) -> JSONValue {
        guard wire == type.wireType else { throw DecodingError(message: "proto: wrong wireType \(wire) for a \(type.goName)") }
        switch type {
        case .string, .duration:
            return .string(String(decoding: try reader.lengthDelimited(), as: UTF8.self))
        case .int32:
            return .int(Int64(Int32(truncatingIfNeeded: Int64(bitPattern: try reader.varint()))))
        case .int64:
            return .int(Int64(bitPattern: try reader.varint()))
        case .bool:
            return .bool(try reader.varint() != 0)
        case .double:
            return .double(Double(bitPattern: try reader.fixed64()))
        case .bytes:
            return .string(Base64.encode(try reader.lengthDelimited()))
        case .quantity:
            var inner = WireReader(try reader.lengthDelimited())
            var text = ""
            while !inner.isAtEnd {
                let (number, innerWire) = try inner.tag()
                if number == 1, innerWire == 2 { text = String(decoding: try inner.lengthDelimited(), as: UTF8.self) } else { try inner.skip(innerWire) }
            }
            return .string(text)
        case .intOrString:
            var inner = WireReader(try reader.lengthDelimited())
            var isString = false, number: Int64 = 0, text = ""
            while !inner.isAtEnd {
                let (field, innerWire) = try inner.tag()
                switch (field, innerWire) {
                case (1, 0): isString = try inner.varint() == 1
                case (2, 0): number = Int64(Int32(truncatingIfNeeded: Int64(bitPattern: try inner.varint())))
                case (3, 2): text = String(decoding: try inner.lengthDelimited(), as: UTF8.self)
                default: try inner.skip(innerWire)
                }
            }
            return isString ? .string(text) : .int(number)
        case .time, .microTime:
            var inner = WireReader(try reader.lengthDelimited())
            var seconds: Int64 = 0, nanos: Int64 = 0
            while !inner.isAtEnd {
                let (field, innerWire) = try inner.tag()
                switch (field, innerWire) {
                case (1, 0): seconds = Int64(bitPattern: try inner.varint())
                case (2, 0): nanos = Int64(bitPattern: try inner.varint())
                default: try inner.skip(innerWire)
                }
            }
            if seconds == 0, nanos == 0 { return .null }  // Go's zero time, which JSON writes as null.
            let time = Double(seconds) + Double(nanos) / 1e9
            if case .microTime = type { return .string(RFC3339.formatMicro(time)) }
            return .string(RFC3339.format(time))
        case .raw:
            var inner = WireReader(try reader.lengthDelimited())
            var raw: ArraySlice<UInt8> = []
            while !inner.isAtEnd {
                let (field, innerWire) = try inner.tag()
                if field == 1, innerWire == 2 { raw = try inner.lengthDelimited() } else { try inner.skip(innerWire) }
            }
            if raw.isEmpty { return .null }
            do {
                return try JSONParser.parse(Array(raw))
            } catch {
                throw DecodingError(message: "embedded object is not JSON: \(error.message)")
            }
        case .object(let name):
            return try message(try reader.lengthDelimited(), type: name, depth: depth + 1)
        case .list, .map:
            throw DecodingError(message: "proto: nested repeated fields are not supported")
        }
    }
}

extension APISchema.FieldType {
    var wireType: Int {
        switch self {
        case .int32, .int64, .bool: 0
        case .double: 1
        default: 2
        }
    }

    var isPackable: Bool { wireType != 2 }

    var emptyValue: JSONValue {
        switch self {
        case .int32, .int64: .int(0)
        case .bool: .bool(false)
        case .double: .double(0)
        case .object, .map: .object([:])
        case .list: .array([])
        default: .string("")
        }
    }
}

/// Reads protobuf's wire format, refusing anything that runs past its bounds.
struct WireReader {
    var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { bytes.isEmpty }

    static let truncated = ProtobufObjectDecoder.DecodingError(message: "proto: unexpected end of data")

    mutating func varint() throws(ProtobufObjectDecoder.DecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = bytes.first {
            bytes = bytes.dropFirst()
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { throw ProtobufObjectDecoder.DecodingError(message: "proto: integer overflow") }
        }
        throw Self.truncated
    }

    mutating func tag() throws(ProtobufObjectDecoder.DecodingError) -> (Int, Int) {
        let key = try varint()
        let number = Int(truncatingIfNeeded: key >> 3)
        guard number > 0, number < 1 << 29 else { throw ProtobufObjectDecoder.DecodingError(message: "proto: illegal tag \(number)") }
        return (number, Int(key & 7))
    }

    mutating func lengthDelimited() throws(ProtobufObjectDecoder.DecodingError) -> ArraySlice<UInt8> {
        let length = try varint()
        guard length <= UInt64(bytes.count) else { throw Self.truncated }
        let value = bytes.prefix(Int(length))
        bytes = bytes.dropFirst(Int(length))
        return value
    }

    mutating func fixed64() throws(ProtobufObjectDecoder.DecodingError) -> UInt64 {
        guard bytes.count >= 8 else { throw Self.truncated }
        var value: UInt64 = 0
        for (offset, byte) in bytes.prefix(8).enumerated() { value |= UInt64(byte) << (8 * UInt64(offset)) }
        bytes = bytes.dropFirst(8)
        return value
    }

    mutating func skip(_ wire: Int) throws(ProtobufObjectDecoder.DecodingError) {
        switch wire {
        case 0: _ = try varint()
        case 1: guard bytes.count >= 8 else { throw Self.truncated }; bytes = bytes.dropFirst(8)
        case 2: _ = try lengthDelimited()
        case 5: guard bytes.count >= 4 else { throw Self.truncated }; bytes = bytes.dropFirst(4)
        default: throw ProtobufObjectDecoder.DecodingError(message: "proto: illegal wireType \(wire)")
        }
    }
}
