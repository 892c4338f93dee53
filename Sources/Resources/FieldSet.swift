/// A set of field paths in an object — what one field manager owns — as a trie: each node says whether the path
/// to it is itself in the set, and holds its children. Its JSON form is Kubernetes' FieldsV1 (`{"f:spec":
/// {"f:replicas":{}}}`), which is what `metadata.managedFields[].fieldsV1` stores.
public struct FieldSet: Sendable, Equatable {
    /// One step of a path: a struct field or map key (`f:`), a list-map item by its keys (`k:`, the keys as
    /// compact JSON with sorted names), or a set item by its value (`v:`, as JSON).
    public enum Element: Sendable, Hashable, Comparable {
        case field(String)
        case key(String)
        case value(String)

        /// FieldsV1 order: fields, then keyed items, then values; each by its text.
        public static func < (lhs: Element, rhs: Element) -> Bool {
            switch (lhs, rhs) {
            case (.field(let a), .field(let b)), (.key(let a), .key(let b)), (.value(let a), .value(let b)): a.utf8.lexicographicallyPrecedes(b.utf8)
            case (.field, _): true
            case (.key, .value): true
            default: false
            }
        }

        var encoded: String {
            switch self {
            case .field(let name): "f:" + name
            case .key(let json): "k:" + json
            case .value(let json): "v:" + json
            }
        }

        /// How conflict messages print the step: `.name`, `[name="c"]`, `[="x"]`.
        var described: String {
            switch self {
            case .field(let name):
                return "." + name
            case .key(let json):
                guard case .object(let fields)? = try? JSONParser.parse(json) else { return "[" + json + "]" }
                return "[" + fields.keys.sorted().map { "\($0)=\(JSONWriter.string(fields[$0] ?? .null))" }.joined(separator: ",") + "]"
            case .value(let json):
                return "[=" + json + "]"
            }
        }
    }

    /// Whether the path leading here is in the set.
    public var isMember = false
    public var children: [Element: FieldSet] = [:]

    public init() {}

    public var isEmpty: Bool { !isMember && children.values.allSatisfy(\.isEmpty) }

    public mutating func insert(_ path: [Element]) {
        guard let first = path.first else {
            isMember = true
            return
        }
        children[first, default: FieldSet()].insert(Array(path.dropFirst()))
    }

    public func union(_ other: FieldSet) -> FieldSet {
        var result = self
        result.isMember = isMember || other.isMember
        for (element, child) in other.children {
            result.children[element] = (children[element] ?? FieldSet()).union(child)
        }
        return result
    }

    public func subtracting(_ other: FieldSet) -> FieldSet {
        var result = FieldSet()
        result.isMember = isMember && !other.isMember
        for (element, child) in children {
            let rest = other.children[element].map { child.subtracting($0) } ?? child
            if !rest.isEmpty { result.children[element] = rest }
        }
        return result
    }

    public func intersection(_ other: FieldSet) -> FieldSet {
        var result = FieldSet()
        result.isMember = isMember && other.isMember
        for (element, child) in children {
            guard let theirs = other.children[element] else { continue }
            let both = child.intersection(theirs)
            if !both.isEmpty { result.children[element] = both }
        }
        return result
    }

    /// Every member path, in FieldsV1 order.
    public var paths: [[Element]] {
        var result: [[Element]] = isMember ? [[]] : []
        for element in children.keys.sorted() {
            // The key comes from the dictionary itself.
            result += children[element]!.paths.map { [element] + $0 }
        }
        return result
    }

    public static func describe(_ path: [Element]) -> String {
        path.map(\.described).joined()
    }

    // MARK: FieldsV1

    /// The FieldsV1 JSON: "." marks a node that is a member and has children; a member leaf is `{}`.
    public var fieldsV1: JSONValue {
        var fields: [String: JSONValue] = [:]
        if isMember, !children.isEmpty { fields["."] = .object([:]) }
        for (element, child) in children where !child.isEmpty {
            fields[element.encoded] = child.fieldsV1
        }
        return .object(fields)
    }

    /// Reads FieldsV1; nil when it is not (a client sent managedFields that make no sense).
    public init?(fieldsV1: JSONValue) {
        guard case .object(let fields) = fieldsV1 else { return nil }
        isMember = fields.isEmpty
        for (text, value) in fields {
            if text == "." {
                isMember = true
                continue
            }
            guard text.count > 2, let child = FieldSet(fieldsV1: value) else { return nil }
            let body = String(text.dropFirst(2))
            switch text.prefix(2) {
            case "f:": children[.field(body)] = child
            case "k:": children[.key(body)] = child
            case "v:": children[.value(body)] = child
            case "i:": continue
            default: return nil
            }
        }
    }
}
