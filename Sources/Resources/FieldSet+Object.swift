/// The field sets of objects, read through the schema as server-side apply reads them: struct fields and map
/// keys are `f:` steps, items of keyed lists `k:` steps, items of sets `v:` steps; atomic lists, atomic maps,
/// atomic structs and scalars are leaves.
extension FieldSet {
    indirect enum Shape {
        case leaf
        case structure(APISchema.ObjectType)
        case map(APISchema.FieldType)
        case keyed(keys: [String], element: APISchema.FieldType)
        case set
    }

    static func shape(of type: APISchema.FieldType, field: APISchema.Field?) -> Shape {
        switch type {
        case .object(let name):
            guard let objectType = APISchema.kubernetes.types[name], !objectType.atomic else { return .leaf }
            return .structure(objectType)
        case .map(let element):
            return field?.atomicMap == true ? .leaf : .map(element)
        case .list(let element):
            switch field?.listType {
            case .map(let keys)?: return .keyed(keys: keys, element: element)
            case .set?: return .set
            case .atomic?: return .leaf
            case nil:
                guard field?.mergeStrategy == true else { return .leaf }
                if case .object = element, let key = field?.mergeKey { return .keyed(keys: [key], element: element) }
                if case .object = element { return .leaf }
                return .set
            }
        default:
            return .leaf
        }
    }

    /// The shape of a struct's field (an unknown one is a leaf).
    static func fieldShape(_ type: APISchema.ObjectType, _ name: String) -> Shape {
        type.fields[name].map { shape(of: $0.type, field: $0) } ?? .leaf
    }

    static func rootShape(_ schemaType: String) -> Shape {
        shape(of: .object(schemaType), field: nil)
    }

    /// The `k:` step of a keyed list's item: its key fields as compact JSON, names sorted; a key left out takes
    /// its default (a port's protocol is TCP).
    static func keyElement(_ item: JSONValue, keys: [String]) -> Element {
        var fields: [String: JSONValue] = [:]
        for key in keys {
            if let value = item[key], !value.isNull {
                fields[key] = value
            } else if key == "protocol" {
                fields[key] = "TCP"
            }
        }
        return .key(JSONWriter.string(.object(fields)))
    }

    // MARK: The set an applied configuration owns

    /// Every field `config` sets: scalars, list items, map keys, and empty or null structs.
    public static func applied(_ config: JSONValue, schemaType: String) -> FieldSet {
        var set = FieldSet()
        collect(config, shape: rootShape(schemaType), into: &set)
        return set
    }

    private static func collect(_ value: JSONValue, shape: Shape, into set: inout FieldSet) {
        switch (shape, value) {
        case (.structure(let type), .object(let fields)):
            for (name, child) in fields {
                let childShape = fieldShape(type, name)
                var node = FieldSet()
                if Self.isLeafValue(child, shape: childShape) { node.isMember = true }
                collect(child, shape: childShape, into: &node)
                set.children[.field(name)] = node
            }
        case (.map(let element), .object(let fields)):
            let childShape = Self.shape(of: element, field: nil)
            for (key, child) in fields {
                var node = FieldSet()
                node.isMember = true
                collect(child, shape: childShape, into: &node)
                set.children[.field(key)] = node
            }
        case (.keyed(let keys, let element), .array(let items)):
            let childShape = Self.shape(of: element, field: nil)
            for item in items {
                var node = FieldSet()
                node.isMember = true
                collect(item, shape: childShape, into: &node)
                set.children[keyElement(item, keys: keys)] = node
            }
        case (.set, .array(let items)):
            for item in items {
                var node = FieldSet()
                node.isMember = true
                set.children[.value(JSONWriter.string(item))] = node
            }
        default:
            break
        }
    }

    /// Whether a field's value counts as a leaf of the set (a scalar, an atomic value, or an empty or null
    /// container).
    private static func isLeafValue(_ value: JSONValue, shape: Shape) -> Bool {
        if case .leaf = shape { return true }
        switch value {
        case .null: return true
        case .object(let fields): return fields.isEmpty
        case .array(let items): return items.isEmpty
        default: return true
        }
    }

    // MARK: What an update changed

    public struct Changes: Sendable, Equatable {
        /// Paths new in the object, with everything under them.
        public var added = FieldSet()
        /// Leaves whose value changed.
        public var modified = FieldSet()
        /// Paths gone from the object, with everything that was under them.
        public var removed = FieldSet()

