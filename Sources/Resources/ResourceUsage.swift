/// What an object counts against a ResourceQuota, pure: object counts (`pods`, `services`, `count/<resource>`, …)
/// and, for pods, the sum of their containers' requests and limits (`requests.cpu`, `cpu`, `limits.memory`, …; an
/// init container counts when it asks for more than the app containers together), for PVCs their storage. Amounts
/// are in thousandths of the unit (milli-CPU, milli-bytes), so that every resource adds up exactly.
public enum ResourceUsage {
    /// The usage of one object of `type` (terminal pods use nothing).
    public static func of(_ object: JSONValue, type: ResourceType) -> [String: Int64] {
        var usage: [String: Int64] = [:]
        let count = type.group.isEmpty ? "count/\(type.plural)" : "count/\(type.plural).\(type.group)"
        usage[count] = 1000
        switch type.kind {
        case "Pod":
            let phase = object[path: ["status", "phase"]]?.stringValue
            guard phase != "Succeeded" && phase != "Failed" else { return [:] }
            usage["pods"] = 1000
            for (key, value) in podAmounts(object) { usage[key] = value }
        case "Service":
            usage["services"] = 1000
            let kind = object[path: ["spec", "type"]]?.stringValue ?? "ClusterIP"
            if kind == "NodePort" { usage["services.nodeports"] = 1000 }
            if kind == "LoadBalancer" { usage["services.loadbalancers"] = 1000 }
        case "ConfigMap": usage["configmaps"] = 1000
        case "Secret": usage["secrets"] = 1000
        case "ReplicationController": usage["replicationcontrollers"] = 1000
        case "ResourceQuota": usage["resourcequotas"] = 1000
        case "PersistentVolumeClaim":
            usage["persistentvolumeclaims"] = 1000
            if let storage = object[path: ["spec", "resources", "requests", "storage"]]?.stringValue.flatMap(Quantity.init) {
                usage["requests.storage"] = storage.milliValue
            }
        default: break
        }
        return usage
    }

    static func podAmounts(_ pod: JSONValue) -> [String: Int64] {
        func sum(_ containers: [JSONValue], _ field: String) -> [String: Int64] {
            var total: [String: Int64] = [:]
            for container in containers {
                for (name, value) in container[path: ["resources", field]]?.objectValue ?? [:] {
                    guard let quantity = value.stringValue.flatMap(Quantity.init) ?? value.intValue.flatMap({ Quantity(String($0)) }) else { continue }
                    total[name, default: 0] += quantity.milliValue
                }
            }
            return total
        }
        let app = pod[path: ["spec", "containers"]]?.arrayValue ?? []
        let initial = pod[path: ["spec", "initContainers"]]?.arrayValue ?? []
        var amounts: [String: Int64] = [:]
        for field in ["requests", "limits"] {
            var total = sum(app, field)
            for container in initial {
                for (name, value) in sum([container], field) where value > total[name, default: 0] { total[name] = value }
            }
            for (name, value) in total {
                amounts["\(field).\(name)"] = value
                // The bare names (cpu, memory) are requests, as Kubernetes counts them.
                if field == "requests" { amounts[name] = value }
            }
        }
        return amounts
    }

    /// Parses a quota's hard or used list into thousandths.
    public static func amounts(_ list: JSONValue?) -> [String: Int64] {
        var result: [String: Int64] = [:]
        for (name, value) in list?.objectValue ?? [:] {
            if let quantity = value.stringValue.flatMap(Quantity.init) ?? value.intValue.flatMap({ Quantity(String($0)) }) {
                result[name] = quantity.milliValue
            }
        }
        return result
    }

    /// An amount in thousandths as a quantity: "500m", "2", "1Gi", "1536Mi".
    public static func format(_ milli: Int64, resource: String) -> String {
        guard milli % 1000 == 0 else { return "\(milli)m" }
        let whole = milli / 1000
        let binary = resource.hasSuffix("memory") || resource.hasSuffix("storage") || resource.hasSuffix("ephemeral-storage")
        if binary && whole != 0 {
            for (suffix, size) in [("Ei", Int64(1) << 60), ("Pi", Int64(1) << 50), ("Ti", Int64(1) << 40), ("Gi", Int64(1) << 30), ("Mi", Int64(1) << 20), ("Ki", Int64(1) << 10)]
            where whole % size == 0 {
                return "\(whole / size)\(suffix)"
            }
        }
        return String(whole)
    }

    /// Kubernetes' "exceeded quota" wording when `requested` on top of `used` passes `hard` for any resource the
    /// quota limits; nil when it fits.
    public static func exceeded(quota name: String, hard: [String: Int64], used: [String: Int64], requested: [String: Int64]) -> String? {
        let over = requested.keys.filter { key in
            guard let limit = hard[key], requested[key, default: 0] > 0 else { return false }
            return used[key, default: 0] + requested[key, default: 0] > limit
        }.sorted()
        guard !over.isEmpty else { return nil }
        func list(_ amounts: [String: Int64]) -> String {
            over.map { "\($0)=\(format(amounts[$0, default: 0], resource: $0))" }.joined(separator: ",")
        }
        return "exceeded quota: \(name), requested: \(list(requested)), used: \(list(used)), limited: \(list(hard))"
    }
}
