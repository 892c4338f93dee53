import Resources

/// Turns a request body into an object of the resource's type: JSON or Kubernetes protobuf, checked against the
/// schema, with unknown and duplicated fields handled as `fieldValidation` asks (Strict: refused; Warn, the
/// server's default: warned about; Ignore: dropped silently).
struct BodyDecoder {
    enum FieldValidation: String {
        case strict = "Strict", warn = "Warn", ignore = "Ignore"
    }

    struct Decoded {
        var object: JSONValue
        /// `Warning` headers to send ("unknown field \"spec.foo\"").
        var warnings: [String]
    }

    static func fieldValidation(_ query: URLQuery) throws(Status) -> FieldValidation {
        guard let value = query["fieldValidation"], !value.isEmpty else { return .warn }
        guard let mode = FieldValidation(rawValue: value) else {
            throw Status.badRequest("fieldValidation parameter unsupported: \(value)")
        }
        return mode
    }

    /// Reads a YAML body (JSON is YAML too). `problem` words the error for a malformed one as kube-apiserver
    /// does on that path. NaN and infinities, which YAML has and JSON has not, are refused as kube-apiserver's
    /// conversion to JSON refuses them.
    static func parseYAML(_ body: [UInt8], problem: (String) -> String) throws(Status) -> (value: JSONValue, duplicates: [String]) {
        let parsed: (value: JSONValue, duplicateFields: [String])
        do {
            parsed = try YAMLParser.parseNoting(body)
        } catch {
            throw Status.badRequest(problem(error.message))
        }
        if let bad = firstNonFinite(parsed.value) {
            throw Status.badRequest(problem("json: unsupported value: \(bad)"))
        }
        return (parsed.value, parsed.duplicateFields)
    }

    private static func firstNonFinite(_ value: JSONValue) -> String? {
        switch value {
        case .double(let number) where !number.isFinite: return number.isNaN ? "NaN" : number < 0 ? "-Inf" : "+Inf"
        case .array(let items): return items.lazy.compactMap(firstNonFinite).first
        case .object(let fields): return fields.values.lazy.compactMap(firstNonFinite).first
        default: return nil
        }
    }

    /// Decodes `request`'s body as an object of `type` (or of the schema type `schemaType` for subresources).
    static func decode(_ request: APIRequest, as type: ResourceType, schemaType: String? = nil,
                       kind: String? = nil, apiVersion: String? = nil) throws(Status) -> Decoded {
        let validation = try fieldValidation(request.query)
        let expectedKind = kind ?? type.kind
        let expectedVersion = apiVersion ?? type.apiVersion
        let schemaName = schemaType ?? type.schemaType
        var value: JSONValue
        var problems: [String] = []
        switch request.contentType ?? "application/json" {
        case "application/json", "*/*":
            do {
                let (parsed, duplicates) = try JSONParser.parseNoting(request.body)
                value = parsed
                problems += duplicates.map { "duplicate field \"\($0)\"" }
            } catch {
                throw Status.badRequest("couldn't get version/kind; json parse error: \(error.message)")
            }
        case "application/yaml", "application/apply-patch+yaml":
            let (parsed, duplicates) = try parseYAML(request.body) { "the object provided is unrecognized (must be of type \(expectedKind)): \($0)" }
            value = parsed
            problems += duplicates.map { "duplicate field \"\($0)\"" }
        case "application/vnd.kubernetes.protobuf":
            do {
                value = try ProtobufObjectDecoder().decode(request.body, as: schemaName)
            } catch {
                throw Status.badRequest("\(expectedKind) in version \"\(type.version)\" cannot be handled as a \(expectedKind): \(error.message)")
            }
        case let other:
            throw Status.unsupportedMediaType(other)
        }
        guard case .object = value else {
            throw Status.badRequest("couldn't get version/kind; json parse error: json: cannot unmarshal \(value.typeName) into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }")
        }
        if let kind = value["kind"]?.stringValue, !kind.isEmpty, kind != expectedKind {
            throw Status.badRequest("the kind in the data (\(kind)) does not match the expected kind (\(expectedKind))")
        }
        if let version = value["apiVersion"]?.stringValue, !version.isEmpty, version != expectedVersion {
            throw Status.badRequest("the API version in the data (\(version)) does not match the expected API version (\(expectedVersion))")
        }
        var decoder = ObjectDecoder()
        do {
            value = try decoder.decode(value, as: schemaName)
        } catch {
            throw Status.badRequest("\(expectedKind) in version \"\(type.version)\" cannot be handled as a \(expectedKind): \(error.message)")
        }
        problems += decoder.unknownFields.map { "unknown field \"\($0)\"" }
        value["kind"] = .string(expectedKind)
        value["apiVersion"] = .string(expectedVersion)
        switch validation {
        case .strict where !problems.isEmpty:
            throw Status.badRequest("\(expectedKind) in version \"\(type.version)\" cannot be handled as a \(expectedKind): strict decoding error: " + problems.joined(separator: ", "))
        case .warn:
            return Decoded(object: value, warnings: problems)
        default:
            return Decoded(object: value, warnings: [])
        }
    }
}
