import Foundation
import Resources

extension ResourceHandler {
    func get(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String) async throws(Status) -> APIResponse {
        guard let stored = try await store.get(key(target, name: name)) else {
            throw Status.notFound(target.type, name: name)
        }
        return respond(try Self.object(stored, as: target.type), status: .ok, request: request, type: target.type)
    }

    struct Selection {
        var labels: LabelSelector
        var fields: FieldSelector

        func matches(_ object: JSONValue) -> Bool {
            (labels.isEverything || labels.matches(object[path: ["metadata", "labels"]]?.stringMap ?? [:]))
                && (fields.isEverything || fields.matches(object))
        }
    }

    static func selection(_ request: APIRequest, type: ResourceType) throws(Status) -> Selection {
        do {
            let labels = try LabelSelector(parsing: request.query["labelSelector"] ?? "")
            do {
                let fields = try FieldSelector(parsing: request.query["fieldSelector"] ?? "", for: type)
                return Selection(labels: labels, fields: fields)
            } catch {
                throw Status.badRequest(error.message)
            }
        } catch let error as LabelSelector.ParseError {
            throw Status.badRequest("unable to parse requirement: \(error.message)")
        } catch let status as Status {
            throw status
        } catch {
            throw Status.badRequest("\(error)")
        }
    }

    /// The opaque `continue` token: where the next page starts and the revision the list is read at, in
    /// kube-apiserver's own shape (base64 JSON).
    struct ContinueToken {
        var revision: Int64
        var start: String

        var encoded: String {
            Base64.encode(JSONWriter.bytes(["v": "meta.k8s.io/v1", "rv": .int(revision), "start": .string(start)]))
        }

        init(revision: Int64, start: String) {
            self.revision = revision
            self.start = start
        }

        init(_ text: String) throws(Status) {
            guard let bytes = Base64.decode(text), let value = try? JSONParser.parse(bytes),
                  let revision = value["rv"]?.intValue, let start = value["start"]?.stringValue else {
                throw Status.badRequest("continue key is not valid: \(text)")
            }
            self.revision = revision
            self.start = start
        }
    }

    /// The revision a list or watch asks for: nil for the latest ("" and "0" both read current state here).
    static func requestedRevision(_ request: APIRequest) throws(Status) -> Int64? {
        guard let text = request.query["resourceVersion"], !text.isEmpty, text != "0" else { return nil }
        guard let revision = Int64(text), revision > 0 else {
            throw Status.badRequest("invalid resource version \"\(text)\"")
        }
        return revision
    }

    func list(_ request: APIRequest, _ target: RequestTarget.ResourceTarget) async throws(Status) -> APIResponse {
        let type = target.type
        let selection = try Self.selection(request, type: type)
        // resourceVersion=0: any recent state will do, so the watch cache serves it (limit aside, as
        // kube-apiserver's cache does).
        if request.query["resourceVersion"] == "0", (request.query["continue"] ?? "").isEmpty {
            let (objects, revision) = try await caches.cache(for: type).list(namespace: target.namespace, selection: selection)
            return listResponse(objects, type: type, metadata: ["resourceVersion": .string(String(revision))], request: request)
        }
        var limit = Int64(request.query["limit"] ?? "") ?? 0
        if limit < 0 { limit = 0 }
        let prefix = type.storagePrefix(namespace: target.namespace)
        var start: String?
        var revision: Int64 = 0
        if let token = request.query["continue"], !token.isEmpty {
            let parsed = try ContinueToken(token)
            guard parsed.start.hasPrefix(prefix) || parsed.start.isEmpty else { throw Status.badRequest("continue key is not valid: it is for another resource") }
            start = parsed.start.isEmpty ? nil : parsed.start
            revision = parsed.revision
        } else if let exact = try Self.requestedRevision(request), request.query["resourceVersionMatch"] == "Exact" {
            revision = exact
        }
        var items: [JSONValue] = []
        var next: String?
        var remaining: Int64?
        var readRevision = revision
        // Read pages until the page is full of matches or the range is exhausted, as kube-apiserver does, each
        // read twice the last (to 10,000) while a selector filters most away.
        var batchSize = limit
        reading: while true {
            let batch = limit > 0 ? max(limit - Int64(items.count), batchSize) : 0
            batchSize = min(batchSize * 2, 10_000)
            let page: ObjectStore.Page
            do {
                page = try await store.list(prefix: prefix, from: start, limit: batch, revision: readRevision)
            } catch let status where status.code == .gone && request.query["continue"] != nil {
                throw Status.gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
            }
            if readRevision == 0 { readRevision = page.revision }
            for (offset, stored) in page.items.enumerated() {
                let object = try Self.object(stored, as: type)
                guard selection.matches(object) else { continue }
                items.append(object)
                if limit > 0, Int64(items.count) == limit {
                    let more = offset < page.items.count - 1 || page.remaining != nil
                    if more {
                        next = stored.key + "\u{0}"
                        if selection.labels.isEverything && selection.fields.isEverything {
                            remaining = Int64(page.items.count - offset - 1) + (page.remaining ?? 0)
                        }
                    }
                    break reading
                }
            }
            guard page.remaining != nil, let last = page.items.last else { break }
            start = last.key + "\u{0}"
        }
        var metadata: JSONValue = ["resourceVersion": .string(String(readRevision))]
        if let next {
            metadata["continue"] = .string(ContinueToken(revision: readRevision, start: next).encoded)
            if let remaining { metadata["remainingItemCount"] = .int(remaining) }
        }
        return listResponse(items, type: type, metadata: metadata, request: request)
    }

    func listResponse(_ items: [JSONValue], type: ResourceType, metadata: JSONValue, request: APIRequest) -> APIResponse {
        let accept = request.headers.first(name: "accept") ?? ""
        let body: JSONValue
        if Table.wanted(accept) {
            body = Table.table(items, type: type, now: Date().timeIntervalSince1970,
                               include: request.query["includeObject"] ?? "Metadata", listMetadata: metadata)
        } else {
            body = ["kind": .string(type.listKind), "apiVersion": .string(type.apiVersion), "metadata": metadata,
                    "items": .array(items)]
        }
        return .object(.ok, body, accept: accept)
    }
}
