/// The patch formats of Kubernetes' PATCH verb: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and the
/// strategic merge patch, which merges lists by their schema merge keys and honours the `$patch`,
/// `$setElementOrder/…`, `$retainKeys` and `$deleteFromPrimitiveList/…` directives kubectl sends.
public enum Patch {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    // MARK: JSON merge patch

    public static func merge(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(let patchFields) = patch else { return patch }
        var fields = target.objectValue ?? [:]
        for (key, value) in patchFields {
            if value.isNull {
                fields[key] = nil
            } else {
                fields[key] = merge(fields[key] ?? .null, value)
            }
        }
        return .object(fields)
    }

    // MARK: JSON patch

    public static let maxOperations = 10_000
    public static let maxCopiedBytes = 3 << 20

    public static func json(_ target: JSONValue, _ operations: JSONValue) throws(Failure) -> JSONValue {
        guard case .array(let list) = operations else {
            throw Failure(message: "json: cannot unmarshal \(operations.typeName) into Go value of type jsonpatch.Patch")
        }
        guard list.count <= maxOperations else {
            throw Failure(message: "the JSON patch has \(list.count) operations; at most \(maxOperations) are allowed")
        }
        var document = target
        var copied = 0
        for operation in list {
            guard let op = operation["op"]?.stringValue else { throw Failure(message: "Unexpected kind: unknown") }
            guard let pathText = operation["path"]?.stringValue else { throw Failure(message: "missing path in \(op) operation") }
            let path = try pointer(pathText)
            switch op {
            case "add":
                guard let value = operation["value"] else { throw Failure(message: "missing value in add operation") }
                document = try add(document, path, value)
            case "remove":
                document = try remove(document, path).0
            case "replace":
                guard let value = operation["value"] else { throw Failure(message: "missing value in replace operation") }
                _ = try get(document, path)
                document = try add(try remove(document, path).0, path, value)
            case "move":
                guard let from = operation["from"]?.stringValue else { throw Failure(message: "missing from in move operation") }
                let (removed, value) = try remove(document, try pointer(from))
                document = try add(removed, path, value)
            case "copy":
                guard let from = operation["from"]?.stringValue else { throw Failure(message: "missing from in copy operation") }
                let value = try get(document, try pointer(from))
                // Copies can double a document each time: their total is bounded, as kube-apiserver bounds it.
                copied += JSONWriter.bytes(value).count
                guard copied <= maxCopiedBytes else {
                    throw Failure(message: "the JSON patch's copy operations add more than \(maxCopiedBytes) bytes")
                }
                document = try add(document, path, value)
            case "test":
                guard let value = operation["value"] else { throw Failure(message: "missing value in test operation") }
                guard try get(document, path) == value else { throw Failure(message: "testing value \(pathText) failed: test failed") }
            default:
                throw Failure(message: "Unexpected kind: \(op)")
            }
        }
        return document
    }

