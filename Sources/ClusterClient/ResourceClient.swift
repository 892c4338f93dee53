import NIOCore
import NIOHTTP1
import Resources

/// The REST verbs on one resource type (its paths, query parameters, and subresources), over a shared `APIClient`.
/// Objects are `JSONValue`s checked by the API server; typed views (`Pod`, `Node`, …) read them.
public struct ResourceClient: Sendable {
    public let api: APIClient
    public let type: ResourceType

    /// A bound on each request's answer shorter than the client's (leader election's writes must not outlive
    /// the renew deadline); nil: the client's.
    public var timeout: TimeAmount?

    public init(_ api: APIClient, _ type: ResourceType, timeout: TimeAmount? = nil) {
        self.api = api
        self.type = type
        self.timeout = timeout
    }

    private func json(_ request: HTTPRequest) async throws(APIError) -> JSONValue {
        var request = request
        request.timeout = timeout
        return try await api.json(request)
    }

    /// One page of a list, with the version to watch from.
    public struct ObjectList: Sendable {
        public var items: [JSONValue]
        public var resourceVersion: String
        /// The token for the next page, empty on the last.
        public var continueToken: String
    }

    public enum PatchType: String, Sendable {
        case merge = "application/merge-patch+json"
        case strategic = "application/strategic-merge-patch+json"
        case json = "application/json-patch+json"
        case apply = "application/apply-patch+yaml"
    }

    public func path(namespace: String?, name: String? = nil, subresource: String? = nil, query: [(String, String)] = []) -> String {
        Self.path(type, namespace: namespace, name: name, subresource: subresource, query: query)
    }

    /// The URL path of a collection, an object or its subresource, with the query escaped.
    public static func path(_ type: ResourceType, namespace: String?, name: String? = nil, subresource: String? = nil,
                            query: [(String, String)] = []) -> String {
        var path = type.group.isEmpty ? "/api/\(type.version)" : "/apis/\(type.group)/\(type.version)"
        if type.namespaced, let namespace { path += "/namespaces/\(escapePath(namespace))" }
        path += "/\(type.plural)"
        if let name { path += "/\(escapePath(name))" }
        if let subresource { path += "/\(subresource)" }
        if !query.isEmpty {
            path += "?" + query.map { "\($0.0)=\(escapeQuery($0.1))" }.joined(separator: "&")
        }
        return path
    }

    public func get(namespace: String?, name: String) async throws(APIError) -> JSONValue {
        try await json(HTTPRequest(.GET, path(namespace: namespace, name: name)))
    }

    /// One page; `resourceVersion: "0"` is served from the watch cache, "" (default) is a quorum read.
    public func list(namespace: String? = nil, labelSelector: String = "", fieldSelector: String = "",
                     limit: Int = 0, continueToken: String = "", resourceVersion: String = "") async throws(APIError) -> ObjectList {
        var query: [(String, String)] = []
        if !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
        if !fieldSelector.isEmpty { query.append(("fieldSelector", fieldSelector)) }
        if limit > 0 { query.append(("limit", String(limit))) }
        if !continueToken.isEmpty { query.append(("continue", continueToken)) }
        if !resourceVersion.isEmpty { query.append(("resourceVersion", resourceVersion)) }
        let list = try await json(HTTPRequest(.GET, path(namespace: namespace, query: query)))
        return ObjectList(items: list["items"]?.arrayValue ?? [],
                          resourceVersion: list[path: ["metadata", "resourceVersion"]]?.stringValue ?? "",
                          continueToken: list[path: ["metadata", "continue"]]?.stringValue ?? "")
    }

    /// Every object, page by page (pages of `pageSize`), at one consistent version.
    public func listAll(namespace: String? = nil, labelSelector: String = "", fieldSelector: String = "",
                        pageSize: Int = 500) async throws(APIError) -> ObjectList {
        var page = try await list(namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, limit: pageSize)
        var items = page.items
        let version = page.resourceVersion
        while !page.continueToken.isEmpty {
            page = try await list(namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector,
                                  limit: pageSize, continueToken: page.continueToken)
            items += page.items
        }
        return ObjectList(items: items, resourceVersion: version, continueToken: "")
    }

    public func create(_ object: JSONValue, namespace: String? = nil) async throws(APIError) -> JSONValue {
        let namespace = namespace ?? object[path: ["metadata", "namespace"]]?.stringValue ?? (type.namespaced ? "default" : nil)
        return try await json(HTTPRequest(.POST, path(namespace: namespace), body: JSONWriter.bytes(object)))
    }

    /// Replaces the object; with its resourceVersion set this is a compare-and-swap (409 Conflict when it moved
    /// on), and safe to resend.
    public func update(_ object: JSONValue, subresource: String? = nil) async throws(APIError) -> JSONValue {
        let (namespace, name) = try Self.coordinates(of: object)
        let guarded = !(object[path: ["metadata", "resourceVersion"]]?.stringValue ?? "").isEmpty
        return try await json(HTTPRequest(.PUT, path(namespace: namespace, name: name, subresource: subresource),
                                              body: JSONWriter.bytes(object), idempotent: guarded))
    }

    public func updateStatus(_ object: JSONValue) async throws(APIError) -> JSONValue {
        try await update(object, subresource: "status")
    }

