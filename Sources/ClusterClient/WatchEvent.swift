import NIOCore
import Resources

/// One event of a watch stream, as the API server sends it: a line `{"type":…,"object":…}`.
public struct WatchEvent: Sendable {
    public enum Kind: String, Sendable {
        case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR"
    }

    public var kind: Kind
    public var object: JSONValue

    public init(kind: Kind, object: JSONValue) {
        self.kind = kind
        self.object = object
    }

    /// Parses one line of a watch answer.
    public init(line: ByteBuffer) throws(APIError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(Array(line.readableBytesView))
        } catch {
            throw APIError(code: 200, reason: "InvalidBody", message: "a watch event is not JSON: \(error)")
        }
        guard let type = value["type"]?.stringValue, let kind = Kind(rawValue: type), let object = value["object"] else {
            throw APIError(code: 200, reason: "InvalidBody", message: "a watch event lacks its type or object")
        }
        self.init(kind: kind, object: object)
    }

    /// The error an ERROR event carries (its object is a Status: 410 Expired when the version is compacted).
    public var error: APIError? {
        guard kind == .error else { return nil }
        return APIError(code: Int(object["code"]?.intValue ?? 500), reason: object["reason"]?.stringValue ?? "",
                        message: object["message"]?.stringValue ?? "", status: object)
    }
}
