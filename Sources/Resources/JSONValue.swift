/// A JSON document as the API server handles objects: decoded once from the request, checked against the
/// schema, patched, and written back. Integers are kept apart from other numbers so that int64 fields (and
/// resource versions) survive exactly, as they do in Kubernetes' Go types.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let fields) = self else { return nil }
            return fields[key]
        }
        set {
            guard case .object(var fields) = self else { return }
            fields[key] = newValue
            self = .object(fields)
        }
    }

    /// The value at a path of object keys, if every step is an object that has the key.
    public subscript(path path: [String]) -> JSONValue? {
        get {
            var current: JSONValue? = self
            for key in path { current = current?[key] }
            return current
        }
        set {
            guard let first = path.first else {
                if let newValue { self = newValue }
                return
            }
            guard case .object(var fields) = self else { return }
            if path.count == 1 {
                fields[first] = newValue
            } else {
                var child = fields[first] ?? .object([:])
                child[path: Array(path.dropFirst())] = newValue
                fields[first] = child
            }
            self = .object(fields)
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The JSON type's name as Go's decoder words it in errors ("string", "number", "object", …).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// A map of strings (labels, annotations, selectors) as a dictionary; nil if it is not one.
    public var stringMap: [String: String]? {
        guard case .object(let fields) = self else { return nil }
        var result: [String: String] = [:]
        for (key, value) in fields {
            guard case .string(let text) = value else { return nil }
            result[key] = text
        }
        return result
    }

    public static func strings(_ map: [String: String]) -> JSONValue {
        .object(map.mapValues { .string($0) })
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
