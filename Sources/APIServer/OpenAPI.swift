import Resources

/// /openapi/v3: one document per group-version, built from the same schema the server decodes with, so
/// `kubectl apply` finds the PATCH operation with `fieldValidation` it needs for server-side validation, and
/// `kubectl explain` and client-side strategic merges find the fields, merge keys and list types. Field
/// descriptions are not included (the schema carries no documentation).
enum OpenAPI {
    static func schemaName(_ type: String) -> String {
        let parts = type.split(separator: ".")
        guard parts.count == 3 else { return type }
        if parts[0] == "meta" { return "io.k8s.apimachinery.pkg.apis.meta.v1.\(parts[2])" }
        return "io.k8s.api.\(parts[0]).\(parts[1]).\(parts[2])"
    }

    static func fieldSchema(_ type: APISchema.FieldType) -> JSONValue {
        switch type {
        case .string(let enumeration):
            if let enumeration, let values = APISchema.kubernetes.enumerations[enumeration] {
                return ["type": "string", "enum": .array(values.map { .string($0) })]
            }
            return ["type": "string"]
        case .int32: return ["type": "integer", "format": "int32"]
        case .int64: return ["type": "integer", "format": "int64"]
        case .bool: return ["type": "boolean"]
        case .double: return ["type": "number", "format": "double"]
        case .quantity: return ["$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"]
        case .intOrString: return ["$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
        case .time: return ["$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Time"]
        case .microTime: return ["$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"]
        case .duration: return ["type": "string"]
        case .bytes: return ["type": "string", "format": "byte"]
        case .raw: return ["type": "object", "x-kubernetes-preserve-unknown-fields": true]
        case .object(let name): return ["allOf": [["$ref": .string("#/components/schemas/\(schemaName(name))")]], "default": [:]]
        case .list(let element): return ["type": "array", "items": fieldSchema(element)]
        case .map(let element): return ["type": "object", "additionalProperties": fieldSchema(element)]
        }
    }

    static func objectSchema(_ objectType: APISchema.ObjectType) -> JSONValue {
        var properties: [String: JSONValue] = [:]
        var required: [JSONValue] = []
        for name in objectType.fieldOrder {
            guard let field = objectType.fields[name] else { continue }
            var schema = fieldSchema(field.type)
            if field.mergeStrategy || field.retainKeys {
                schema["x-kubernetes-patch-strategy"] = .string([field.mergeStrategy ? "merge" : nil, field.retainKeys ? "retainKeys" : nil]
                    .compactMap { $0 }.joined(separator: ","))
            }
            if let key = field.mergeKey { schema["x-kubernetes-patch-merge-key"] = .string(key) }
            switch field.listType {
            case .atomic?: schema["x-kubernetes-list-type"] = "atomic"
            case .set?: schema["x-kubernetes-list-type"] = "set"
            case .map(let keys)?:
                schema["x-kubernetes-list-type"] = "map"
                schema["x-kubernetes-list-map-keys"] = .array(keys.map { .string($0) })
            case nil: break
            }
            if field.atomicMap { schema["x-kubernetes-map-type"] = "atomic" }
            properties[name] = schema
            if field.required { required.append(.string(name)) }
        }
        var schema: JSONValue = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { schema["required"] = .array(required) }
        if objectType.atomic { schema["x-kubernetes-map-type"] = "atomic" }
        return schema
    }

    /// Every schema type reachable from `roots`.
    static func reachable(_ roots: [String]) -> [String] {
        var seen = Set<String>()
        var queue = roots
        while let name = queue.popLast() {
            guard seen.insert(name).inserted, let objectType = APISchema.kubernetes[type: name] else { continue }
            for field in objectType.fields.values {
                var type = field.type
                while true {
                    switch type {
                    case .list(let inner), .map(let inner): type = inner; continue
                    case .object(let inner): queue.append(inner)
                    default: break
                    }
                    break
                }
            }
        }
        return seen.sorted()
    }

    static func gvk(_ type: ResourceType) -> JSONValue {
        ["group": .string(type.group), "version": .string(type.version), "kind": .string(type.kind)]
    }

    static func reference(_ type: String) -> JSONValue {
        ["content": ["application/json": ["schema": ["$ref": .string("#/components/schemas/\(schemaName(type))")]]]]
    }

    static func parameter(_ name: String, in place: String = "query", type: String = "string") -> JSONValue {
        ["name": .string(name), "in": .string(place), "schema": ["type": .string(type)], "uniqueItems": true]
    }

    static func operation(_ type: ResourceType, action: String, schema: String, body: Bool, query: [String]) -> JSONValue {
        var operation: JSONValue = [
            "operationId": .string("\(action)\(type.kind)"),
            "x-kubernetes-action": .string(action), "x-kubernetes-group-version-kind": gvk(type),
            "parameters": .array(query.map { parameter($0) }),
            "responses": ["200": .object(["description": "OK"].merging(reference(schema).objectValue ?? [:]) { first, _ in first })],
        ]
        if body { operation["requestBody"] = reference(schema) }
        return operation
    }

    static func document(group: String, version: String) -> JSONValue? {
        let types = ResourceType.all.filter { $0.group == group && $0.version == version }
        guard !types.isEmpty else { return nil }
        let base = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        var paths: [String: JSONValue] = [:]
        let writeQuery = ["dryRun", "fieldManager", "fieldValidation", "pretty"]
        for type in types {
            let collection = type.namespaced ? "\(base)/namespaces/{namespace}/\(type.plural)" : "\(base)/\(type.plural)"
            let scopeParameters: [JSONValue] = type.namespaced
                ? [parameter("namespace", in: "path"), ] : []
            let listType = type.schemaType
            paths[collection] = [
                "parameters": .array(scopeParameters),
                "get": operation(type, action: "list", schema: listType, body: false,
                                 query: ["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch", "timeoutSeconds"]),
                "post": operation(type, action: "post", schema: type.schemaType, body: true, query: writeQuery),
                "delete": operation(type, action: "deletecollection", schema: "meta.v1.Status", body: false, query: ["labelSelector", "fieldSelector"]),
            ]
            let item = "\(collection)/{name}"
            var patch = operation(type, action: "patch", schema: type.schemaType, body: true, query: writeQuery + ["force"])
            patch["requestBody"] = ["content": ["application/json-patch+json": ["schema": ["type": "object"]],
                                                "application/merge-patch+json": ["schema": ["type": "object"]],
                                                "application/strategic-merge-patch+json": ["schema": ["type": "object"]],
                                                "application/apply-patch+yaml": ["schema": ["type": "object"]]]]
            paths[item] = [
                "parameters": .array(scopeParameters + [parameter("name", in: "path")]),
                "get": operation(type, action: "get", schema: type.schemaType, body: false, query: []),
                "put": operation(type, action: "put", schema: type.schemaType, body: true, query: writeQuery),
                "patch": patch,
                "delete": operation(type, action: "delete", schema: "meta.v1.Status", body: false, query: ["gracePeriodSeconds", "propagationPolicy", "dryRun"]),
            ]
            for sub in type.subresources where sub.name == "status" || sub.name == "scale" {
                let schema = sub.name == "scale" ? "autoscaling.v1.Scale" : type.schemaType
                var subPatch = operation(type, action: "patch", schema: schema, body: true, query: writeQuery + ["force"])
                subPatch["requestBody"] = patch["requestBody"]
                paths["\(item)/\(sub.name)"] = [
                    "parameters": .array(scopeParameters + [parameter("name", in: "path")]),
                    "get": operation(type, action: "get", schema: schema, body: false, query: []),
                    "put": operation(type, action: "put", schema: schema, body: true, query: writeQuery),
                    "patch": subPatch,
                ]
            }
        }
        var schemas: [String: JSONValue] = [
            "io.k8s.apimachinery.pkg.api.resource.Quantity": ["oneOf": [["type": "string"], ["type": "number"]]],
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString": ["oneOf": [["type": "integer"], ["type": "string"]], "format": "int-or-string"],
            "io.k8s.apimachinery.pkg.apis.meta.v1.Time": ["type": "string", "format": "date-time"],
            "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": ["type": "string", "format": "date-time"],
        ]
        for name in reachable(types.map(\.schemaType) + ["meta.v1.Status", "meta.v1.DeleteOptions", "autoscaling.v1.Scale"]) {
            guard let objectType = APISchema.kubernetes[type: name] else { continue }
            var schema = objectSchema(objectType)
            let kinds = types.filter { $0.schemaType == name }
            if !kinds.isEmpty { schema["x-kubernetes-group-version-kind"] = .array(kinds.map(gvk)) }
            if name == "autoscaling.v1.Scale" { schema["x-kubernetes-group-version-kind"] = [["group": "autoscaling", "version": "v1", "kind": "Scale"]] }
            schemas[schemaName(name)] = schema
        }
        return ["openapi": "3.0.0", "info": ["title": "Kubernetes", "version": .string(Version.gitVersion)],
                "paths": .object(paths), "components": ["schemas": .object(schemas)]]
    }

    /// The root: where each group-version's document is, with a hash of it so clients' caches stay right.
    static func root(documents: [String: [UInt8]]) -> JSONValue {
        var paths: [String: JSONValue] = [:]
        for (path, bytes) in documents {
            paths[path] = ["serverRelativeURL": .string("/openapi/v3/\(path)?hash=\(hash(bytes))")]
        }
        return ["paths": .object(paths)]
    }

    static func hash(_ bytes: [UInt8]) -> String {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hex = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