    public func patch(namespace: String?, name: String, _ patch: JSONValue, type patchType: PatchType = .merge,
                      subresource: String? = nil, fieldManager: String? = nil, force: Bool = false) async throws(APIError) -> JSONValue {
        var query: [(String, String)] = []
        if let fieldManager { query.append(("fieldManager", fieldManager)) }
        if force { query.append(("force", "true")) }
        return try await json(HTTPRequest(.PATCH, path(namespace: namespace, name: name, subresource: subresource, query: query),
                                              body: JSONWriter.bytes(patch), contentType: patchType.rawValue,
                                              idempotent: patchType == .apply || patchType == .merge))
    }

    /// Deletes the object; preconditions (uid, resourceVersion) make it delete only the object meant.
    @discardableResult
    public func delete(namespace: String?, name: String, uid: String? = nil, resourceVersion: String? = nil,
                       propagationPolicy: String? = nil, gracePeriodSeconds: Int? = nil) async throws(APIError) -> JSONValue {
        var options: [String: JSONValue] = ["kind": "DeleteOptions", "apiVersion": "v1"]
        var preconditions: [String: JSONValue] = [:]
        if let uid { preconditions["uid"] = .string(uid) }
        if let resourceVersion { preconditions["resourceVersion"] = .string(resourceVersion) }
        if !preconditions.isEmpty { options["preconditions"] = .object(preconditions) }
        if let propagationPolicy { options["propagationPolicy"] = .string(propagationPolicy) }
        if let gracePeriodSeconds { options["gracePeriodSeconds"] = .int(Int64(gracePeriodSeconds)) }
        return try await json(HTTPRequest(.DELETE, path(namespace: namespace, name: name),
                                              body: JSONWriter.bytes(.object(options)), idempotent: true))
    }

    /// Writes `status` as `object`'s status, guarded by the object's resourceVersion (what controllers report).
    @discardableResult
    public func updateStatus(of object: JSONValue, to status: JSONValue) async throws(APIError) -> JSONValue {
        var updated = object
        updated["status"] = status
        return try await updateStatus(updated)
    }

    /// Deletes the object if it is there: one already gone is not an error (whether it deleted comes back).
    @discardableResult
    public func deleteIfPresent(namespace: String?, name: String, uid: String? = nil,
                                propagationPolicy: String? = nil) async throws(APIError) -> Bool {
        let failure: APIError
        do {
            try await delete(namespace: namespace, name: name, uid: uid, propagationPolicy: propagationPolicy)
            return true
        } catch {
            failure = error
        }
        if failure.isNotFound { return false }
        throw failure
    }

    /// Creates the object unless one of its name exists: that is not an error (whether it created comes back).
    @discardableResult
    public func createIfAbsent(_ object: JSONValue, namespace: String? = nil) async throws(APIError) -> Bool {
        let failure: APIError
        do {
            _ = try await create(object, namespace: namespace)
            return true
        } catch {
            failure = error
        }
        if failure.isAlreadyExists { return false }
        throw failure
    }

    /// Creates a subresource object (a pod's `binding` or `eviction`).
    @discardableResult
    public func createSubresource(_ subresource: String, namespace: String?, name: String,
                                  _ object: JSONValue) async throws(APIError) -> JSONValue {
        try await json(HTTPRequest(.POST, path(namespace: namespace, name: name, subresource: subresource),
                                       body: JSONWriter.bytes(object)))
    }

    /// Watches from `resourceVersion`, handing each event to `onEvent` until the server ends the watch (return)
    /// or it fails (throw; an ERROR event throws its Status, 410 Expired when the version is compacted).
    public func watch(namespace: String? = nil, resourceVersion: String, labelSelector: String = "",
                      fieldSelector: String = "", timeoutSeconds: Int = 0, bookmarks: Bool = true,
                      onEvent: (WatchEvent) async throws -> Void) async throws {
        var query: [(String, String)] = [("watch", "true"), ("resourceVersion", resourceVersion)]
        if bookmarks { query.append(("allowWatchBookmarks", "true")) }
        if !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
        if !fieldSelector.isEmpty { query.append(("fieldSelector", fieldSelector)) }
        if timeoutSeconds > 0 { query.append(("timeoutSeconds", String(timeoutSeconds))) }
        try await api.stream(HTTPRequest(.GET, path(namespace: namespace, query: query))) { line in
            let event = try WatchEvent(line: line)
            if let error = event.error { throw error }
            try await onEvent(event)
        }
    }

    static func coordinates(of object: JSONValue) throws(APIError) -> (namespace: String?, name: String) {
        guard let name = object[path: ["metadata", "name"]]?.stringValue, !name.isEmpty else {
            throw APIError(code: 0, reason: "Invalid", message: "the object has no metadata.name")
        }
        return (object[path: ["metadata", "namespace"]]?.stringValue, name)
    }

    static func escapePath(_ text: String) -> String {
        escape(text) { $0.isLetter || $0.isNumber || "-._~:@".contains($0) }
    }

    static func escapeQuery(_ text: String) -> String {
        escape(text) { $0.isLetter || $0.isNumber || "-._~".contains($0) }
    }

    private static func escape(_ text: String, keeping allowed: (Character) -> Bool) -> String {
        var out = ""
        for character in text {
            if character.isASCII, allowed(character) {
                out.append(character)
            } else {
                for byte in String(character).utf8 { out += "%" + String(byte, radix: 16, uppercase: true).leftPadded }
            }
        }
        return out
    }
}

private extension String {
    var leftPadded: String { count == 1 ? "0" + self : self }
}
