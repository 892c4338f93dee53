/// The shape of every API object Podium serves: field names, types, protobuf numbers and patch semantics, read
/// from `APISchema.text` (generated from Kubernetes' Go types by `tools/gen-resource-schema`). One description
/// drives decoding (unknown and mistyped fields), protobuf bodies, strategic merge patch and /openapi/v3, so they
/// cannot disagree.
public struct APISchema: Sendable {
    public indirect enum FieldType: Sendable, Equatable {
        case string(enumeration: String?)
        case int32, int64, bool, double
        case quantity, intOrString, time, microTime, duration, bytes
        /// Any JSON (RawExtension, FieldsV1).
        case raw
        case object(String)
        case list(FieldType)
        case map(FieldType)
    }

    public enum ListType: Sendable, Equatable {
        case atomic, set
        case map(keys: [String])
    }

    public struct Field: Sendable {
        public var name: String
        /// The protobuf field number (0: not in the protobuf message, like apiVersion and kind).
        public var number: Int
        public var type: FieldType
        public var required = false
        /// patchStrategy merge: lists merged by `mergeKey` (nil for lists of scalars, merged as sets).
        public var mergeStrategy = false
        public var mergeKey: String?
        public var retainKeys = false
        public var replace = false
        public var listType: ListType?
        public var atomicMap = false
        /// A Go pointer: its zero value was set on purpose.
        public var pointer = false
        /// omitempty: Go writes no zero value for it unless it is a pointer.
        public var omitEmpty = false

        /// Whether `value` is what Go would leave out of this field's JSON (a zero value of a non-pointer
        /// omitempty field): decoding drops it so that stored objects read as kube-apiserver writes them.
        public func omits(_ value: JSONValue) -> Bool {
            guard omitEmpty, !pointer else { return false }
            switch value {
            case .string(let text): return text.isEmpty
            case .int(let number): return number == 0
            case .double(let number): return number == 0
            case .bool(let flag): return !flag
            case .array(let items): return items.isEmpty
            case .object(let fields):
                if case .object = type { return false }
                return fields.isEmpty
            case .null: return true
            }
        }
    }

    public struct ObjectType: Sendable {
        public var name: String
        public var fields: [String: Field] = [:]
        /// Declaration order, for documents people read (OpenAPI, explain).
        public var fieldOrder: [String] = []
        public var byNumber: [Int: Field] = [:]
        public var atomic = false

        /// The Go type name used in decoding errors ("DeploymentSpec").
        public var shortName: Substring { name[name.index(after: name.lastIndex(of: ".") ?? name.startIndex)...] }
    }

    public var types: [String: ObjectType] = [:]
    public var enumerations: [String: [String]] = [:]

    /// The schema every part of Podium uses, parsed once.
    public static let kubernetes: APISchema = {
        do {
            return try APISchema(parsing: text)
        } catch {
            // The text is generated and committed; a parse failure is a build defect, caught by the tests.
            fatalError("APISchema.text does not parse: \(error)")
        }
    }()

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws {
        var current: ObjectType?
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            guard let tag = words.first else { continue }
            switch tag {
            case "T":
                if let current { types[current.name] = current }
                guard words.count >= 2 else { throw ParseError(description: "bad line: \(line)") }
                current = ObjectType(name: words[1], atomic: words.contains("struct=atomic"))
            case "F":
                guard words.count >= 4, let number = Int(words[2]) else { throw ParseError(description: "bad line: \(line)") }
                var field = Field(name: words[1], number: number, type: try Self.type(words[3]))
                for flag in words.dropFirst(4) {
                    if flag == "req" { field.required = true }
                    else if flag == "ptr" { field.pointer = true }
                    else if flag == "omit" { field.omitEmpty = true }
                    else if flag == "merge" { field.mergeStrategy = true }
                    else if flag.hasPrefix("merge=") { field.mergeStrategy = true; field.mergeKey = String(flag.dropFirst(6)) }
                    else if flag == "retainKeys" { field.retainKeys = true }
                    else if flag == "replace" { field.replace = true }
                    else if flag == "map=atomic" { field.atomicMap = true }
                    else if flag == "list=atomic" { field.listType = .atomic }
                    else if flag == "list=set" { field.listType = .set }
                    else if flag.hasPrefix("list=map") {
                        let keys = flag.split(separator: ":").dropFirst().first.map { $0.split(separator: ",").map(String.init) } ?? []
                        field.listType = .map(keys: keys)
                    }
                }
                guard current != nil else { throw ParseError(description: "field outside a type: \(line)") }
                current?.fields[field.name] = field
                current?.fieldOrder.append(field.name)
                if number > 0 { current?.byNumber[number] = field }
            case "E":
                guard words.count >= 2 else { throw ParseError(description: "bad line: \(line)") }
                enumerations[words[1]] = Array(words.dropFirst(2))
            default:
                throw ParseError(description: "bad line: \(line)")
            }
        }
        if let current { types[current.name] = current }
    }

    static func type(_ word: String) throws -> FieldType {
        switch word {
        case "s": return .string(enumeration: nil)
        case "i32": return .int32
        case "i64": return .int64
        case "b": return .bool
        case "f64": return .double
        case "q": return .quantity
        case "ios": return .intOrString
        case "t": return .time
        case "mt": return .microTime
        case "dur": return .duration
        case "y": return .bytes
        case "raw": return .raw
        default:
            if word.hasPrefix("s:") { return .string(enumeration: String(word.dropFirst(2))) }
            if word.hasPrefix("@") { return .object(String(word.dropFirst())) }
            if word.hasPrefix("["), word.hasSuffix("]") { return .list(try type(String(word.dropFirst().dropLast()))) }
            if word.hasPrefix("{"), word.hasSuffix("}") { return .map(try type(String(word.dropFirst().dropLast()))) }
            throw ParseError(description: "unknown field type \(word)")
        }
    }

    public subscript(type name: String) -> ObjectType? { types[name] }
}

extension APISchema.FieldType {
    /// The Go type as decoding errors name it ("int32", "[]v1.Container", "map[string]string").
    public var goName: String {
        switch self {
        case .string: "string"
        case .int32: "int32"
        case .int64: "int64"
        case .bool: "bool"
        case .double: "float64"
        case .quantity: "resource.Quantity"
        case .intOrString: "intstr.IntOrString"
        case .time, .microTime: "v1.Time"
        case .duration: "v1.Duration"
        case .bytes: "[]uint8"
        case .raw: "runtime.RawExtension"
        case .object(let name): Self.goTypeName(name)
        case .list(let element): "[]" + element.goName
        case .map(let value): "map[string]" + value.goName
        }
    }

    /// "core.v1.Container" → "v1.Container", as Go names a type with its package.
    static func goTypeName(_ name: String) -> String {
        let parts = name.split(separator: ".")
        return parts.count >= 3 ? "\(parts[parts.count - 2]).\(parts[parts.count - 1])" : name
    }
}