        public var changed: FieldSet { added.union(modified) }
    }

    /// The difference between two versions of an object (`old` nil: created from nothing).
    public static func changes(from old: JSONValue?, to new: JSONValue, schemaType: String) -> Changes {
        var changes = Changes()
        compare(old, new, shape: rootShape(schemaType), path: [], into: &changes)
        return changes
    }

    private static func present(_ value: JSONValue?) -> JSONValue? {
        guard let value, !value.isNull else { return nil }
        return value
    }

    private static func compare(_ old: JSONValue?, _ new: JSONValue?, shape: Shape, path: [Element], into changes: inout Changes) {
        switch (present(old), present(new)) {
        case (nil, nil):
            return
        case (nil, let new?):
            if !path.isEmpty { changes.added.insert(path) }
            everything(new, shape: shape, path: path, into: &changes.added)
        case (let old?, nil):
            changes.removed.insert(path)
            everything(old, shape: shape, path: path, into: &changes.removed)
        case (let old?, let new?):
            switch (shape, old, new) {
            case (.structure(let type), .object(let before), .object(let after)):
                for name in Set(before.keys).union(after.keys) {
                    let childShape = fieldShape(type, name)
                    compare(before[name], after[name], shape: childShape, path: path + [.field(name)], into: &changes)
                }
            case (.map(let element), .object(let before), .object(let after)):
                let childShape = Self.shape(of: element, field: nil)
                for key in Set(before.keys).union(after.keys) {
                    compare(before[key], after[key], shape: childShape, path: path + [.field(key)], into: &changes)
                }
            case (.keyed(let keys, let element), .array(let before), .array(let after)):
                let childShape = Self.shape(of: element, field: nil)
                let beforeItems = Dictionary(before.map { (keyElement($0, keys: keys), $0) }, uniquingKeysWith: { first, _ in first })
                let afterItems = Dictionary(after.map { (keyElement($0, keys: keys), $0) }, uniquingKeysWith: { first, _ in first })
                for element in Set(beforeItems.keys).union(afterItems.keys) {
                    compare(beforeItems[element], afterItems[element], shape: childShape, path: path + [element], into: &changes)
                }
            case (.set, .array(let before), .array(let after)):
                let beforeValues = Set(before.map { JSONWriter.string($0) })
                let afterValues = Set(after.map { JSONWriter.string($0) })
                for value in afterValues.subtracting(beforeValues) { changes.added.insert(path + [.value(value)]) }
                for value in beforeValues.subtracting(afterValues) { changes.removed.insert(path + [.value(value)]) }
            default:
                if old != new { changes.modified.insert(path) }
            }
        }
    }

    /// Inserts every path under `value` (which sits at `path`).
    private static func everything(_ value: JSONValue, shape: Shape, path: [Element], into set: inout FieldSet) {
        switch (shape, value) {
        case (.structure(let type), .object(let fields)):
            for (name, child) in fields where !child.isNull {
                let childShape = fieldShape(type, name)
                set.insert(path + [.field(name)])
                everything(child, shape: childShape, path: path + [.field(name)], into: &set)
            }
        case (.map(let element), .object(let fields)):
            let childShape = Self.shape(of: element, field: nil)
            for (key, child) in fields where !child.isNull {
                set.insert(path + [.field(key)])
                everything(child, shape: childShape, path: path + [.field(key)], into: &set)
            }
        case (.keyed(let keys, let element), .array(let items)):
            let childShape = Self.shape(of: element, field: nil)
            for item in items {
                let element = keyElement(item, keys: keys)
                set.insert(path + [element])
                everything(item, shape: childShape, path: path + [element], into: &set)
            }
        case (.set, .array(let items)):
            for item in items { set.insert(path + [.value(JSONWriter.string(item))]) }
        default:
            break
        }
    }

    // MARK: Merging an applied configuration

    /// `live` with `config` applied as server-side apply merges: structs and granular maps field by field, keyed
    /// lists item by item on all their keys (a Service's ports by port and protocol), sets by value, and
    /// everything atomic replaced whole; a null in the configuration removes the field.
    public static func merged(_ live: JSONValue, _ config: JSONValue, schemaType: String) -> JSONValue {
        merge(live, config, shape: rootShape(schemaType))
    }

