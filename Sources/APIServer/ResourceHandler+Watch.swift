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
        // As kube-apiserver: whole seconds, at most the request timeout's range; none or 0 means 30–60 minutes.
        var timeout = Double(min(max(Int64(request.query["timeoutSeconds"] ?? "") ?? 0, 0), 3600))
        if timeout <= 0 { timeout = Double.random(in: 1800...3600) }
        let prefix = type.storagePrefix(namespace: target.namespace)
        let client = store.client

        var initial: [JSONValue] = []
        let start: Int64
        if let requested {
            start = requested + 1
        } else {
            let page = try await store.list(prefix: prefix)
            for stored in page.items {
                let object = try Self.object(stored)
                if selection.matches(object) { initial.append(object) }
            }
            start = page.revision + 1
        }
        let encoder = WatchEventEncoder(type: type, table: table, include: include)
        var headers = APIResponse.json(.ok, []).headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        let initialObjects = initial
        let timeoutSeconds = timeout
        return APIResponse(status: .ok, headers: headers, body: .stream { stream in
            let watch = client.watch(key: Array(prefix.utf8), rangeEnd: Array(ObjectStore.prefixEnd(prefix)), from: start, prevKV: true)
            let consume = Task {
                var encoder = encoder
                for object in initialObjects {
                    guard await stream.send(encoder.encode("ADDED", object)) else { return }
                }
                var lastBookmark = Date()
                do {
                    for try await batch in watch {
                        if stream.isClosed { return }
                        if batch.events.isEmpty {
                            if bookmarks, Date().timeIntervalSince(lastBookmark) >= 5 {
                                lastBookmark = Date()
                                stream.write(encoder.bookmark(revision: batch.revision))
                            }
                            continue
                        }
                        for event in batch.events {
                            guard let line = try? encoder.line(for: event, selection: selection) else { continue }
                            stream.write(line)
                        }
                    }
                } catch StoreClientError.compacted(let oldest) {
                    let status = Status.gone("too old resource version: \(start - 1) (\(oldest))")
                    stream.write(encoder.encode("ERROR", status.json))
                } catch {
                    let status = Status.internalError("the watch of the store ended: \(error)")
                    stream.write(encoder.encode("ERROR", status.json))
                }
            }
            let timer = Task {
                try? await Task.sleep(nanoseconds: UInt64(timeoutSeconds * 1_000_000_000))
                consume.cancel()
            }
            stream.closed.whenComplete { _ in consume.cancel() }
            await consume.value
            timer.cancel()
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

    /// The line for one store event after the watcher's selectors, or nil if the watcher does not see it.
    mutating func line(for event: Mvccpb_Event, selection: ResourceHandler.Selection) throws(Status) -> [UInt8]? {
        let revision = event.kv.modRevision
        // A create is a put whose key was created at this revision (as kube's etcd watcher reads it); a previous
        // value comes only with a modification or a delete.
        let hasOld = event.hasPrevKv && !event.prevKv.key.isEmpty
        let old: JSONValue? = hasOld
            ? try ResourceHandler.object(ObjectStore.Stored(key: "", value: Array(event.prevKv.value), modRevision: event.prevKv.modRevision))
            : nil
        switch event.type {
        case .put:
            let object = try ResourceHandler.object(ObjectStore.Stored(key: "", value: Array(event.kv.value), modRevision: revision))
            let created = event.kv.createRevision == event.kv.modRevision
            let now = selection.matches(object)
            let before = created ? false : (old.map(selection.matches) ?? true)
            switch (before, now) {
            case (_, true): return encode(created || !before ? "ADDED" : "MODIFIED", object)
            case (true, false):
                // It left the selection: the watcher is told with the object it last saw, at this version.
                guard var gone = old else { return nil }
                gone[path: ["metadata", "resourceVersion"]] = .string(String(revision))
                return encode("DELETED", gone)
            default: return nil
            }
        case .delete:
            guard var object = old, selection.matches(object) else { return nil }
            object[path: ["metadata", "resourceVersion"]] = .string(String(revision))
            return encode("DELETED", object)
        default:
            return nil
        }
    }
}
