import EtcdProto
import Foundation
import NIOCore
import Resources
import StoreClient

extension ResourceHandler {
    /// Watch events from the store, one JSON object per line (chunked), as kube-apiserver streams them:
    /// ADDED/MODIFIED/DELETED filtered by the selectors (an object that stops matching is DELETED for the
    /// watcher), BOOKMARKs when asked for, and an ERROR event with 410 Expired when the version asked from is
    /// compacted away. From "" or "0" the current objects come first as ADDED.
    func watch(_ request: APIRequest, _ target: RequestTarget.ResourceTarget) async throws(Status) -> APIResponse {
        let type = target.type
        let selection = try Self.selection(request, type: type)
        let requested = try Self.requestedRevision(request)
        let bookmarks = request.query.flag("allowWatchBookmarks")
        let table = Table.wanted(request.headers.first(name: "accept") ?? "")
        let include = request.query["includeObject"] ?? "Metadata"
        // As kube-apiserver: whole seconds, at most an hour; none or 0 means 30–60 minutes.
        var timeout = min(max(Int64(request.query["timeoutSeconds"] ?? "") ?? 0, 0), 3600)
        if timeout <= 0 { timeout = Int64.random(in: 1800...3600) }
        let cache = caches.cache(for: type)
        if let requested {
            try await cache.waitUntil(requested)
        } else if (request.query["resourceVersion"] ?? "").isEmpty {
            // "" is the latest state: the cache must have caught up with the store as of now.
            try await cache.waitUntil(try await store.currentRevision())
        } else {
            try await cache.waitUntil(0)
        }
        var headers = APIResponse.json(.ok, []).headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        let encoder = WatchEventEncoder(type: type, table: table, include: include)
        let namespace = target.namespace
        let lifetime = TimeAmount.seconds(timeout)
        return APIResponse(status: .ok, headers: headers, body: .stream { stream in
            let watcher = WatchCache.Watcher(id: cache.nextWatcherID(), namespace: namespace, selection: selection, stream: stream,
                                             encoder: encoder, table: table, bookmarks: bookmarks)
            var encoder = encoder
            let initial: [JSONValue]
            do throws(Status) {
                initial = try cache.register(watcher, from: requested)
            } catch {
                stream.write(encoder.encode("ERROR", error.json))
                return
            }
            for object in initial {
                guard await stream.send(encoder.encode("ADDED", object)) else {
                    cache.remove(watcher)
                    return
                }
            }
            watcher.encoder = encoder
            cache.goLive(watcher)
            let channel = stream.channel
            let done = channel.eventLoop.makePromise(of: Void.self)
            let timer = channel.eventLoop.scheduleTask(in: lifetime) { done.succeed() }
            stream.closed.whenComplete { _ in done.succeed() }
            try? await done.futureResult.get()
            timer.cancel()
            cache.remove(watcher)
        })
    }
}

/// Encodes watch events for one watch: plain objects, or one-row Tables (column definitions with the first).
struct WatchEventEncoder: Sendable {
    let type: ResourceType
    let table: Bool
    let include: String
    var sentDefinitions = false

    init(type: ResourceType, table: Bool, include: String) {
        self.type = type
        self.table = table
        self.include = include
    }

    mutating func encode(_ eventType: String, _ object: JSONValue) -> [UInt8] {
        var body = object
        if table, eventType != "ERROR", eventType != "BOOKMARK" {
            body = Table.table([object], type: type, now: Date().timeIntervalSince1970, include: include,
                               listMetadata: ["resourceVersion": object[path: ["metadata", "resourceVersion"]] ?? ""],
                               withDefinitions: !sentDefinitions)
            sentDefinitions = true
        }
        var line = JSONWriter.bytes(["type": .string(eventType), "object": body])
        line.append(UInt8(ascii: "\n"))
        return line
    }

    mutating func bookmark(revision: Int64) -> [UInt8] {
        encode("BOOKMARK", ["kind": .string(type.kind), "apiVersion": .string(type.apiVersion),
                            "metadata": ["resourceVersion": .string(String(revision))]])
    }
}
