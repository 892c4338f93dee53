import Foundation
import Resources

extension ResourceHandler {
    /// How often a write that raced another is tried again (an unconditional update or a patch re-reads and
    /// re-applies; one given a resourceVersion fails with Conflict instead).
    static let maxAttempts = 8

    func create(_ request: APIRequest, _ target: RequestTarget.ResourceTarget) async throws(Status) -> APIResponse {
        let type = target.type
        var decoded = try BodyDecoder.decode(request, as: type)
        let manager = try Self.fieldManager(request, options: "CreateOptions")
        try lifecycle().prepareForCreate(&decoded.object, type: type, namespace: target.namespace)
        Defaults.apply(&decoded.object, type: type)
        try await applyLimitRanges(&decoded.object, type: type, namespace: target.namespace)
        trackUpdate(&decoded.object, old: nil, request: request, type: type, subresource: nil, manager: manager)
        return try await store(new: decoded.object, request: request, target: target, warnings: decoded.warnings)
    }

    /// Validates and writes a new object; shared by create and by apply/update that create.
    func store(new object: JSONValue, request: APIRequest, target: RequestTarget.ResourceTarget,
               warnings: [String]) async throws(Status) -> APIResponse {
        let type = target.type
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        let errors = ObjectValidator.validate(object, type: type)
        guard errors.isEmpty else { throw Status.invalid(type, name: name, errors) }
        try await checkNamespace(target.namespace, creating: type)
        let bytes = Self.storedBytes(object, as: type)
        try Self.checkSize(bytes)
        let dryRun = try Self.isDryRun(request)
        try await chargeQuotas(for: object, type: type, namespace: target.namespace, dryRun: dryRun)
        if dryRun { return respond(object, status: .created, request: request, type: type, warnings: warnings) }
        switch try await store.create(key(target, name: name), bytes, expiring: expiring(type)) {
        case .written(let revision):
            var created = object
            created[path: ["metadata", "resourceVersion"]] = .string(String(revision))
            return respond(created, status: .created, request: request, type: type, warnings: warnings)
        case .conflict:
            throw Status.alreadyExists(type, name: name)
        }
    }

