import Resources

extension ResourceHandler {
    /// autoscaling/v1 Scale of a Deployment, ReplicaSet, StatefulSet or ReplicationController.
    static func scale(of object: JSONValue) -> JSONValue {
        let metadata = object["metadata"] ?? [:]
        var scaleMetadata: JSONValue = ["name": metadata["name"] ?? "", "uid": metadata["uid"] ?? "",
                                        "resourceVersion": metadata["resourceVersion"] ?? "",
                                        "creationTimestamp": metadata["creationTimestamp"] ?? .null]
        if let namespace = metadata["namespace"] { scaleMetadata["namespace"] = namespace }
        let selector = object[path: ["spec", "selector"]]
        let selectorText: String
        if object["kind"] == "ReplicationController" {
            selectorText = (selector?.stringMap ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        } else {
            selectorText = ((try? LabelSelector(object: selector)) ?? .everything).description
        }
        return ["kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": scaleMetadata,
                "spec": ["replicas": .int(object[path: ["spec", "replicas"]]?.intValue ?? 0)],
                "status": ["replicas": .int(object[path: ["status", "replicas"]]?.intValue ?? 0), "selector": .string(selectorText)]]
    }

    func getScale(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String) async throws(Status) -> APIResponse {
        guard let stored = try await store.get(key(target, name: name)) else { throw Status.notFound(target.type, name: name) }
        return .object(.ok, Self.scale(of: try Self.object(stored)), accept: request.headers.first(name: "accept") ?? "")
    }

    func writeScale(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String) async throws(Status) -> APIResponse {
        let body: JSONValue
        do { body = try JSONParser.parse(request.body) } catch { throw Status.badRequest("couldn't get version/kind; json parse error: \(error.message)") }
        let isPatch = request.method == .PATCH
        let contentType = request.contentType ?? ""
        let expected = isPatch ? nil : body[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap { Int64($0) }
        // The object is answered as JSON here and turned into its Scale below, in the representation asked for.
        var inner = request
        inner.headers.replaceOrAdd(name: "Accept", value: "application/json")
        let response = try await modify(inner, target, name: name, subresource: nil, expected: expected,
                                        tracking: .updateAs("scale")) { current throws(Status) in
            var scale = Self.scale(of: current)
            if isPatch {
                switch contentType {
                case "application/json-patch+json":
                    do { scale = try Patch.json(scale, body) } catch let failure as Patch.Failure {
                        throw Status.failure(.unprocessableEntity, reason: "Invalid", message: failure.message)
                    } catch { throw Status.internalError("\(error)") }
                case "application/merge-patch+json", "application/strategic-merge-patch+json":
                    scale = Patch.merge(scale, body)
                default: throw Status.unsupportedMediaType(contentType)
                }
            } else {
                scale = body
            }
            // replicas is omitempty: a Scale to 0 from a Go client arrives with none.
            let replicas = scale[path: ["spec", "replicas"]]?.intValue ?? 0
            guard scale[path: ["spec", "replicas"]].map({ $0.intValue != nil }) ?? true, replicas <= Int64(Int32.max) else {
                throw Status.badRequest("the Scale's spec.replicas must be an int32")
            }
            guard replicas >= 0 else {
                throw Status.invalid(target.type, name: name, [.invalid("spec.replicas", number: replicas, "must be greater than or equal to 0")])
            }
            var updated = current
            updated[path: ["spec", "replicas"]] = .int(replicas)
            return (updated, [])
        }
        guard case .bytes(let bytes) = response.body, let object = try? JSONParser.parse(bytes), object["kind"]?.stringValue == target.type.kind else {
            return response
        }
        return .object(.ok, Self.scale(of: object), accept: request.headers.first(name: "accept") ?? "")
    }

    /// pods/binding: assigns the pod to a node, once (what the scheduler calls).
    func bind(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String) async throws(Status) -> APIResponse {
        let binding = try BodyDecoder.decode(request, as: target.type, schemaType: "core.v1.Binding", kind: "Binding", apiVersion: "v1").object
        guard binding[path: ["target", "kind"]]?.stringValue.map({ $0.isEmpty || $0 == "Node" }) ?? true,
              let node = binding[path: ["target", "name"]]?.stringValue, !node.isEmpty else {
            throw Status.invalid(target.type, name: name, [.required("target.name")])
        }
        let type = target.type
        _ = try await modify(request, target, name: name, subresource: "binding", expected: nil, tracking: .none) { current throws(Status) in
            if current[path: ["metadata", "deletionTimestamp"]] != nil {
                throw Status.conflict(type, name: name, "pod \(name) is being deleted, cannot be assigned to a host")
            }
            if let assigned = current[path: ["spec", "nodeName"]]?.stringValue, !assigned.isEmpty {
                throw Status.conflict(type, name: name, "pod \(name) is already assigned to node \"\(assigned)\"")
            }
            var bound = current
            bound[path: ["spec", "nodeName"]] = .string(node)
            var conditions = bound[path: ["status", "conditions"]]?.arrayValue ?? []
            conditions.removeAll { $0["type"] == "PodScheduled" }
            conditions.append(["type": "PodScheduled", "status": "True", "lastProbeTime": .null,
                               "lastTransitionTime": .string(RFC3339.format(lifecycle().now))])
            bound[path: ["status", "conditions"]] = .array(conditions)
            return (bound, [])
        }
        return Status(code: .created, reason: "", message: "", details: nil).response
    }

    /// pods/eviction: a delete that a PodDisruptionBudget may refuse (429, as kube-apiserver) when it would
    /// leave fewer pods than the budget allows.
    func evict(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String) async throws(Status) -> APIResponse {
        var options = DeleteOptions()
        if !request.body.isEmpty {
            let eviction = try BodyDecoder.decode(request, as: target.type, schemaType: "policy.v1.Eviction", kind: "Eviction",
                                                  apiVersion: "policy/v1").object
            try options.read(eviction["deleteOptions"] ?? [:])
        }
        if try Self.isDryRun(request) { options.dryRun = true }
        guard let stored = try await store.get(key(target, name: name)) else { throw Status.notFound(target.type, name: name) }
        let pod = try Self.object(stored)
        // A pod that is not running (or already going) disrupts nothing: no budget is consulted, as kube's
        // eviction does.
        let phase = pod[path: ["status", "phase"]]?.stringValue ?? "Pending"
        if phase == "Running", pod[path: ["metadata", "deletionTimestamp"]] == nil {
            try await checkDisruptionBudgets(for: pod, namespace: target.namespace)
        }
        _ = try await delete(request, target, name: name, options: options)
        return Status(code: .created, reason: "", message: "", details: nil).response
    }

    func checkDisruptionBudgets(for pod: JSONValue, namespace: String?) async throws(Status) {
        guard let budgetType = ResourceType.find(group: "policy", version: "v1", plural: "poddisruptionbudgets") else { return }
        let labels = pod[path: ["metadata", "labels"]]?.stringMap ?? [:]
        let budgets = try await store.list(prefix: budgetType.storagePrefix(namespace: namespace))
        for stored in budgets.items {
            let budget = try Self.object(stored)
            guard let selector = try? LabelSelector(object: budget[path: ["spec", "selector"]]), !selector.isEverything,
                  selector.matches(labels) else { continue }
            let allowed = budget[path: ["status", "disruptionsAllowed"]]?.intValue ?? 0
            if allowed <= 0 {
                var status = Status.failure(.tooManyRequests, reason: "TooManyRequests",
                                            message: "Cannot evict pod as it would violate the pod's disruption budget.",
                                            details: ["causes": [["reason": "DisruptionBudget",
                                                                  "message": .string("The disruption budget \(budget[path: ["metadata", "name"]]?.stringValue ?? "") needs \(budget[path: ["status", "desiredHealthy"]]?.intValue ?? 0) healthy pods and has \(budget[path: ["status", "currentHealthy"]]?.intValue ?? 0) currently")]]])
                status.headers = [("Retry-After", "10")]
                throw status
            }
        }
    }

    /// pods/log, exec, attach, portforward: served by the pod's kubelet, which a later part of Podium provides;
    /// until a node serves them the answer says why.
    func nodeProxy(_ request: APIRequest, _ target: RequestTarget.ResourceTarget, name: String,
                   subresource: String) async throws(Status) -> APIResponse {
        guard let stored = try await store.get(key(target, name: name)) else { throw Status.notFound(target.type, name: name) }
        let pod = try Self.object(stored)
        guard let node = pod[path: ["spec", "nodeName"]]?.stringValue, !node.isEmpty else {
            throw Status.badRequest("pod \(name) does not have a host assigned")
        }
        throw Status.serviceUnavailable("the kubelet of node \(node) does not serve \(subresource) yet")
    }
}
