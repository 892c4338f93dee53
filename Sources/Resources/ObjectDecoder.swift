/// Checks a decoded JSON document against the schema, as kube-apiserver's decoder does: values of the wrong type
/// are refused with Go's wording, fields the schema does not have are reported (the caller decides, by
/// fieldValidation, whether that refuses the object, warns, or just drops them), and nulls are dropped, as
/// decoding into Go types drops them. The result holds only known fields.
public struct ObjectDecoder {
    public struct TypeError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public let schema: APISchema
    /// Paths of fields the schema does not declare ("spec.template.spec.containers[0].foo").
    public private(set) var unknownFields: [String] = []

    public init(schema: APISchema = .kubernetes) {
        self.schema = schema
    }

    /// The known part of `value`, read as an object of type `typeName`.
    public mutating func decode(_ value: JSONValue, as typeName: String) throws(TypeError) -> JSONValue {
        try decode(value, type: .object(typeName), path: "", structName: String(schema[type: typeName]?.shortName ?? ""))
    }

    private mutating func decode(_ value: JSONValue, type: APISchema.FieldType, path: String,
                                 structName: String) throws(TypeError) -> JSONValue {
        func mismatch() -> TypeError {
            let field = path.isEmpty ? "" : " field \(structName).\(path)"
            return TypeError(message: "json: cannot unmarshal \(value.typeName) into Go\(field.isEmpty ? " value" : " struct" + field) of type \(type.goName)")
        }
        switch type {
        case .raw:
            return value
        case .string(let enumeration):
            guard case .string = value else { throw mismatch() }
            _ = enumeration  // Allowed values are checked by validation, which answers 422 with the field's path.
            return value
        case .int32:
            guard case .int(let number) = value else {
                if case .double(let number) = value, number == number.rounded(), abs(number) <= Double(Int32.max) {
                    throw TypeError(message: "json: cannot unmarshal number \(number) into Go struct field \(structName).\(path) of type int32")
                }
                throw mismatch()
            }
            guard (Int64(Int32.min)...Int64(Int32.max)).contains(number) else {
                throw TypeError(message: "json: cannot unmarshal number \(number) into Go struct field \(structName).\(path) of type int32")
            }
            return value
        case .int64:
            guard case .int = value else { throw mismatch() }
            return value
        case .double:
            switch value {
            case .int(let number): return .double(Double(number))
            case .double: return value
            default: throw mismatch()
            }
        case .bool:
            guard case .bool = value else { throw mismatch() }
            return value
        case .quantity:
            switch value {
            case .string(let text):
                guard let quantity = Quantity(text) else {
                    throw TypeError(message: "quantities must match the regular expression '\(Quantity.pattern)'")
                }
                return .string(quantity.canonical)
            case .int(let number): return .string(String(number))
            case .double(let number):
                guard let quantity = Quantity("\(number)") else { throw mismatch() }
                return .string(quantity.canonical)
            default: throw mismatch()
            }
        case .intOrString:
            switch value {
            case .int(let number):
                guard (Int64(Int32.min)...Int64(Int32.max)).contains(number) else { throw mismatch() }
                return value
            case .string: return value
            default: throw mismatch()
            }
        case .time, .microTime:
            guard case .string(let text) = value else { throw mismatch() }
            guard RFC3339.parse(text) != nil else {
                throw TypeError(message: "parsing time \"\(text)\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"\(text)\" as \"2006\"")
            }
            return value
        case .duration:
            guard case .string = value else { throw mismatch() }
            return value
        case .bytes:
            guard case .string(let text) = value else { throw mismatch() }
            if let bad = Base64.firstInvalidByte(text) {
                throw TypeError(message: "illegal base64 data at input byte \(bad)")
            }
            return value
        case .list(let element):
            guard case .array(let elements) = value else { throw mismatch() }
            var decoded: [JSONValue] = []
            decoded.reserveCapacity(elements.count)
            for (offset, item) in elements.enumerated() {
                if case .null = item, case .object = element { decoded.append(.object([:])); continue }
                decoded.append(try decode(item, type: element, path: "\(path)[\(offset)]", structName: structName))
            }
            return .array(decoded)
        case .map(let element):
            guard case .object(let fields) = value else { throw mismatch() }
            var decoded: [String: JSONValue] = [:]
            for (key, item) in fields where !item.isNull {
                decoded[key] = try decode(item, type: element, path: "\(path)[\(key)]", structName: structName)
            }
            return .object(decoded)
        case .object(let typeName):
            guard case .object(let fields) = value else { throw mismatch() }
            guard let objectType = schema[type: typeName] else { return value }
            var decoded: [String: JSONValue] = [:]
            for (key, item) in fields {
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                guard let field = objectType.fields[key] else {
                    unknownFields.append(childPath)
                    continue
                }
                if item.isNull { continue }
                let value = try decode(item, type: field.type, path: childPath, structName: String(objectType.shortName))
                if !field.omits(value) { decoded[key] = value }
            }
            return .object(decoded)
        }
    }
}
