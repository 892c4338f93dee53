import Resources

/// An error answer of the API server, carrying its Kubernetes `Status` (code, reason, message), or a transport
/// failure (code 0) after every server was tried. Callers branch on the reason, as client-go's `apierrors` do.
public struct APIError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status code; 0 when no server answered.
    public var code: Int
    /// Status.reason ("NotFound", "Conflict", "AlreadyExists", "Expired", …), or "" when absent.
    public var reason: String
    public var message: String
    /// The whole Status object, when the server sent one.
    public var status: JSONValue?

    public init(code: Int, reason: String, message: String, status: JSONValue? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.status = status
    }

    /// Reads a Status from an error answer's body; a body that is not one still gives a useful message.
    public init(status code: Int, body: [UInt8]) {
        if let value = try? JSONParser.parse(body), value["kind"]?.stringValue == "Status" {
            self.init(code: code, reason: value["reason"]?.stringValue ?? "",
                      message: value["message"]?.stringValue ?? "", status: value)
        } else {
            self.init(code: code, reason: "", message: String(decoding: body.prefix(500), as: UTF8.self))
        }
    }

    public static func unreachable(_ message: String) -> APIError {
        APIError(code: 0, reason: "ServiceUnavailable", message: message)
    }

    public var isNotFound: Bool { code == 404 }
    public var isConflict: Bool { code == 409 && reason != "AlreadyExists" }
    public var isAlreadyExists: Bool { code == 409 && reason == "AlreadyExists" }
    /// The resourceVersion asked for is compacted away: relist.
    public var isGone: Bool { code == 410 || reason == "Expired" || reason == "Gone" }
    /// Worth retrying later as it is: throttled, unavailable, timed out, or no server reachable.
    public var isTransient: Bool { code == 0 || code == 429 || code == 503 || code == 504 || code == 500 && reason == "Timeout" }

    public var description: String {
        code == 0 ? message : "\(code) \(reason.isEmpty ? "" : reason + ": ")\(message)"
    }
}