    static func pointer(_ text: String) throws(Failure) -> [String] {
        guard !text.isEmpty else { return [] }
        guard text.hasPrefix("/") else { throw Failure(message: "JSON pointer must be empty or start with a \"/\": \(text)") }
        return text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            String($0).replacing("~1", with: "/").replacing("~0", with: "~")
        }
    }

    static func get(_ document: JSONValue, _ path: [String]) throws(Failure) -> JSONValue {
        var current = document
        for token in path {
            switch current {
            case .object(let fields):
                guard let next = fields[token] else { throw Failure(message: "doc is missing path: \"/\(path.joined(separator: "/"))\": missing value") }
                current = next
            case .array(let items):
                guard let index = Int(token), items.indices.contains(index) else {
                    throw Failure(message: "doc is missing path: \"/\(path.joined(separator: "/"))\": missing value")
                }
                current = items[index]
            default:
                throw Failure(message: "doc is missing path: \"/\(path.joined(separator: "/"))\": missing value")
            }
        }
        return current
    }

    static func add(_ document: JSONValue, _ path: [String], _ value: JSONValue) throws(Failure) -> JSONValue {
        guard let token = path.first else { return value }
        let rest = Array(path.dropFirst())
        switch document {
        case .object(var fields):
            if rest.isEmpty {
                fields[token] = value
            } else {
                guard let child = fields[token] else { throw Failure(message: "add operation does not apply: doc is missing path: \"/\(path.joined(separator: "/"))\": missing value") }
                fields[token] = try add(child, rest, value)
            }
            return .object(fields)
        case .array(var items):
            if rest.isEmpty {
                if token == "-" { items.append(value); return .array(items) }
                guard let index = Int(token), (0...items.count).contains(index) else {
                    throw Failure(message: "add operation does not apply: doc is missing path: \"/\(path.joined(separator: "/"))\": missing value")
                }
                items.insert(value, at: index)
                return .array(items)
            }
            guard let index = Int(token), items.indices.contains(index) else {
                throw Failure(message: "add operation does not apply: doc is missing path: \"/\(path.joined(separator: "/"))\": missing value")
            }
            items[index] = try add(items[index], rest, value)
            return .array(items)
        default:
            throw Failure(message: "add operation does not apply: doc is missing path: \"/\(path.joined(separator: "/"))\": missing value")
        }
    }

    static func remove(_ document: JSONValue, _ path: [String]) throws(Failure) -> (JSONValue, JSONValue) {
        guard let token = path.first else { throw Failure(message: "unable to remove the whole document") }
        let rest = Array(path.dropFirst())
        let missing = Failure(message: "remove operation does not apply: doc is missing path: \"/\(path.joined(separator: "/"))\": missing value")
        switch document {
        case .object(var fields):
            guard let child = fields[token] else { throw missing }
            if rest.isEmpty {
                fields[token] = nil
                return (.object(fields), child)
            }
            let (updated, removed) = try remove(child, rest)
            fields[token] = updated
            return (.object(fields), removed)
        case .array(var items):
            guard let index = Int(token), items.indices.contains(index) else { throw missing }
            if rest.isEmpty {
                let removed = items.remove(at: index)
                return (.array(items), removed)
            }
            let (updated, removed) = try remove(items[index], rest)
            items[index] = updated
            return (.array(items), removed)
        default:
            throw missing
        }
    }

    // MARK: strategic merge patch

    /// Applies a strategic merge patch to `target`, an object of schema type `typeName`.
    public static func strategic(_ target: JSONValue, _ patch: JSONValue, type typeName: String,
                                 schema: APISchema = .kubernetes) throws(Failure) -> JSONValue {
        guard case .object = patch else { throw Failure(message: "the patch must be a JSON object") }
        return try strategicObject(target.objectValue ?? [:], patch.objectValue ?? [:], type: schema[type: typeName], schema: schema)
    }

    static func strategicObject(_ target: [String: JSONValue], _ patch: [String: JSONValue],
                                type: APISchema.ObjectType?, schema: APISchema) throws(Failure) -> JSONValue {
        if let directive = patch["$patch"]?.stringValue {
            switch directive {
            case "replace":
                var replaced = patch
                replaced["$patch"] = nil
                return .object(replaced.filter { !$0.key.hasPrefix("$") })
            case "delete": return .null
            case "merge": break
            default: throw Failure(message: "Unknown patch type: \(directive)")
            }
        }
        var fields = target
        if let retain = patch["$retainKeys"]?.arrayValue {
            let keep = Set(retain.compactMap(\.stringValue))
            fields = fields.filter { keep.contains($0.key) }
        }
        for (key, value) in patch where !key.hasPrefix("$") {
            let field = type?.fields[key]
            if value.isNull {
                fields[key] = nil
                continue
            }
            switch (field?.type, value) {
            case (.object?, .object(let patchFields)) where field?.replace == true:
                fields[key] = .object(patchFields.filter { !$0.key.hasPrefix("$") })
            case (.object(let name)?, .object(let patchFields)):
                let merged = try strategicObject(fields[key]?.objectValue ?? [:], patchFields, type: schema[type: name], schema: schema)
                fields[key] = merged.isNull ? nil : merged
            case (.map(let element)?, .object(let patchFields)):
                if field?.atomicMap == true { fields[key] = value; continue }
                var map = fields[key]?.objectValue ?? [:]
                if patchFields["$patch"]?.stringValue == "replace" {
                    map = [:]
                }
                for (entryKey, entryValue) in patchFields where !entryKey.hasPrefix("$") {
                    if entryValue.isNull {
                        map[entryKey] = nil
                    } else if case .object(let elementName) = element, case .object(let entryFields) = entryValue {
                        map[entryKey] = try strategicObject(map[entryKey]?.objectValue ?? [:], entryFields, type: schema[type: elementName], schema: schema)
                    } else {
                        map[entryKey] = entryValue
                    }
                }
                fields[key] = .object(map)
            case (.list(let element)?, .array(let items)):
                guard let field, field.mergeStrategy else {
                    fields[key] = .array(items)
                    continue
                }
                let order = patch["$setElementOrder/\(key)"]?.arrayValue
                let deletions = patch["$deleteFromPrimitiveList/\(key)"]?.arrayValue ?? []
                fields[key] = try mergeList(fields[key]?.arrayValue ?? [], items, element: element, mergeKey: field.mergeKey,
                                            order: order, deletions: deletions, schema: schema)
            default:
                if case .object(let patchFields) = value, field == nil || field?.type == .raw {
                    fields[key] = field == nil ? merge(fields[key] ?? .null, .object(patchFields)) : value
                } else {
                    fields[key] = value
                }
            }
        }
        // Directives for lists the patch did not otherwise touch.
        for (key, value) in patch where key.hasPrefix("$deleteFromPrimitiveList/") {
            let name = String(key.dropFirst("$deleteFromPrimitiveList/".count))
            guard patch[name] == nil, let current = fields[name]?.arrayValue else { continue }
            let remove = value.arrayValue ?? []
            fields[name] = .array(current.filter { !remove.contains($0) })
        }
        for (key, value) in patch where key.hasPrefix("$setElementOrder/") {
            let name = String(key.dropFirst("$setElementOrder/".count))
            guard patch[name] == nil, let current = fields[name]?.arrayValue, let field = type?.fields[name] else { continue }
            fields[name] = .array(reorder(current, by: value.arrayValue ?? [], mergeKey: field.mergeKey))
        }
        return .object(fields)
    }

    static func mergeList(_ target: [JSONValue], _ patch: [JSONValue], element: APISchema.FieldType, mergeKey: String?,
                          order: [JSONValue]?, deletions: [JSONValue], schema: APISchema) throws(Failure) -> JSONValue {
        guard let mergeKey, case .object(let elementName) = element else {
            // A list of scalars merged as a set: the union, without the deleted values.
            var result = target.filter { !deletions.contains($0) }
            for item in patch where !result.contains(item) { result.append(item) }
            if let order { result = reorder(result, by: order, mergeKey: nil) }
            return .array(result)
        }
        if patch.contains(where: { $0["$patch"]?.stringValue == "replace" }) {
            return .array(patch.filter { $0["$patch"] == nil })
        }
        var result = target
        for item in patch {
            guard case .object(let itemFields) = item else { throw Failure(message: "a list merged by \(mergeKey) holds objects") }
            let key = itemFields[mergeKey]
            if itemFields["$patch"]?.stringValue == "delete" {
                result.removeAll { $0[mergeKey] == key }
                continue
            }
            guard key != nil else { throw Failure(message: "map: \(item) does not contain declared merge key: \(mergeKey)") }
            if let index = result.firstIndex(where: { $0[mergeKey] == key }) {
                result[index] = try strategicObject(result[index].objectValue ?? [:], itemFields, type: schema[type: elementName], schema: schema)
            } else {
                var added = itemFields
                added["$patch"] = nil
                result.append(try strategicObject([:], added, type: schema[type: elementName], schema: schema))
            }
        }
        if let order { result = reorder(result, by: order, mergeKey: mergeKey) }
        return .array(result)
    }

    /// Orders `items` as `order` lists them (by merge key); items not in the order keep their place after them.
    static func reorder(_ items: [JSONValue], by order: [JSONValue], mergeKey: String?) -> [JSONValue] {
        func identity(_ item: JSONValue) -> JSONValue? { mergeKey.map { item[$0] ?? .null } ?? item }
        var remaining = items
        var result: [JSONValue] = []
        for wanted in order {
            let wantedKey = mergeKey.map { wanted[$0] ?? .null } ?? wanted
            if let index = remaining.firstIndex(where: { identity($0) == wantedKey }) {
                result.append(remaining.remove(at: index))
            }
        }
        return result + remaining
    }
}