    func update(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String,
                subresource: String?) async throws(Status) -> APIResponse {
        let type = target.type
        let decoded = try BodyDecoder.decode(request, as: type)
        let bodyName = decoded.object[path: ["metadata", "name"]]?.stringValue ?? ""
        guard bodyName == name else {
            throw Status.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        if type.namespaced, let given = decoded.object[path: ["metadata", "namespace"]]?.stringValue, !given.isEmpty, given != target.namespace {
            throw Status.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        let expected = decoded.object[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        if let expected, Int64(expected) == nil { throw Status.badRequest("invalid resource version \"\(expected)\"") }
        return try await modify(request, target, name: name, subresource: subresource, expected: expected.flatMap { Int64($0) },
                                warnings: decoded.warnings) { _ in (decoded.object, []) }
    }

    /// An object as a write starts from: its state, its revision, and whether it came from the watch cache (and
    /// so may be behind the store).
    struct Current {
        var object: JSONValue
        var revision: Int64
        var cached: Bool
    }

    /// The object at `key` as the store has it now (nil: absent).
    func currentFromStore(_ key: String, type: ResourceType) async throws(Status) -> Current? {
        guard let stored = try await store.get(key) else { return nil }
        return Current(object: try Self.object(stored, as: type), revision: stored.modRevision, cached: false)
    }

    /// Computes the object's new state from its current one, and writes it if nothing changed in between; without
    /// an expected version, a lost race is retried on a fresh read. The first attempt starts from the watch
    /// cache's copy when it has one — no store read, as kube-apiserver's GuaranteedUpdate does — since the
    /// compare-and-swap refuses a stale copy; and any refusal or no-op decided on the copy is decided again on the
    /// store's own current state, so a lagging cache can cost a read but never a wrong answer.
    func modify(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String, subresource: String?,
                expected: Int64?, warnings: [String] = [], tracking: FieldTracking = .update,
                createIfMissing: (@Sendable () throws(Status) -> JSONValue)? = nil,
                change: (JSONValue) throws(Status) -> (JSONValue, [String])) async throws(Status) -> APIResponse {
        var warnings = warnings
        let type = target.type
        let manager = try Self.fieldManager(request, options: request.method == .PATCH ? "PatchOptions" : "UpdateOptions")
        let key = key(target, name: name)
        var current: Current?
        if let cached = caches.cache(for: type).object(at: key),
           let revision = cached[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap({ Int64($0) }) {
            current = Current(object: cached, revision: revision, cached: true)
        } else {
            current = try await currentFromStore(key, type: type)
        }
        for _ in 0...Self.maxAttempts {
            guard let snapshot = current else {
                if let createIfMissing, subresource == nil {
                    var object = try createIfMissing()
                    try lifecycle().prepareForCreate(&object, type: type, namespace: target.namespace)
                    Defaults.apply(&object, type: type)
                    return try await store(new: object, request: request, target: target, warnings: warnings)
                }
                throw Status.notFound(type, name: name)
            }
            let old = snapshot.object
            let new: JSONValue
            let failure: Status?
            do throws(Status) {
                if let expected, expected != snapshot.revision { throw Status.conflict(type, name: name) }
                var (changed, changeWarnings) = try change(old)
                if warnings.isEmpty { warnings = changeWarnings }
                try prepareUpdate(&changed, old: old, snapshot: snapshot, name: name, namespace: target.namespace, type: type,
                                  expected: expected, request: request, subresource: subresource, tracking: tracking, manager: manager)
                new = changed
                failure = nil
            } catch {
                new = .null
                failure = error
            }
            if let failure {
                guard snapshot.cached else { throw failure }
                current = try await currentFromStore(key, type: type)
                continue
            }
            // An object being deleted goes once its last finalizer is removed — if it was waiting only for them
            // (a pod in its grace period waits for its kubelet instead), as kube-apiserver's store decides.
            let hadFinalizers = !(old[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty
            if hadFinalizers, new[path: ["metadata", "deletionTimestamp"]] != nil,
               (old[path: ["metadata", "deletionGracePeriodSeconds"]]?.intValue ?? 0) == 0,
               (new[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty {
                if try Self.isDryRun(request) { return respond(new, status: .ok, request: request, type: type, warnings: warnings) }
                switch try await store.delete(key, expecting: snapshot.revision) {
                case .written:
                    return respond(new, status: .ok, request: request, type: type, warnings: warnings)
                case .conflict(let now):
                    if expected != nil { throw Status.conflict(type, name: name) }
                    current = try now.map { stored throws(Status) in
                        Current(object: try Self.object(stored, as: type), revision: stored.modRevision, cached: false)
                    }
                    continue
                }
            }
            var oldComparable = old
            oldComparable[path: ["metadata", "resourceVersion"]] = nil
            var newComparable = new
            newComparable[path: ["metadata", "resourceVersion"]] = nil
            if oldComparable == newComparable {
                // Nothing changed: no write, the version stays (as kube-apiserver does) — if the store agrees.
                if snapshot.cached {
                    current = try await currentFromStore(key, type: type)
                    continue
                }
                return respond(old, status: .ok, request: request, type: type, warnings: warnings)
            }
            var written = new
            let bytes = Self.storedBytes(written, as: type)
            try Self.checkSize(bytes)
            if try Self.isDryRun(request) { return respond(written, status: .ok, request: request, type: type, warnings: warnings) }
            switch try await store.update(key, bytes, expecting: snapshot.revision, expiring: expiring(type)) {
            case .written(let revision):
                written[path: ["metadata", "resourceVersion"]] = .string(String(revision))
                return respond(written, status: .ok, request: request, type: type, warnings: warnings)
            case .conflict(let now):
                // The client's version is not the store's: unless the miss was the cache's, that is a conflict.
                if expected != nil && !snapshot.cached { throw Status.conflict(type, name: name) }
                current = try now.map { stored throws(Status) in
                    Current(object: try Self.object(stored, as: type), revision: stored.modRevision, cached: false)
                }
            }
        }
        throw Status.conflict(type, name: name)
    }

    /// What every update does to the new state before it is written: identity checks, kind and apiVersion,
    /// lifecycle fields, defaults, field ownership, validation.
    private func prepareUpdate(_ new: inout JSONValue, old: JSONValue, snapshot: Current, name: String, namespace: String?,
                               type: ResourceType, expected: Int64?, request: APIRequest, subresource: String?,
                               tracking: FieldTracking, manager: String) throws(Status) {
        try Self.checkIdentity(new, old: old, name: name, namespace: namespace, type: type,
                               storedRevision: snapshot.revision, expected: expected)
        new["kind"] = .string(type.kind)
        new["apiVersion"] = .string(type.apiVersion)
        lifecycle().prepareForUpdate(&new, old: old, type: type, subresource: subresource)
        Defaults.apply(&new, type: type)
        switch tracking {
        case .update: trackUpdate(&new, old: old, request: request, type: type, subresource: subresource, manager: manager)
        case .updateAs(let name): trackUpdate(&new, old: old, request: request, type: type, subresource: name, manager: manager)
        case .none: break
        }
        var errors = ObjectValidator.validate(new, type: type, updating: true)
        errors += Self.immutableChanges(old: old, new: new, type: type)
        guard errors.isEmpty else { throw Status.invalid(type, name: name, errors) }
    }

    /// How a write through `modify` records field ownership.
    enum FieldTracking {
        /// As an Update through the request's subresource.
        case update
        /// As an Update through another subresource (a Scale write is the object's "scale" subresource's).
        case updateAs(String)
        /// Not at all (pods/binding), or already done by the change itself (server-side apply).
        case none
    }

    /// What no write may change: the object's name and namespace (its key), and its uid; and a resourceVersion
    /// carried inside a patch is a precondition, as in kube-apiserver.
    static func checkIdentity(_ new: JSONValue, old: JSONValue, name: String, namespace: String?, type: ResourceType,
                              storedRevision: Int64, expected: Int64?) throws(Status) {
        let newName = new[path: ["metadata", "name"]]?.stringValue ?? ""
        guard newName == name else {
            throw Status.badRequest("the name of the object (\(newName)) does not match the name on the URL (\(name))")
        }
        if type.namespaced, let given = new[path: ["metadata", "namespace"]]?.stringValue, !given.isEmpty, given != namespace {
            throw Status.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        if let uid = new[path: ["metadata", "uid"]]?.stringValue, !uid.isEmpty, uid != old[path: ["metadata", "uid"]]?.stringValue {
            throw Status.conflict(type, name: name, "Precondition failed: UID in precondition: \(uid), UID in object meta: \(old[path: ["metadata", "uid"]]?.stringValue ?? "")")
        }
        if expected == nil, let version = new[path: ["metadata", "resourceVersion"]]?.stringValue, !version.isEmpty,
           version != String(storedRevision) {
            throw Status.conflict(type, name: name)
        }
    }

    /// Fields that may not change once set, as Kubernetes' update validation refuses them.
    static func immutableChanges(old: JSONValue, new: JSONValue, type: ResourceType) -> [FieldError] {
        var errors: [FieldError] = []
        func check(_ path: [String], _ message: String = "field is immutable") {
            let before = old[path: path], after = new[path: path]
            if before != nil, before != after {
                errors.append(FieldError(kind: .invalid, field: path.joined(separator: "."),
                                         value: after.map { JSONWriter.string($0) } ?? "null", detail: message))
            }
        }
        switch type.kind {
        case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet": check(["spec", "selector"])
        case "Job": check(["spec", "selector"])
        case "Pod":
            if old[path: ["spec", "nodeName"]] != nil { check(["spec", "nodeName"]) }
        case "ConfigMap", "Secret":
            if old["immutable"]?.boolValue == true {
                for field in ["data", "binaryData", "stringData"] {
                    if old[field] != new[field] { errors.append(.forbidden(field, "field is immutable when `immutable` is set")) }
                }
                if new["immutable"]?.boolValue != true { errors.append(.forbidden("immutable", "field is immutable when `immutable` is set")) }
            }
        case "Service": if let ip = old[path: ["spec", "clusterIP"]]?.stringValue, !ip.isEmpty { check(["spec", "clusterIP"]) }
        default: break
        }
        return errors
    }

    func patch(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String,
               subresource: String?) async throws(Status) -> APIResponse {
        let type = target.type
        let contentType = request.contentType ?? ""
        let patchValue: JSONValue
        if contentType == "application/apply-patch+yaml" {
            patchValue = try BodyDecoder.parseYAML(request.body) { "error decoding YAML: error converting YAML to JSON: \($0)" }.value
        } else {
            do {
                patchValue = try JSONParser.parse(request.body)
            } catch {
                throw Status.badRequest("error decoding patch: \(error.message)")
            }
        }
        let validation = try BodyDecoder.fieldValidation(request.query)
        if request.query["force"] != nil, contentType != "application/apply-patch+yaml" {
            throw Status.failure(.unprocessableEntity, reason: "Invalid",
                                 message: "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch")
        }
        let schemaType = type.schemaType
        let apply: @Sendable (JSONValue) throws(Status) -> JSONValue
        switch contentType {
        case "application/json-patch+json":
            apply = { current throws(Status) in
                do throws(Patch.Failure) { return try Patch.json(current, patchValue) } catch { throw Status.failure(.unprocessableEntity, reason: "Invalid", message: error.message) }
            }
        case "application/merge-patch+json":
            guard case .object = patchValue else { throw Status.badRequest("the merge patch must be a JSON object") }
            apply = { current in Patch.merge(current, patchValue) }
        case "application/strategic-merge-patch+json":
            guard case .object = patchValue else { throw Status.badRequest("the strategic merge patch must be a JSON object") }
            apply = { current throws(Status) in
                do throws(Patch.Failure) { return try Patch.strategic(current, patchValue, type: schemaType) } catch { throw Status.badRequest(error.message) }
            }
        case "application/apply-patch+yaml":
            return try await serverSideApply(request, target, name: name, subresource: subresource, patch: patchValue)
        default:
            throw Status.unsupportedMediaType(contentType)
        }
        // The patched object is checked against the schema like a body (unknown fields per fieldValidation).
        let check: @Sendable (JSONValue) throws(Status) -> (JSONValue, [String]) = { patched throws(Status) in
            var decoder = ObjectDecoder()
            let decoded: JSONValue
            do throws(ObjectDecoder.TypeError) { decoded = try decoder.decode(patched, as: schemaType) } catch { throw Status.badRequest(error.message) }
            let unknown = decoder.unknownFields.map { "unknown field \"\($0)\"" }
            if validation == .strict, !unknown.isEmpty {
                throw Status.badRequest("\(type.kind) in version \"\(type.version)\" cannot be handled as a \(type.kind): strict decoding error: " + unknown.joined(separator: ", "))
            }
            return (decoded, validation == .warn ? unknown : [])
        }
        return try await modify(request, target, name: name, subresource: subresource, expected: nil) { current throws(Status) in
            try check(try apply(current))
        }
    }

    /// Server-side apply: the applied configuration is merged into the live object (list items by their keys,
    /// as a strategic merge does; creating the object if absent), with field ownership — a field another manager
    /// owns is not changed without force (409 Conflict), and fields this manager stops applying are removed.
    func serverSideApply(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String,
                         subresource: String?, patch: JSONValue) async throws(Status) -> APIResponse {
        let type = target.type
        guard request.query["fieldManager"].map({ !$0.isEmpty }) ?? false else {
            throw Status.failure(.unprocessableEntity, reason: "Invalid",
                                 message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
        }
        if let force = request.query["force"], force != "true", force != "false" {
            throw Status.badRequest("invalid force parameter \"\(force)\"")
        }
        if patch[path: ["metadata", "managedFields"]] != nil {
            throw Status.badRequest("metadata.managedFields must be nil")
        }
        let patchVersion = patch["apiVersion"]?.stringValue ?? ""
        guard patchVersion == type.apiVersion else {
            throw Status.badRequest("Incorrect version specified in apply patch. Specified patch version: \(patchVersion), expected: \(type.apiVersion)")
        }
        let patchKind = patch["kind"]?.stringValue ?? ""
        guard patchKind == type.kind else {
            throw Status.badRequest("Incorrect kind specified in apply patch. Specified patch kind: \(patchKind), expected: \(type.kind)")
        }
        let manager = try Self.fieldManager(request, options: "PatchOptions")
        var applyRequest = request
        applyRequest.body = JSONWriter.bytes(patch)
        applyRequest.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        let decoded = try BodyDecoder.decode(applyRequest, as: type)
        if let bodyName = decoded.object[path: ["metadata", "name"]]?.stringValue, bodyName != name {
            throw Status.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        let created = decoded.object
        // The live object takes the applied configuration as written (zero values too), then is decoded whole.
        var raw = patch
        raw["kind"] = nil
        raw["apiVersion"] = nil
        let applied = raw
        let schemaType = type.schemaType
        return try await modify(request, target, name: name, subresource: subresource, expected: nil, warnings: decoded.warnings,
                                tracking: .none, createIfMissing: { [self] () throws(Status) in
            try trackApply(live: nil, merged: created, config: applied, patch: patch, request: request, type: type,
                           subresource: subresource, manager: manager)
        }) { current throws(Status) in
            let merged = FieldSet.merged(current, applied, schemaType: schemaType)
            var decoder = ObjectDecoder()
            let decodedMerge: JSONValue
            do throws(ObjectDecoder.TypeError) { decodedMerge = try decoder.decode(merged, as: schemaType) } catch { throw Status.badRequest(error.message) }
            return (try trackApply(live: current, merged: decodedMerge, config: applied, patch: patch, request: request,
                                   type: type, subresource: subresource, manager: manager), [])
        }
    }

    struct DeleteOptions {
        var gracePeriod: Int64?
        var propagation: String?
        var preconditionUID: String?
        var preconditionVersion: String?
        /// dryRun=All, from the query or the options body (where client-go puts it).
        var dryRun = false

        /// The longest grace period honoured (a day); longer ones are cut to it, so no value can overflow a
        /// deadline.
        static let maxGracePeriod: Int64 = 86_400

        /// Reads a DeleteOptions object (the body of a delete, or an Eviction's deleteOptions).
        mutating func read(_ body: JSONValue) throws(Status) {
            if let grace = body["gracePeriodSeconds"]?.intValue { gracePeriod = grace }
            if let policy = body["propagationPolicy"]?.stringValue { propagation = policy }
            if body["orphanDependents"]?.boolValue == true { propagation = "Orphan" }
            preconditionUID = body[path: ["preconditions", "uid"]]?.stringValue ?? preconditionUID
            preconditionVersion = body[path: ["preconditions", "resourceVersion"]]?.stringValue ?? preconditionVersion
            for value in body["dryRun"]?.arrayValue ?? [] {
                guard value == "All" else { throw Status.badRequest("dryRun parameter unsupported: \(value.stringValue ?? "") (only All is supported)") }
                dryRun = true
            }
        }
    }

    static func deleteOptions(_ request: APIRequest, type: ResourceType) throws(Status) -> DeleteOptions {
        var options = DeleteOptions()
        if !request.body.isEmpty {
            var body: JSONValue
            if request.contentType == "application/vnd.kubernetes.protobuf" {
                do { body = try ProtobufObjectDecoder().decode(request.body, as: "meta.v1.DeleteOptions") } catch { throw Status.badRequest(error.message) }
            } else {
                do { body = try JSONParser.parse(request.body) } catch { throw Status.badRequest("couldn't get version/kind; json parse error: \(error.message)") }
            }
            var decoder = ObjectDecoder()
            do { body = try decoder.decode(body, as: "meta.v1.DeleteOptions") } catch { throw Status.badRequest(error.message) }
            try options.read(body)
        }
        if try isDryRun(request) { options.dryRun = true }
        if let grace = request.query["gracePeriodSeconds"] {
            guard let value = Int64(grace) else { throw Status.badRequest("invalid gracePeriodSeconds \"\(grace)\"") }
            options.gracePeriod = value
        }
        if let policy = request.query["propagationPolicy"] { options.propagation = policy }
        if let policy = options.propagation, !["Orphan", "Background", "Foreground"].contains(policy) {
            throw Status.invalid(type, name: "", [.notSupported("propagationPolicy", policy, supported: ["Foreground", "Background", "Orphan"])])
        }
        return options
    }

    func delete(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String) async throws(Status) -> APIResponse {
        let options = try Self.deleteOptions(request, type: target.type)
        return try await delete(request, target, name: name, options: options)
    }

    func delete(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String,
                options: DeleteOptions) async throws(Status) -> APIResponse {
        let type = target.type
        let key = key(target, name: name)
        let dryRun = options.dryRun
        var current = try await store.get(key)
        for _ in 0..<Self.maxAttempts {
            guard let stored = current else { throw Status.notFound(type, name: name) }
            var object = try Self.object(stored, as: type)
            if let uid = options.preconditionUID, uid != object[path: ["metadata", "uid"]]?.stringValue {
                throw Status.conflict(type, name: name, "Precondition failed: UID in precondition: \(uid), UID in object meta: \(object[path: ["metadata", "uid"]]?.stringValue ?? "")")
            }
            if let version = options.preconditionVersion, version != String(stored.modRevision) {
                throw Status.conflict(type, name: name, "Precondition failed: ResourceVersion in precondition: \(version), ResourceVersion in object meta: \(stored.modRevision)")
            }
            // Orphan and Foreground propagation are finalizers the garbage collector carries out (it releases the
            // dependents, or deletes them first) before it lets the object go; Background deletes the object now
            // and the collector deletes its dependents after.
            var finalizers = (object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).compactMap(\.stringValue)
            if type.kind != "Namespace", object[path: ["metadata", "deletionTimestamp"]] == nil,
               let finalizer = ["Orphan": "orphan", "Foreground": "foregroundDeletion"][options.propagation ?? ""],
               !finalizers.contains(finalizer) {
                finalizers.append(finalizer)
            }
            if type.kind == "Namespace" {
                return try await deleteNamespace(request, target, name: name, stored: stored, dryRun: dryRun)
            }
            // A pod on a node is deleted gracefully: marked, then removed by its kubelet (or with grace 0).
            let graceful = type.kind == "Pod" && object[path: ["spec", "nodeName"]] != nil && (options.gracePeriod ?? 1) > 0
                && object[path: ["status", "phase"]]?.stringValue.map({ !["Succeeded", "Failed"].contains($0) }) ?? true
            if !finalizers.isEmpty || graceful {
                var grace = graceful ? (options.gracePeriod ?? object[path: ["spec", "terminationGracePeriodSeconds"]]?.intValue ?? 30) : 0
                grace = min(max(grace, 0), DeleteOptions.maxGracePeriod)
                let before = object
                lifecycle().markDeleting(&object, gracePeriod: grace)
                object[path: ["metadata", "finalizers"]] = finalizers.isEmpty ? nil : .array(finalizers.map { .string($0) })
                if object == before { return respond(object, status: .ok, request: request, type: type) }
                if dryRun { return respond(object, status: .ok, request: request, type: type) }
                switch try await store.update(key, Self.storedBytes(object, as: type), expecting: stored.modRevision,
                                                 expiring: expiring(type)) {
                case .written(let revision):
                    object[path: ["metadata", "resourceVersion"]] = .string(String(revision))
                    return respond(object, status: .ok, request: request, type: type)
                case .conflict(let now):
                    current = now
                    continue
                }
            }
            if dryRun { return deletedResponse(object, request: request, type: type, name: name) }
            switch try await store.delete(key, expecting: stored.modRevision) {
            case .written:
                return deletedResponse(object, request: request, type: type, name: name)
            case .conflict(let now):
                current = now
            }
        }
        throw Status.conflict(type, name: name)
    }

    /// Deleting a namespace deletes what is in it: the namespace is marked Terminating (no new objects), its
    /// objects of every kind are deleted, then the namespace itself — what kube-apiserver and its namespace
    /// controller do together. A delete cut short leaves it Terminating; deleting it again finishes the job.
    func deleteNamespace(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String,
                         stored: ObjectStore.Stored, dryRun: Bool) async throws(Status) -> APIResponse {
        var object = try Self.object(stored)
        if dryRun { return respond(object, status: .ok, request: request, type: target.type) }
        if object[path: ["metadata", "deletionTimestamp"]] == nil {
            lifecycle().markDeleting(&object, gracePeriod: 0)
            object[path: ["status", "phase"]] = "Terminating"
            guard case .written = try await store.update(stored.key, Self.storedBytes(object), expecting: stored.modRevision) else {
                throw Status.conflict(target.type, name: name)
            }
        }
        // Sweeps until one finds nothing: an API server whose namespace cache had not yet seen Terminating may
        // have admitted a create meanwhile (bounded: a namespace still filling after this stays Terminating, and
        // deleting it again finishes).
        for _ in 0..<5 {
            var deleted = 0
            for type in ResourceType.all where type.namespaced && type.storageVersion == nil {
                let prefix = type.storagePrefix(namespace: name)
                while true {
                    let page = try await store.list(prefix: prefix, limit: 500)
                    for item in page.items {
                        _ = try await store.delete(item.key, expecting: item.modRevision)
                        deleted += 1
                    }
                    if page.items.isEmpty || page.remaining == nil { break }
                }
            }
            if deleted == 0 { break }
        }
        guard let current = try await store.get(stored.key) else { return Status.success(target.type, name: name, uid: nil).response }
        _ = try await store.delete(stored.key, expecting: current.modRevision)
        return Status.success(target.type, name: name, uid: object[path: ["metadata", "uid"]]?.stringValue).response
    }

    /// kube-apiserver answers a completed delete with the object for pods, a Success Status for the rest.
    func deletedResponse(_ object: JSONValue, request: APIRequest, type: ResourceType, name: String) -> APIResponse {
        if type.kind == "Pod" { return respond(object, status: .ok, request: request, type: type) }
        return Status.success(type, name: name, uid: object[path: ["metadata", "uid"]]?.stringValue).response
    }

    func deleteCollection(_ request: APIRequest, _ target: RequestTarget.ResourceTarget) async throws(Status) -> APIResponse {
        let type = target.type
        let options = try Self.deleteOptions(request, type: type)
        let selection = try Self.selection(request, type: type)
        let page = try await store.list(prefix: type.storagePrefix(namespace: target.namespace))
        var deleted: [JSONValue] = []
        for stored in page.items {
            let object = try Self.object(stored, as: type)
            guard selection.matches(object), let name = object[path: ["metadata", "name"]]?.stringValue else { continue }
            var objectTarget = target
            objectTarget.namespace = object[path: ["metadata", "namespace"]]?.stringValue ?? target.namespace
            do {
                _ = try await delete(request, objectTarget, name: name, options: options)
                deleted.append(object)
            } catch let status where status.code == .notFound {
                continue
            }
        }
        let body: JSONValue = ["kind": .string(type.listKind), "apiVersion": .string(type.apiVersion),
                               "metadata": ["resourceVersion": .string(String(page.revision))], "items": .array(deleted)]
        return .json(.ok, JSONWriter.bytes(body))
    }
}