    private static func merge(_ live: JSONValue?, _ config: JSONValue, shape: Shape) -> JSONValue {
        switch (shape, live, config) {
        case (.structure(let type), .object(var fields)?, .object(let applied)):
            for (name, value) in applied {
                if value.isNull {
                    fields.removeValue(forKey: name)
                    continue
                }
                fields[name] = merge(fields[name], value, shape: fieldShape(type, name))
            }
            return .object(fields)
        case (.map(let element), .object(var fields)?, .object(let applied)):
            let childShape = Self.shape(of: element, field: nil)
            for (key, value) in applied {
                if value.isNull {
                    fields.removeValue(forKey: key)
                } else {
                    fields[key] = merge(fields[key], value, shape: childShape)
                }
            }
            return .object(fields)
        case (.keyed(let keys, let element), .array(var items)?, .array(let applied)):
            let childShape = Self.shape(of: element, field: nil)
            var positions: [Element: Int] = [:]
            for (offset, item) in items.enumerated() where positions[keyElement(item, keys: keys)] == nil {
                positions[keyElement(item, keys: keys)] = offset
            }
            for item in applied {
                let element = keyElement(item, keys: keys)
                if let offset = positions[element] {
                    items[offset] = merge(items[offset], item, shape: childShape)
                } else {
                    positions[element] = items.count
                    items.append(item)
                }
            }
            return .array(items)
        case (.set, .array(let items)?, .array(let applied)):
            return .array(items + applied.filter { !items.contains($0) })
        default:
            return config
        }
    }

    // MARK: Removing fields

    /// `object` without the member paths of this set (what apply prunes when its manager stops setting them).
    public func removing(from object: JSONValue, schemaType: String) -> JSONValue {
        remove(from: object, shape: Self.rootShape(schemaType))
    }

    private func remove(from value: JSONValue, shape: Shape) -> JSONValue {
        switch (shape, value) {
        case (.structure(let type), .object(var fields)):
            for (element, child) in children {
                guard case .field(let name) = element, let current = fields[name] else { continue }
                if child.isMember {
                    fields.removeValue(forKey: name)
                } else {
                    let childShape = Self.fieldShape(type, name)
                    fields[name] = child.remove(from: current, shape: childShape)
                }
            }
            return .object(fields)
        case (.map(let elementType), .object(var fields)):
            let childShape = Self.shape(of: elementType, field: nil)
            for (element, child) in children {
                guard case .field(let key) = element, let current = fields[key] else { continue }
                if child.isMember {
                    fields.removeValue(forKey: key)
                } else {
                    fields[key] = child.remove(from: current, shape: childShape)
                }
            }
            return .object(fields)
        case (.keyed(let keys, let elementType), .array(let items)):
            let childShape = Self.shape(of: elementType, field: nil)
            return .array(items.compactMap { item in
                guard let child = children[Self.keyElement(item, keys: keys)] else { return item }
                if child.isMember { return Optional<JSONValue>.none }
                return child.remove(from: item, shape: childShape)
            })
        case (.set, .array(let items)):
            return .array(items.filter { children[.value(JSONWriter.string($0))]?.isMember != true })
        default:
            return value
        }
    }

    // MARK: The empty object

    /// The object a create starts from, as the Go type's zero value reads in JSON: its non-pointer structs
    /// present and empty, everything else absent. Fields of those structs that a create sets are not "new".
    public static func zeroObject(_ schemaType: String) -> JSONValue {
        zeroObjects[schemaType] ?? .object([:])
    }

    /// Every schema type's zero object, computed once (every create needs its type's).
    private static let zeroObjects: [String: JSONValue] = Dictionary(
        uniqueKeysWithValues: APISchema.kubernetes.types.keys.map { ($0, zero($0, depth: 0)) })

    private static func zero(_ schemaType: String, depth: Int) -> JSONValue {
        guard depth < 12, let type = APISchema.kubernetes.types[schemaType] else { return .object([:]) }
        var fields: [String: JSONValue] = [:]
        for field in type.fields.values where !field.pointer {
            if case .object(let name) = field.type, APISchema.kubernetes.types[name]?.atomic == false {
                fields[field.name] = zero(name, depth: depth + 1)
            }
        }
        return .object(fields)
    }
}
