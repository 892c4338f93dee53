import Foundation
import NIOHTTP1
import Resources

/// The REST verbs on one resource's objects — get, list, watch, create, update, patch, delete,
/// deletecollection — and their subresources, over the store. Each verb runs decode → admit (defaults,
/// server-set metadata, validation) → one compare-and-write transaction → encode, in the files named for it.
struct ResourceHandler: Sendable {
    let store: ObjectStore
    let lifecycle: @Sendable () -> ObjectLifecycle
    let progress: WatchProgressTicker
    let caches: WatchCaches
    /// The leases Events are written under (nil: Events are kept until deleted).
    let eventLeases: ExpiringLeases?

    /// The leases objects of `type` are written under: Events expire (kube-apiserver's --event-ttl), nothing
    /// else does.
    func expiring(_ type: ResourceType) -> ExpiringLeases? {
        type.kind == "Event" ? eventLeases : nil
    }

    func handle(_ request: APIRequest, _ target: RequestTarget.ResourceTarget) async -> APIResponse {
        do {
            return try await route(request, target)
        } catch {
            return error.response
        }
    }

    private func route(_ request: APIRequest, _ target: RequestTarget.ResourceTarget) async throws(Status) -> APIResponse {
        if let namespace = target.namespace, !Validation.isDNS1123Label(namespace) {
            throw Status.namespaceNotFound(namespace)
        }
        if let subresource = target.subresource {
            return try await handleSubresource(request, target, subresource)
        }
        // Namespaced kinds across all namespaces may be listed and watched only.
        if target.type.namespaced, target.namespace == nil, target.name == nil, request.method != .GET {
            throw Status.methodNotAllowed(request.method)
        }
        if target.type.namespaced, target.namespace == nil, target.name != nil {
            throw Status.routeNotFound
        }
        switch (request.method, target.name) {
        case (.GET, nil):
            return request.query.flag("watch") ? try await watch(request, target) : try await list(request, target)
        case (.GET, let name?): return try await get(request, target, name: name)
        case (.POST, nil): return try await create(request, target)
        case (.PUT, let name?): return try await update(request, target, name: name, subresource: nil)
        case (.PATCH, let name?): return try await patch(request, target, name: name, subresource: nil)
        case (.DELETE, let name?): return try await delete(request, target, name: name)
        case (.DELETE, nil): return try await deleteCollection(request, target)
        default: throw Status.methodNotAllowed(request.method)
        }
    }

    private func handleSubresource(_ request: APIRequest, _ target: RequestTarget.ResourceTarget,
                                   _ subresource: String) async throws(Status) -> APIResponse {
        guard let name = target.name, target.type.subresources.contains(where: { $0.name == subresource }) else {
            throw Status.routeNotFound
        }
        switch (subresource, request.method) {
        case ("status", .GET): return try await get(request, target, name: name)
        case ("status", .PUT): return try await update(request, target, name: name, subresource: "status")
        case ("status", .PATCH): return try await patch(request, target, name: name, subresource: "status")
        case ("scale", .GET): return try await getScale(request, target, name: name)
        case ("scale", .PUT), ("scale", .PATCH): return try await writeScale(request, target, name: name)
        case ("binding", .POST): return try await bind(request, target, name: name)
        case ("eviction", .POST): return try await evict(request, target, name: name)
        case ("log", .GET), ("exec", _), ("attach", _), ("portforward", _):
            return try await nodeProxy(request, target, name: name, subresource: subresource)
        default: throw Status.methodNotAllowed(request.method)
        }
    }

    // MARK: shared steps

    func key(_ target: RequestTarget.ResourceTarget, name: String) -> String {
        target.type.storageKey(namespace: target.namespace, name: name)
    }

    /// A stored object as clients see it: its resource version is the key's mod revision.
    /// Read through `type`, an object stored in another resource's form is converted to `type`'s.
    static func object(_ stored: ObjectStore.Stored, as type: ResourceType? = nil) throws(Status) -> JSONValue {
        var object: JSONValue
        do {
            object = try JSONParser.parse(stored.value)
        } catch {
            throw Status.internalError("the object at \(stored.key) is not JSON: \(error.message)")
        }
        if let version = type?.storageVersion { object = version.fromStorage(object) }
        object[path: ["metadata", "resourceVersion"]] = .string(String(stored.modRevision))
        return object
    }

    /// The bytes stored for an object: without its resource version (that is the store's revision), in the
    /// stored form of `type`.
    static func storedBytes(_ object: JSONValue, as type: ResourceType? = nil) -> [UInt8] {
        var stored = object
        if let version = type?.storageVersion { stored = version.toStorage(stored) }
        stored[path: ["metadata", "resourceVersion"]] = nil
        return JSONWriter.bytes(stored)
    }

    /// The store's limit on one value, as kube-apiserver's etcd: objects larger are refused with 413.
    static let maxObjectBytes = 3 << 19

    static func checkSize(_ bytes: [UInt8]) throws(Status) {
        guard bytes.count <= maxObjectBytes else {
            throw Status.failure(.payloadTooLarge, reason: "RequestEntityTooLarge",
                                 message: "etcdserver: request is too large (the object is \(bytes.count) bytes; the limit is \(maxObjectBytes))")
        }
    }

    /// Answers with one object, as JSON or as a one-row Table.
    func respond(_ object: JSONValue, status: HTTPResponseStatus, request: APIRequest, type: ResourceType,
                 warnings: [String] = []) -> APIResponse {
        let accept = request.headers.first(name: "accept") ?? ""
        let body: JSONValue
        if Table.wanted(accept), object["kind"]?.stringValue == type.kind {
            body = Table.table([object], type: type, now: Date().timeIntervalSince1970,
                               include: request.query["includeObject"] ?? "Metadata",
                               listMetadata: ["resourceVersion": object[path: ["metadata", "resourceVersion"]] ?? ""])
        } else {
            body = object
        }
        var response = APIResponse.object(status, body, accept: accept)
        for warning in warnings { response.headers.add(name: "Warning", value: "299 - \(JSONWriter.string(.string(warning)))") }
        return response
    }

    /// Fails unless `namespace` exists and is not being deleted (NamespaceLifecycle admission). Namespaces are
    /// looked up in their watch cache, as kube-apiserver's admission looks them up in an informer; one not there
    /// yet (just created) is read from the store.
    func checkNamespace(_ namespace: String?, creating type: ResourceType) async throws(Status) {
        guard type.namespaced, let namespace else { return }
        let key = ResourceType.namespaces.storageKey(namespace: nil, name: namespace)
        let object: JSONValue
        if let cached = caches.cache(for: .namespaces).object(at: key) {
            object = cached
        } else {
            guard let stored = try await store.get(key) else { throw Status.namespaceNotFound(namespace) }
            object = try Self.object(stored)
        }
        if object[path: ["metadata", "deletionTimestamp"]] != nil || object[path: ["status", "phase"]] == "Terminating" {
            throw Status.forbidden(type, name: nil, "unable to create new content in namespace \(namespace) because it is being terminated")
        }
    }

    static func isDryRun(_ request: APIRequest) throws(Status) -> Bool {
        let values = request.query.all("dryRun")
        for value in values where value != "All" {
            throw Status.badRequest("dryRun parameter unsupported: \(value) (only All is supported)")
        }
        return !values.isEmpty
    }
}

extension ResourceType {
    static let namespaces = ResourceType.all[0]
}

extension Error {
    /// The Status an error answers with (anything but a Status is an internal error).
    var response: APIResponse {
        if let status = self as? Status { return status.response }
        return Status.internalError("\(self)").response
    }
}
