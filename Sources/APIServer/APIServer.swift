import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Resources
import StoreClient
import Synchronization

/// The Kubernetes API server: routes each request (health, version, discovery, OpenAPI, or a resource), checks
/// its bearer token and the in-flight bound, and answers — holding no state of its own beyond caches: every
/// object lives in the store, reached through `StoreClient`.
public final class APIServer: APIResponder {
    public struct Configuration: Sendable {
        /// Bearer tokens accepted (none: no authentication, for tests on 127.0.0.1 only).
        public var tokens: Set<String> = []
        /// Requests other than watches served at once; more are answered 429 with Retry-After.
        public var maxInFlight = 800
        /// host:port clients reach this server at (in /api's serverAddressByClientCIDRs).
        public var advertisedAddress = "127.0.0.1:6443"
        /// Recent changes each resource type's watch cache keeps for resuming watches (kube's
        /// --default-watch-cache-size; larger here, where memory is cheap next to relists).
        public var watchCacheSize = 10_000
        /// How often the store's history is compacted (kube's --etcd-compaction-interval, 5 min); nil: never, for
        /// a store another API server compacts.
        public var compactionInterval: Duration? = .seconds(300)
        /// How long an Event is kept after its last write (kube's --event-ttl, 1 h); nil: until deleted.
        public var eventTTL: Duration? = .seconds(3600)

        public init() {}
    }

    public let configuration: Configuration
    let store: ObjectStore
    let resources: ResourceHandler
    let logger: Logger
    private let inFlight = Atomic(0)
    private let openAPIDocuments: [String: [UInt8]]
    private let openAPIRoot: [UInt8]
    private let compactor: StoreCompactor?

    public init(client: StoreClient, configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        store = ObjectStore(client: client)
        resources = ResourceHandler(store: store, lifecycle: { ObjectLifecycle() }, progress: WatchProgressTicker(client: client),
                                    caches: WatchCaches(store: store, size: configuration.watchCacheSize),
                                    eventLeases: configuration.eventTTL.map { ExpiringLeases(client: client, ttl: $0) })
        var documents: [String: [UInt8]] = [:]
        for group in ResourceType.groups {
            let path = group.name.isEmpty ? "api/\(group.version)" : "apis/\(group.name)/\(group.version)"
            if let document = OpenAPI.document(group: group.name, version: group.version) { documents[path] = JSONWriter.bytes(document) }
        }
        openAPIDocuments = documents
        openAPIRoot = JSONWriter.bytes(OpenAPI.root(documents: documents))
        compactor = configuration.compactionInterval.map { StoreCompactor(client: client, interval: $0, logger: logger) }
    }

    /// Creates the namespaces every cluster has (default, kube-system, kube-public, kube-node-lease) if they are
    /// missing, as kube-apiserver's bootstrap does; retried until the store answers or `deadline` passes.
    public func bootstrap(deadline: Date = Date().addingTimeInterval(60)) async throws {
        resources.caches.startAll()
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            while true {
                do {
                    var object: JSONValue = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]]
                    try ObjectLifecycle().prepareForCreate(&object, type: .namespaces, namespace: nil)
                    Defaults.apply(&object, type: .namespaces)
                    _ = try await store.create(ResourceType.namespaces.storageKey(namespace: nil, name: name), ResourceHandler.storedBytes(object))
                    break
                } catch {
                    guard Date() < deadline else { throw error }
                    logger.info("waiting for the store to create namespace \(name): \(error)")
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
        }
    }

    public func respond(to request: APIRequest) async -> APIResponse {
        guard let target = RequestTarget.parse(request.path) else { return Status.routeNotFound.response }
        if case .health = target {} else if case .version = target {} else if !configuration.tokens.isEmpty {
            guard let header = request.headers.first(name: "authorization"), header.hasPrefix("Bearer "),
                  configuration.tokens.contains(String(header.dropFirst(7)).trimmingSpaces()) else {
                return Status.unauthorized.response
            }
        }
        let isWatch = request.query.flag("watch")
        if !isWatch {
            let current = inFlight.add(1, ordering: .relaxed).newValue
            defer { inFlight.subtract(1, ordering: .relaxed) }
            if current > configuration.maxInFlight { return Status.tooManyRequests(retryAfter: 1).response }
            return await route(request, target)
        }
        return await route(request, target)
    }

    private func route(_ request: APIRequest, _ target: RequestTarget) async -> APIResponse {
        let accept = request.headers.first(name: "accept") ?? ""
        switch target {
        case .version:
            return .json(.ok, Array(Version.document.utf8))
        case .health(let path):
            if path.hasPrefix("readyz") {
                do {
                    _ = try await store.currentRevision()
                } catch {
                    return .text(.internalServerError, "[-]etcd failed: \(error.message)\nreadyz check failed\n")
                }
            }
            return .text(.ok, "ok")
        case .metrics:
            return .text(.ok, "")
        case .coreDiscovery:
            if let type = Discovery.aggregatedType(accept) { return Discovery.aggregated(core: true, contentType: type) }
            return .json(.ok, JSONWriter.bytes(Discovery.apiVersions(serverAddress: configuration.advertisedAddress)))
        case .groupsDiscovery:
            if let type = Discovery.aggregatedType(accept) { return Discovery.aggregated(core: false, contentType: type) }
            return .json(.ok, JSONWriter.bytes(Discovery.groupList()))
        case .groupDiscovery(let name):
            guard let group = ResourceType.groups.first(where: { $0.name == name }) else { return Status.routeNotFound.response }
            return .json(.ok, JSONWriter.bytes(Discovery.group(name, version: group.version)))
        case .resourceList(let group, let version):
            guard let list = Discovery.resourceList(group: group, version: version) else { return Status.routeNotFound.response }
            return .json(.ok, JSONWriter.bytes(list))
        case .openAPIRoot:
            return .json(.ok, openAPIRoot)
        case .openAPIDocument(let group, let version):
            let path = group.isEmpty ? "api/\(version)" : "apis/\(group)/\(version)"
            guard let document = openAPIDocuments[path] else { return Status.routeNotFound.response }
            return .json(.ok, document)
        case .openAPIV2:
            return Status.routeNotFound.response
        case .resource(let resource):
            return await resources.handle(request, resource)
        }
    }
}
