import Resources

/// Admission that depends on other objects of the namespace, after defaults and before the write (Kubernetes'
/// LimitRanger and ResourceQuota plugins): a pod takes its LimitRanges' defaults and must fit their min/max; an
/// object that counts against a ResourceQuota is charged to it first — a compare-and-swap of the quota's
/// status.used, so that concurrent creates on any API server never overshoot — or refused with Kubernetes'
/// "exceeded quota" message. The quota controller recomputes used from what exists (deletes free quota there).
extension ResourceHandler {
    static let limitRanges = ResourceType.find(group: "", version: "v1", plural: "limitranges")
    static let resourceQuotas = ResourceType.find(group: "", version: "v1", plural: "resourcequotas")
    static let everything = Selection(labels: .everything, fields: .everything)

    func applyLimitRanges(_ object: inout JSONValue, type: ResourceType, namespace: String?) async throws(Status) {
        guard type.kind == "Pod", let namespace, let rangeType = Self.limitRanges else { return }
        let (ranges, _) = try await caches.cache(for: rangeType).list(namespace: namespace, selection: Self.everything)
        guard !ranges.isEmpty else { return }
        if let problem = LimitRangeDefaults.apply(ranges, to: &object) {
            throw Status.forbidden(type, name: object[path: ["metadata", "name"]]?.stringValue, problem)
        }
    }

    func chargeQuotas(for object: JSONValue, type: ResourceType, namespace: String?, dryRun: Bool) async throws(Status) {
        guard type.namespaced, let namespace, let quotaType = Self.resourceQuotas else { return }
        let requested = ResourceUsage.of(object, type: type)
        guard !requested.isEmpty else { return }
        let (quotas, _) = try await caches.cache(for: quotaType).list(namespace: namespace, selection: Self.everything)
        let name = object[path: ["metadata", "name"]]?.stringValue
        for cached in quotas {
            let quotaName = cached[path: ["metadata", "name"]]?.stringValue ?? ""
            guard ResourceUsage.amounts(cached[path: ["spec", "hard"]]).keys.contains(where: { requested[$0, default: 0] > 0 }) else { continue }
            let key = quotaType.storageKey(namespace: namespace, name: quotaName)
            var charged = false
            for _ in 0..<Self.maxAttempts {
                guard let stored = try await store.get(key) else {
                    charged = true
                    break
                }
                var quota = try Self.object(stored, as: quotaType)
                let hard = ResourceUsage.amounts(quota[path: ["spec", "hard"]])
                let charges = requested.filter { hard[$0.key] != nil && $0.value > 0 }
                guard !charges.isEmpty else {
                    charged = true
                    break
                }
                guard quota[path: ["status", "hard"]] != nil else {
                    let resource = charges.keys.sorted().joined(separator: ",")
                    throw Status.forbidden(type, name: name, "status unknown for quota: \(quotaName), resource: \(resource)")
                }
                var used = ResourceUsage.amounts(quota[path: ["status", "used"]])
                if let message = ResourceUsage.exceeded(quota: quotaName, hard: hard, used: used, requested: charges) {
                    throw Status.forbidden(type, name: name, message)
                }
                if dryRun {
                    charged = true
                    break
                }
                for (resource, amount) in charges { used[resource, default: 0] += amount }
                var list: [String: JSONValue] = [:]
                for resource in hard.keys { list[resource] = .string(ResourceUsage.format(used[resource, default: 0], resource: resource)) }
                quota[path: ["status", "used"]] = .object(list)
                if case .written = try await store.update(key, Self.storedBytes(quota, as: quotaType), expecting: stored.modRevision) {
                    charged = true
                    break
                }
            }
            guard charged else { throw Status.conflict(quotaType, name: quotaName, "the quota is being updated too often to charge it; try again") }
        }
    }
}
