import NIOHTTP1
import Resources

/// A `metav1.Status`: how every failure (and some successes) is answered, with Kubernetes' reasons, codes and
/// wording, because clients (kubectl, client-go, the Python client) decide what to do from them.
public struct Status: Error, Sendable {
    public var code: HTTPResponseStatus
    public var reason: String
    public var message: String
    public var details: JSONValue?
    /// Extra headers (Retry-After).
    public var headers: [(String, String)] = []

    public static func failure(_ code: HTTPResponseStatus, reason: String, message: String, details: JSONValue? = nil) -> Status {
        Status(code: code, reason: reason, message: message, details: details)
    }

    public var json: JSONValue {
        var object: JSONValue = ["kind": "Status", "apiVersion": "v1", "metadata": [:],
                                 "status": code.code < 300 ? "Success" : "Failure", "message": .string(message),
                                 "reason": .string(reason), "code": .int(Int64(code.code))]
        if reason.isEmpty { object["reason"] = nil }
        if message.isEmpty { object["message"] = nil }
        if let details { object["details"] = details }
        return object
    }

    public var response: APIResponse {
        var response = APIResponse.json(code, JSONWriter.bytes(json))
        for (name, value) in headers { response.headers.add(name: name, value: value) }
        return response
    }

    static func details(_ resource: ResourceType?, name: String?) -> JSONValue {
        var details: JSONValue = [:]
        if let name, !name.isEmpty { details["name"] = .string(name) }
        if let resource {
            if !resource.group.isEmpty { details["group"] = .string(resource.group) }
            details["kind"] = .string(resource.plural)
        }
        return details
    }

    public static func notFound(_ resource: ResourceType, name: String) -> Status {
        .failure(.notFound, reason: "NotFound", message: "\(resource.qualifiedName) \"\(name)\" not found",
                 details: details(resource, name: name))
    }

    public static func namespaceNotFound(_ namespace: String) -> Status {
        .failure(.notFound, reason: "NotFound", message: "namespaces \"\(namespace)\" not found",
                 details: ["name": .string(namespace), "kind": "namespaces"])
    }

    public static let routeNotFound = Status.failure(.notFound, reason: "NotFound",
                                                     message: "the server could not find the requested resource",
                                                     details: [:])

    public static func alreadyExists(_ resource: ResourceType, name: String) -> Status {
        .failure(.conflict, reason: "AlreadyExists", message: "\(resource.qualifiedName) \"\(name)\" already exists",
                 details: details(resource, name: name))
    }

    public static func conflict(_ resource: ResourceType, name: String, _ why: String = "the object has been modified; please apply your changes to the latest version and try again") -> Status {
        .failure(.conflict, reason: "Conflict",
                 message: "Operation cannot be fulfilled on \(resource.qualifiedName) \"\(name)\": \(why)",
                 details: details(resource, name: name))
    }

    public static func invalid(_ resource: ResourceType, name: String, _ errors: [FieldError]) -> Status {
        let summary = errors.count == 1 ? errors[0].description : "[" + errors.map(\.description).joined(separator: ", ") + "]"
        var details = details(resource, name: name)
        details["kind"] = .string(resource.kind)
        details["causes"] = .array(errors.map { ["reason": .string($0.kind.rawValue), "message": .string($0.message), "field": .string($0.field)] })
        let kind = resource.group.isEmpty ? resource.kind : "\(resource.kind).\(resource.group)"
        return .failure(.unprocessableEntity, reason: "Invalid", message: "\(kind) \"\(name)\" is invalid: \(summary)", details: details)
    }

    public static func badRequest(_ message: String) -> Status {
        .failure(.badRequest, reason: "BadRequest", message: message)
    }

    public static func gone(_ message: String) -> Status {
        .failure(.gone, reason: "Expired", message: message)
    }

    public static func methodNotAllowed(_ method: HTTPMethod) -> Status {
        .failure(.methodNotAllowed, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource")
    }

    public static func unsupportedMediaType(_ type: String) -> Status {
        .failure(.unsupportedMediaType, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got \(type))")
    }

    public static let unauthorized = Status.failure(.unauthorized, reason: "Unauthorized", message: "Unauthorized")

    public static func tooManyRequests(retryAfter seconds: Int) -> Status {
        var status = Status.failure(.tooManyRequests, reason: "TooManyRequests", message: "Too many requests, please try again later.",
                                    details: ["retryAfterSeconds": .int(Int64(seconds))])
        status.headers = [("Retry-After", String(seconds))]
        return status
    }

    public static func internalError(_ message: String) -> Status {
        .failure(.internalServerError, reason: "InternalError", message: "Internal error occurred: \(message)")
    }

    public static func timeout(_ message: String) -> Status {
        .failure(.gatewayTimeout, reason: "Timeout", message: message)
    }

    public static func serviceUnavailable(_ message: String) -> Status {
        .failure(.serviceUnavailable, reason: "ServiceUnavailable", message: message)
    }

    public static func forbidden(_ resource: ResourceType?, name: String?, _ why: String) -> Status {
        let target = resource.map { "\($0.qualifiedName) \"\(name ?? "")\"" } ?? "the request"
        return .failure(.forbidden, reason: "Forbidden", message: "\(target) is forbidden: \(why)", details: details(resource, name: name))
    }

    public static func success(_ resource: ResourceType, name: String, uid: String?) -> Status {
        var details = details(resource, name: name)
        if let uid { details["uid"] = .string(uid) }
        return Status(code: .ok, reason: "", message: "", details: details)
    }
}
