import Foundation
import Resources

/// Field ownership on every write (`metadata.managedFields`), as kube-apiserver's field manager keeps it.
extension ResourceHandler {
    /// The longest field manager name Kubernetes accepts, in bytes.
    static let maxFieldManagerBytes = 128

    /// The request's field manager: `fieldManager`, else the User-Agent up to its first "/" (client-go sends
    /// "kubectl/v1.32.4 (linux/amd64) …", so kubectl's writes are "kubectl"'s).
    static func fieldManager(_ request: APIRequest, options: String) throws(Status) -> String {
        if let given = request.query["fieldManager"], !given.isEmpty {
            guard given.utf8.count <= maxFieldManagerBytes else {
                throw Status.failure(.unprocessableEntity, reason: "Invalid",
                                     message: "\(options).meta.k8s.io \"\" is invalid: fieldManager: Too long: may not be more than \(maxFieldManagerBytes) bytes")
            }
            if let bad = given.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
                let hex = String(bad.value, radix: 16, uppercase: true)
                throw Status.failure(.unprocessableEntity, reason: "Invalid",
                                     message: "\(options).meta.k8s.io \"\" is invalid: fieldManager: Invalid value: \(JSONWriter.string(.string(given))): invalid character U+\(String(repeating: "0", count: max(0, 4 - hex.count)) + hex)")
            }
            return given
        }
        let agent = request.headers.first(name: "user-agent") ?? ""
        let prefix = agent.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        // Printable characters only, cut before the first one that would pass 128 bytes.
        var name = ""
        for scalar in prefix.unicodeScalars where scalar.properties.generalCategory != .control {
            guard name.utf8.count + String(scalar).utf8.count <= maxFieldManagerBytes else { break }
            name.unicodeScalars.append(scalar)
        }
        return name
    }

    /// Records an Update (create, replace, patch, subresource write) of `new` over `old` by the request's
    /// manager. Managed fields a client sent are honoured as Kubernetes honours them: an empty list clears
    /// them (and nothing is recorded), a valid list replaces the live one; anything else keeps the live one.
    func trackUpdate(_ new: inout JSONValue, old: JSONValue?, request: APIRequest, type: ResourceType,
                     subresource: String?, manager: String) {
        var base = old.flatMap { ManagedFields(of: $0) } ?? ManagedFields()
        if subresource == nil, let sent = new[path: ["metadata", "managedFields"]] {
            if sent.arrayValue?.isEmpty == true || sent == [[:]] {
                new[path: ["metadata", "managedFields"]] = nil
                return
            }
            if let given = ManagedFields(of: new) { base = given }
        }
        // An existing object no one has tracked is left untracked until an apply.
        if old != nil, base.entries.isEmpty {
            new[path: ["metadata", "managedFields"]] = nil
            return
        }
        base.update(old: old, new: new, manager: manager, apiVersion: type.apiVersion, subresource: subresource ?? "",
                    schemaType: type.schemaType, hasStatus: type.hasStatus, time: RFC3339.format(lifecycle().now.rounded(.down)))
        base.write(into: &new)
    }

    /// Server-side apply's ownership step: conflicts (409 with a cause per field), the applier's fields, pruning.
    func trackApply(live: JSONValue?, merged: JSONValue, config: JSONValue, patch: JSONValue, request: APIRequest,
                    type: ResourceType, subresource: String?, manager: String) throws(Status) -> JSONValue {
        var fields = live.flatMap { ManagedFields(of: $0) } ?? ManagedFields()
        let force = request.query["force"] == "true"
        var result: JSONValue
        do {
            result = try fields.apply(live: live, merged: merged, config: config, manager: manager, apiVersion: type.apiVersion,
                                      subresource: subresource ?? "", schemaType: type.schemaType, hasStatus: type.hasStatus,
                                      force: force, time: RFC3339.format(lifecycle().now.rounded(.down)))
        } catch {
            let causes: [JSONValue] = error.fields.map { conflict in
                ["reason": "FieldManagerConflict", "message": .string("conflict with \(conflict.manager)"), "field": .string(conflict.path)]
            }
            throw Status.failure(.conflict, reason: "Conflict", message: error.message, details: ["causes": .array(causes)])
        }
        ManagedFields.refreshLastApplied(&result, manager: manager, applied: patch)
        fields.write(into: &result)
        return result
    }
}
